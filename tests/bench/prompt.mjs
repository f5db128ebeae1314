// Benchmark (not a test): Continue → prompt on screen, the wait a person feels. From the
// click on Continue on the real connect page to the side panel showing the prompt's heading
// with the verified app name and the user id (before Approve arms), with every worker
// stopped and no panel open beforehand. Three subjects in one headless Chromium, runs
// interleaved, each in a fresh window (a side panel belongs to its window):
// - Latch: the built extension;
// - the plain-JS baseline (tests/bench/baseline-extension): the same worker work (park,
//   answer, describe, store) and a plain-JS panel doing the same (`panel.state`, the same
//   catalogue strings and DOM, a re-read on storage changes), no wasm, no framework;
// - the floor: that baseline, whose worker also instantiates Latch's background wasm and
//   whose panel also instantiates Latch's panel wasm before rendering, calling neither.
// The connect page is the relay's own; for the baselines an init script sends its messages
// to the baseline's id instead of Latch's (the page's code is unchanged). The panel is
// watched over CDP (Playwright does not list side panels): a MutationObserver sees the
// heading, and the next animation frame is the time it is on screen. Clicks and panel
// times are both `performance.timeOrigin + performance.now()`, one clock for every process.
// Usage: npm run build && cargo build --release -p latch-relay && node tests/bench/prompt.mjs
// RUNS (default 30). LATCH_BENCH_COMPARE=DIR adds another built extension (e.g. an older
// commit's dist/extension) as a fourth subject, for A/B runs in one browser.
import { rmSync } from "node:fs";
import { startStack, sleep, RELAY, EXTENSION_ID } from "../e2e/harness.mjs";
import { baselineExtension, compareExtension, idsByName, launchBeside, quantile, fmt, watchWorkers } from "./common.mjs";

const RUNS = Number(process.env.RUNS || 30);
/** What each run records, in ms after the click (see `panelWatcher`). */
const MILESTONES = ["opened", "scripts", "wasm", "fcp", "dom", "frame"];
const APP_NAME = "Acme";

/** Sends the connect page's messages to `#benchTarget=ID` and notes when Continue was clicked. */
function connectPageHook() {
  const target = new URLSearchParams(location.hash.slice(1)).get("benchTarget");
  document.addEventListener("click", (e) => {
    if (e.target?.id === "continue") window.benchClick = performance.timeOrigin + performance.now();
  }, true);
  if (target && globalThis.chrome?.runtime?.sendMessage) {
    const send = chrome.runtime.sendMessage.bind(chrome.runtime);
    chrome.runtime.sendMessage = (_id, ...rest) => send(target, ...rest);
  }
}

/**
 * In the panel: resolves once the prompt's heading names `app` and `user` is shown, with
 * when the DOM had it and when the next frame ran; `already` when it was there on arrival
 * (the time then is only an upper bound).
 */
function panelWatcher(app, user) {
  return `new Promise((resolve) => {
    const now = () => performance.timeOrigin + performance.now();
    const shown = () => [...document.querySelectorAll("h3")].some((h) => h.textContent.includes(${JSON.stringify(app)}))
      && [...document.querySelectorAll("code")].some((c) => c.textContent === ${JSON.stringify(user)});
    // Milestones on the same clock: the panel's navigation, its scripts run, its wasm
    // fetched (if any), its first contentful paint.
    const marks = () => {
      const at = (ms) => (ms ? performance.timeOrigin + ms : null);
      const nav = performance.getEntriesByType("navigation")[0];
      const wasm = performance.getEntriesByType("resource").find((r) => r.name.endsWith(".wasm"));
      const fcp = performance.getEntriesByType("paint").find((p) => p.name === "first-contentful-paint");
      // Any performance.mark() a traced build sets (none in the shipped one).
      const traced = performance.getEntriesByType("mark").map((m) => [m.name, performance.timeOrigin + m.startTime]);
      return { opened: performance.timeOrigin, scripts: at(nav?.domContentLoadedEventEnd), wasm: at(wasm?.responseEnd), fcp: at(fcp?.startTime), traced };
    };
    const done = (already) => { const dom = now(); requestAnimationFrame(() => resolve({ dom, frame: now(), already, ...marks() })); };
    if (shown()) return done(true);
    new MutationObserver((_, o) => { if (shown()) { o.disconnect(); done(false); } })
      .observe(document, { subtree: true, childList: true, characterData: true });
  })`;
}

