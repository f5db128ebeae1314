// Benchmark (not a test): the extension's start-up and approval latency in real headless
// Chromium, against a real relay on loopback. Prints (ms):
// 1. cold start: worker stopped over CDP → `pairing.offer` sent from a page on the connect
//    origin (a real click, so the side-panel call has its gesture) → reply received; Latch
//    and a plain-JS baseline extension (tests/bench/baseline-extension: same checks, same
//    storage write, no wasm) loaded side by side in the same browser, runs interleaved,
//    with two variants of the baseline that first load an empty wasm / Latch's wasm;
// 2. warm: the same offer to a running worker, and the connect page's `pairing.result`
//    (the warm result) right after the cold offer;
// 3. Approve → tokens stored: the click on Approve in the panel → `latch.bindings` written
//    (the page's storage.onChanged), redeem against the relay included.
// Usage: npm run build && cargo build --release -p latch-relay && node tests/bench/extension.mjs
// RUNS (default 30) sets the number of runs of each.
import { rmSync } from "node:fs";
import {
  startStack, openPanel, pasteToken, approveWhenArmed, waitForBindings, storage,
  sleep, EXTENSION_ID, RELAY,
} from "../e2e/harness.mjs";
import { baselineExtension, idsByName, launchBeside, quantile, fmt, watchWorkers } from "./common.mjs";

const RUNS = Number(process.env.RUNS || 30);

/**
 * A window of its own on the connect origin (a side panel is per window) with a button
 * that sends `window.benchMessage` to the extension and times the reply in the page.
 */
async function connectPage(context, opener, extensionId) {
  const opened = context.waitForEvent("page");
  await opener.evaluate((url) => chrome.windows.create({ url, type: "normal" }), `${RELAY}/connect`);
  const page = await opened;
  await page.waitForLoadState();
  await page.evaluate((id) => {
    window.benchReplies = [];
    const button = document.createElement("button");
    button.id = "bench-send";
    button.textContent = "bench";
    button.style = "position:fixed;top:0;left:0;z-index:2147483647";
    document.body.append(button);
    button.addEventListener("click", () => {
      const t0 = performance.now();
      chrome.runtime.sendMessage(id, window.benchMessage, (reply) => {
        window.benchReplies.push({ ms: performance.now() - t0, reply, error: chrome.runtime.lastError?.message });
      });
    });
  }, extensionId);
  /** Sends `message` with a real click (the side-panel call needs its gesture); the reply and its time. */
  return async (message) => {
    const n = await page.evaluate((m) => { window.benchMessage = m; return window.benchReplies.length; }, message);
    await page.click("#bench-send");
    await page.waitForFunction((k) => window.benchReplies.length > k, n, { polling: 1 });
    const r = await page.evaluate((k) => window.benchReplies[k], n);
    if (!r.reply) throw new Error(`${message.type} to ${extensionId}: no reply (${r.error})`);
    return r;
  };
}

