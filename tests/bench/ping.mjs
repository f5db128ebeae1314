// Benchmark (not a test): ping round trip app → relay → extension (WebSocket) → back,
// over N sequential pings on loopback, and revoke → the extension forgetting the binding.
// Usage: node tests/bench/ping.mjs   (after npm run build and cargo build --release -p latch-relay)
import { startStack, launchBrowser, openPanel, pairByPaste, storage, sleep, RELAY } from "../e2e/harness.mjs";

const N = Number(process.env.PINGS || 200);
const stack = await startStack();
const { context, close } = await launchBrowser();
try {
  const panel = await openPanel(context);
  const binding = await pairByPaste(panel, await stack.mint("dana"));
  const ping = () => fetch(`${RELAY}/api/errands`, {
    method: "POST", headers: { authorization: `Bearer ${stack.apiKey}`, "content-type": "application/json" },
    body: JSON.stringify({ userId: "dana", kind: "ping", params: {} }),
  });
  while ((await ping()).status !== 200) await sleep(100);
  const rtts = [];
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    const r = await ping();
    if (r.status !== 200) throw new Error(`ping ${i}: ${r.status}`);
    await r.json();
    rtts.push(performance.now() - t);
  }
  rtts.sort((a, b) => a - b);
  const q = (p) => rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))].toFixed(2);
  console.log(`ping round trip over ${N} pings: p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${rtts.at(-1).toFixed(2)} ms`);
  const t = performance.now();
  await fetch(`${RELAY}/api/bindings/${binding.bindingId}`, { method: "DELETE", headers: { authorization: `Bearer ${stack.apiKey}` } });
  while (((await storage(panel, "local", "latch.bindings")) || []).length) await sleep(1);
  console.log(`app revoke → extension forgot the binding (socket closed by the relay): ${(performance.now() - t).toFixed(1)} ms`);
} finally {
  await close();
  await stack.stop();
}
