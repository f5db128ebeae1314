// Benchmark (not a test): code pairing in real Chromium against a real relay.
//  1. code approval → prompt on screen, over RUNS runs: from the app's approve call
//     (`POST /api/pairing/approve` with its API key, sent by this script) to the open panel
//     showing the prompt's heading with the user id (a MutationObserver in the panel, then
//     the next animation frame); the worker hears it through its long-poll of
//     `/api/pairing/status`. Then Approve → tokens stored, as the user would finish;
//  2. requests the extension sends during a relay outage of OUTAGE_S seconds (503s).
// Usage: node tests/bench/code-pairing.mjs   (after npm run build and cargo build --release -p latch-relay)
import { startStack, launchBrowser, openPanel, approveWhenArmed, waitForBindings, relayCall, sleep, PROMPT } from "../e2e/harness.mjs";
import { quantile, fmt } from "./common.mjs";

const RUNS = Number(process.env.RUNS || 20);
const OUTAGE_S = Number(process.env.OUTAGE_S || 60);

const stack = await startStack({ LATCH_CHALLENGE_REQUESTS_PER_MINUTE: "1000" }, { proxy: true });
const { context, close } = await launchBrowser();
try {
  const panel = await openPanel(context);
  const latencies = [];
  for (let i = 0; i < RUNS; i++) {
    await panel.getByRole("button", { name: "Pair with a code" }).click();
    const code = (await panel.locator(".code").textContent({ timeout: 10000 })).trim();
    const user = `user${i}`;
    await sleep(200); // the worker's long-poll is waiting
    await panel.evaluate((u) => {
      window.benchPrompt = new Promise((resolve) => {
        const shown = () => [...document.querySelectorAll("article.prompt code")].some((c) => c.textContent === u);
        new MutationObserver((_, o) => {
          if (shown()) { o.disconnect(); requestAnimationFrame(() => resolve(performance.timeOrigin + performance.now())); }
        }).observe(document, { subtree: true, childList: true, characterData: true });
      });
    }, user);
    const sent = performance.timeOrigin + performance.now();
    const r = await relayCall("POST", "/api/pairing/approve", stack.apiKey, { code, userId: user });
    if (r.status !== 202) throw new Error(`approve answered ${r.status} ${JSON.stringify(r.body)}`);
    latencies.push((await panel.evaluate(() => window.benchPrompt)) - sent);
    await approveWhenArmed(panel, undefined, PROMPT);
    await waitForBindings(panel, i + 1);
  }
  console.log(`code approval (the app's call) → prompt on screen over ${RUNS} runs (ms): p50 ${fmt(quantile(latencies, 0.5))}, p95 ${fmt(quantile(latencies, 0.95))}, max ${fmt(Math.max(...latencies))} (target p50 ≤ 1000)`);

  await panel.getByRole("button", { name: "Pair with a code" }).click();
  await panel.locator(".code").waitFor();
  await sleep(500);
  const { state } = stack.fault;
  const from = Date.now();
  state.fail(true);
  await sleep(OUTAGE_S * 1000);
  state.fail(false);
  const all = state.requests.filter((r) => r.at >= from && r.path.startsWith("/api/"));
  const during = all.map((r) => Math.round((r.at - from) / 100) / 10);
  const byPath = {};
  for (const r of all) { const p = r.path.split("?")[0]; byPath[p] = (byPath[p] || 0) + 1; }
  console.log(`requests during a ${OUTAGE_S} s outage, with ${RUNS} bindings paired: ${during.length} (${Object.entries(byPath).map(([p, n]) => `${p} ${n}`).join(", ")}; at ${during.join(", ")} s)`);
} finally {
  await close();
  await stack.stop();
}