const stack = await startStack({ LATCH_MINT_PER_MINUTE: "0", LATCH_DESCRIBE_PER_MINUTE: "0", LATCH_REDEEM_PER_MINUTE: "0" });
const variants = [
  { name: "plain-JS baseline", prelude: "plain" },
  { name: "  + empty wasm", prelude: "emptyWasm" },
  { name: "  + Latch's wasm", prelude: "latchWasm" },
].map((v) => ({ ...v, dir: baselineExtension(`latch-bench-${v.prelude}`, { worker: v.prelude }) }));
const { context, close } = await launchBeside(stack, variants.map((v) => v.dir));
try {
  const idOf = await idsByName(context);
  const panel = await openPanel(context);
  const workers = await watchWorkers(context, panel);
  const subjects = [{ name: "Latch (wasm)", send: await connectPage(context, panel, EXTENSION_ID), id: EXTENSION_ID, store: panel }];
  for (const v of variants) {
    const id = idOf(`latch-bench-${v.prelude}`);
    const store = await context.newPage();
    await store.goto(`chrome-extension://${id}/bench.html`);
    subjects.push({ name: v.name, send: await connectPage(context, panel, id), id, store });
  }
  for (const s of subjects) Object.assign(s, { cold: [], warm: [], poll: [] });
  const ids = subjects.map((s) => s.id);
  const offer = async (s, pairingToken) => {
    const r = await s.send({ type: "pairing.offer", pairingToken });
    if (!r.reply.ok) throw new Error(`${s.name}: offer refused: ${JSON.stringify(r.reply)}`);
    return r;
  };
  // Each run starts from an empty offer book, so no offer meets the parking or rate limits.
  const forgetOffers = async (s) => {
    await s.store.evaluate(() => chrome.storage.session.remove("latch.offers"));
    await sleep(150); // let the panel's reaction to the change settle
  };
  for (let i = 0; i < RUNS + 2; i++) {
    // Rotate who goes first, so no subject always follows the same one.
    const order = subjects.map((_, k) => subjects[(k + i) % subjects.length]);
    for (const s of order) {
      await forgetOffers(s);
      const token = await stack.mint(`cold-${i}`);
      await workers.stopAll(ids);
      const cold = await offer(s, token);
      if (!workers.running(s.id)) throw new Error(`${s.name}: worker not running after the offer`);
      // The connect page's next message for the same pairing, to the now running worker.
      const poll = await s.send({ type: "pairing.result", offerId: cold.reply.offerId });
      if (poll.reply.state !== "awaiting_approval") throw new Error(`${s.name}: result ${JSON.stringify(poll.reply)}`);
      if (process.env.TRACE && s.id === EXTENSION_ID) {
        // performance.mark()s of a traced build's worker (none in the shipped one), in ms
        // after the first.
        const w = context.serviceWorkers().find((x) => x.url().startsWith(`chrome-extension://${s.id}/`));
        const marks = await w.evaluate(() => performance.getEntriesByType("mark").map((m) => [m.name, m.startTime]));
        console.log(`trace: cold ${cold.ms.toFixed(1)}, result ${poll.ms.toFixed(1)}:`, marks.map(([n, t]) => `${n} ${(t - marks[0][1]).toFixed(1)}`).join(", "));
      }
      await forgetOffers(s);
      const warm = await offer(s, await stack.mint(`warm-${i}`));
      if (i >= 2) { s.cold.push(cold.ms); s.poll.push(poll.ms); s.warm.push(warm.ms); } // two warm-up rounds
    }
  }
  const [latch, base] = subjects;
  console.log(`extension messages over ${RUNS} interleaved runs (ms): p50, p95`);
  for (const s of subjects) {
    const row = (label, xs) => `${label} ${fmt(quantile(xs, 0.5))} ${fmt(quantile(xs, 0.95))}`;
    console.log(`  ${s.name.padEnd(18)} ${row("cold offer", s.cold)}   ${row("warm offer", s.warm)}   ${row("warm pairing.result", s.poll)}`);
  }
  const p50 = (xs) => quantile(xs, 0.5);
  const ratio = (s) => (p50(s.cold) / p50(base.cold)).toFixed(2);
  console.log(`  cold-start median ratio Latch / baseline: ${ratio(latch)}`);
  for (const s of subjects.slice(2)) console.log(`  cold-start median ratio${s.name.replace(/^ +\+/, " baseline +")} / baseline: ${ratio(s)}`);
  const floor = subjects.at(-1); // baseline + Latch's wasm, not called
  const vsFloor = p50(latch.cold) / p50(floor.cold);
  console.log(`  cold offer, Latch / floor (baseline + Latch's wasm, not called): ${vsFloor.toFixed(2)} (target ≤ 1.10: ${vsFloor <= 1.1 ? "met" : "NOT met"})`);
  const warmGap = p50(latch.poll) - p50(base.poll);
  console.log(`  warm pairing.result, Latch − baseline: ${warmGap.toFixed(2)} ms (target ≤ 0.30: ${warmGap <= 0.3 ? "met" : "NOT met"})`);

  // Approve → tokens stored, in the panel (a tab), worker warm as after Connect. The last
  // offers' descriptions may still be landing: let them, then start from an empty book.
  await sleep(500);
  await forgetOffers(subjects[0]);
  const approve = [];
  for (let i = 0; i < RUNS + 2; i++) {
    await pasteToken(panel, await stack.mint(`approve-${i}`));
    await approveWhenArmed(panel, () => panel.evaluate(() => {
      window.benchApprove = {};
      window.addEventListener("click", () => { window.benchApprove.click = performance.now(); }, { capture: true, once: true });
      chrome.storage.onChanged.addListener(function stored(changes, area) {
        const c = changes["latch.bindings"];
        if (area === "local" && c && (c.newValue || []).length > (c.oldValue || []).length) {
          window.benchApprove.stored = performance.now();
          chrome.storage.onChanged.removeListener(stored);
        }
      });
    }));
    await panel.waitForFunction(() => window.benchApprove.stored !== undefined, null, { polling: 1 });
    const { click, stored } = await panel.evaluate(() => window.benchApprove);
    if (i >= 2) approve.push(stored - click);
    const [b] = await waitForBindings(panel, 1);
    await panel.evaluate((bindingId) => chrome.runtime.sendMessage({ type: "panel.disconnect", bindingId }), b.bindingId);
    await waitForBindings(panel, 0);
    await forgetOffers(subjects[0]);
  }
  console.log(`Approve click → latch.bindings written over ${RUNS} runs (ms): p50 ${fmt(quantile(approve, 0.5))}, p95 ${fmt(quantile(approve, 0.95))} (target p50 ≤ 50)`);
  if ((await storage(panel, "local", "latch.bindings") || []).length) throw new Error("bindings left behind");
} finally {
  await close();
  await stack.stop();
  for (const v of variants) rmSync(v.dir, { recursive: true, force: true });
}
