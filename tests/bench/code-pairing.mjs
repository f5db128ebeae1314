// Benchmark (not a test): code pairing in real Chromium against a real relay.
//  1. approval → tokens stored latency, over RUNS runs (approve with the relay CLI, as
//     an owner would; the latency includes the CLI's exit and the relay's cross-process
//     wake-up, PRAGMA data_version every 50 ms);
//  2. requests the extension sends during a relay outage of OUTAGE_S seconds (503s).
// Usage: node tests/bench/code-pairing.mjs   (after npm run build and cargo build --release -p latch-relay)
import { startStack, launchBrowser, openPanel, storage, sleep } from "../e2e/harness.mjs";

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
    await sleep(200);
    await stack.cli("pairing", "approve", code, "--tenant", "acme", "--user", `user${i}`);
    const t = Date.now();
    while (((await storage(panel, "local", "latch.bindings")) || []).length < i + 1) await sleep(5);
    latencies.push(Date.now() - t);
  }
  latencies.sort((a, b) => a - b);
  const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  console.log(`approval → tokens stored over ${RUNS} runs: median ${q(0.5)} ms, p95 ${q(0.95)} ms, max ${latencies.at(-1)} ms`);

  await panel.getByRole("button", { name: "Pair with a code" }).click();
  await panel.locator(".code").waitFor();
  await sleep(500);
  const { state } = stack.fault;
  const from = Date.now();
  state.fail(true);
  await sleep(OUTAGE_S * 1000);
  state.fail(false);
  const during = state.requests.filter((r) => r.at >= from && r.path.startsWith("/api/")).map((r) => Math.round((r.at - from) / 100) / 10);
  console.log(`requests during a ${OUTAGE_S} s outage: ${during.length} (at ${during.join(", ")} s)`);
} finally {
  await close();
  await stack.stop();
}