/** Page targets over CDP: waits for a new side panel of `id`, evaluates in it (non-flat session). */
async function panelTargets(cdp) {
  const known = new Set();
  const waiting = [];
  const seen = ({ targetInfo: t }) => {
    if (t.type !== "page" || known.has(t.targetId)) return;
    const w = waiting.find((x) => t.url === `chrome-extension://${x.id}/panel.html`);
    if (!w) return;
    known.add(t.targetId);
    waiting.splice(waiting.indexOf(w), 1);
    w.resolve(t.targetId);
  };
  cdp.on("Target.targetCreated", seen);
  cdp.on("Target.targetInfoChanged", seen);
  const replies = new Map();
  cdp.on("Target.receivedMessageFromTarget", ({ sessionId, message }) => {
    const m = JSON.parse(message);
    if (m.id !== undefined) replies.get(`${sessionId}/${m.id}`)?.(m);
  });
  await cdp.send("Target.setDiscoverTargets", { discover: true });
  let next = 1;
  return {
    /** The next side panel of extension `id` to appear; `evaluate(expr)` runs in it. */
    async next(id, ms = 10000) {
      const targetId = await new Promise((resolve, reject) => {
        const w = { id, resolve };
        waiting.push(w);
        setTimeout(() => reject(new Error(`no side panel of ${id} within ${ms} ms`)), ms);
      });
      const { sessionId } = await cdp.send("Target.attachToTarget", { targetId, flatten: false });
      const call = (method, params) => new Promise((resolve) => {
        const n = next++;
        replies.set(`${sessionId}/${n}`, resolve);
        cdp.send("Target.sendMessageToTarget", { sessionId, message: JSON.stringify({ id: n, method, params }) });
      });
      return {
        async evaluate(expression) {
          for (let attempt = 0; ; attempt++) {
            const r = await call("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true });
            // The side panel may still be committing its document: its first context goes away.
            if (!r.error && !r.result?.exceptionDetails) return r.result.result.value;
            if (attempt >= 20) throw new Error(`panel evaluate: ${JSON.stringify(r.error ?? r.result.exceptionDetails)}`);
            await sleep(5);
          }
        },
        detach: () => cdp.send("Target.detachFromTarget", { sessionId }).catch(() => {}),
      };
    },
  };
}

const stack = await startStack({ LATCH_MINT_PER_MINUTE: "0", LATCH_DESCRIBE_PER_MINUTE: "0" }, { demoApp: false });
const variants = [
  { name: "plain-JS baseline", manifest: "latch-prompt-baseline", worker: "plain", panel: "plain" },
  { name: "floor (Latch's wasm)", manifest: "latch-prompt-floor", worker: "latchWasm", panel: "latchWasm" },
].map((v) => ({ ...v, dir: baselineExtension(v.manifest, v) }));
if (process.env.LATCH_BENCH_COMPARE) {
  const manifest = "latch-prompt-compare";
  variants.push({ name: "Latch (compare)", manifest, dir: compareExtension(process.env.LATCH_BENCH_COMPARE, manifest) });
}
const { context, close } = await launchBeside(stack, variants.map((v) => v.dir));
try {
  const idOf = await idsByName(context);
  const subjects = [{ name: "Latch", id: EXTENSION_ID }, ...variants.map((v) => ({ name: v.name, id: idOf(v.manifest) }))];
  for (const s of subjects) Object.assign(s, { late: 0 }, Object.fromEntries(MILESTONES.map((m) => [m, []])));
  const home = context.pages()[0] ?? (await context.newPage());
  const workers = await watchWorkers(context, home);
  const cdp = await context.newCDPSession(home);
  const panels = await panelTargets(cdp);
  await context.addInitScript(connectPageHook);
  const ids = subjects.map((s) => s.id);

  const once = async (s, i) => {
    const user = `u${i}-${s.id.slice(0, 6)}`;
    const token = await stack.mint(user);
    const opened = context.waitForEvent("page");
    const target = s.id === EXTENSION_ID ? "" : `&benchTarget=${s.id}`;
    await cdp.send("Target.createTarget", { url: `${RELAY}/connect#token=${token}${target}`, newWindow: true });
    const page = await opened;
    const cont = page.getByRole("button", { name: "Continue" });
    await cont.waitFor();
    // The mouse comes onto Continue first: a pointer that appears and clicks at once is what
    // a vanished window leaves, and the connect page waits it out (SECURITY.md).
    await cont.hover({ position: { x: 3, y: 3 } });
    await workers.stopAll(ids);
    const panelShown = panels.next(s.id);
    await cont.click();
    const panel = await panelShown;
    const seen = await panel.evaluate(panelWatcher(APP_NAME, user));
    const click = await page.evaluate(() => window.benchClick);
    if (process.env.TRACE && s.id === EXTENSION_ID) {
      const w = context.serviceWorkers().find((x) => x.url().startsWith(`chrome-extension://${s.id}/`));
      const marks = await w.evaluate(() => performance.getEntriesByType("mark").map((m) => [m.name, performance.timeOrigin + m.startTime]));
      console.log("worker", marks.map(([n, t]) => `${n} ${(t - click).toFixed(1)}`).join(", "));
    }
    // The next run starts from an empty offer book (no parking or rate limit carries over).
    await panel.evaluate('chrome.storage.session.remove("latch.offers").then(() => true)');
    await panel.detach();
    await page.close(); // its window, and the side panel with it
    const since = (t) => (t == null ? null : t - click);
    if (process.env.TRACE) console.log(s.name, seen.traced.map(([name, t]) => `${name} ${since(t).toFixed(1)}`).join(", "), `heading ${since(seen.dom).toFixed(1)}`);
    return { ...Object.fromEntries(MILESTONES.map((m) => [m, since(seen[m])])), already: seen.already };
  };

  for (let i = 0; i < RUNS + 2; i++) {
    const order = subjects.map((_, k) => subjects[(k + i) % subjects.length]);
    for (const s of order) {
      const r = await once(s, i);
      if (i < 2) continue; // two warm-up rounds
      // The watcher came after the heading: the time would only be an upper bound.
      if (r.already) { s.late++; continue; }
      for (const m of MILESTONES) if (r[m] != null) s[m].push(r[m]);
    }
  }
  console.log(`Continue → prompt on screen, worker stopped and panel closed before, over ${RUNS} interleaved runs (ms): p50, p95`);
  for (const s of subjects) {
    const late = s.late ? `   (${s.late} runs left out: the heading was there before the watcher)` : "";
    console.log(`  ${s.name.padEnd(22)} on screen ${fmt(quantile(s.frame, 0.5))} ${fmt(quantile(s.frame, 0.95))}   in the DOM ${fmt(quantile(s.dom, 0.5))} ${fmt(quantile(s.dom, 0.95))}${late}`);
  }
  console.log("where the time goes (p50, ms after the click): panel opened (navigation start), its scripts run (DOMContentLoaded), wasm fetched, first contentful paint, heading in the DOM");
  const p = (xs) => (xs.length ? fmt(quantile(xs, 0.5)) : "      –");
  for (const s of subjects) console.log(`  ${s.name.padEnd(22)} ${p(s.opened)} ${p(s.scripts)} ${p(s.wasm)} ${p(s.fcp)} ${p(s.dom)}`);
  const [latch, base, floor] = subjects;
  for (const s of subjects) if (s.late > RUNS / 5) throw new Error(`${s.name}: ${s.late} of ${RUNS} runs watched too late to count`);
  const p50 = (s) => quantile(s.frame, 0.5);
  const vsBase = p50(latch) / p50(base);
  const floorVsBase = p50(floor) / p50(base);
  const vsFloor = p50(latch) / p50(floor);
  console.log(`  ratio Latch / baseline ${vsBase.toFixed(2)}, floor / baseline ${floorVsBase.toFixed(2)}, Latch / floor ${vsFloor.toFixed(2)}`);
  const met = vsBase <= 1.25 || (floorVsBase > 1.25 && vsFloor <= 1.1);
  console.log(`  target: p50 ≤ 1.25 × baseline, or within 10 % of the floor where the floor is above 1.25 ×: ${met ? "met" : "NOT met"}`);
} finally {
  await close();
  await stack.stop();
  for (const v of variants) rmSync(v.dir, { recursive: true, force: true });
}
