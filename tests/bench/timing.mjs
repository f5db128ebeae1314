// Benchmark (not a test): does the relay's answer time say more about a pairing token than
// its documented status code? Describe and redeem are timed for tokens that exist (valid,
// used) and that don't (random, well-formed), interleaved, N rounds each, on loopback.
// Prints medians and p90s in µs; the figures belong in SECURITY.md ("Timing").
// Usage: node tests/bench/timing.mjs   (after cargo build --release -p latch-relay)
import { startStack, RELAY } from "../e2e/harness.mjs";
import { randomBytes } from "node:crypto";

const N = Number(process.env.ROUNDS || 400);
const stack = await startStack({ LATCH_DESCRIBE_PER_MINUTE: "0", LATCH_REDEEM_PER_MINUTE: "0", LATCH_MINT_PER_MINUTE: "0" });
const post = async (path, body) => {
  const t = process.hrtime.bigint();
  const r = await fetch(`${RELAY}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  await r.arrayBuffer();
  return { us: Number(process.hrtime.bigint() - t) / 1000, status: r.status };
};
const random = () => `lpt_${randomBytes(32).toString("base64url").slice(0, 42)}A`;
try {
  const valid = await stack.mint("timing");
  const used = await stack.mint("timing-used");
  await post("/pairing-tokens/redeem", { pairingToken: used, deviceName: "bench" });
  const cases = {
    "describe valid (200)": () => post("/pairing-tokens/describe", { pairingToken: valid }),
    "describe used (409)": () => post("/pairing-tokens/describe", { pairingToken: used }),
    "describe unknown (404)": () => post("/pairing-tokens/describe", { pairingToken: random() }),
    "redeem used (409)": () => post("/pairing-tokens/redeem", { pairingToken: used, deviceName: "bench" }),
    "redeem unknown (404)": () => post("/pairing-tokens/redeem", { pairingToken: random(), deviceName: "bench" }),
  };
  const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (let i = 0; i < 50; i++) for (const f of Object.values(cases)) await f(); // warm up
  for (let i = 0; i < N; i++) {
    for (const [name, f] of Object.entries(cases)) times[name].push((await f()).us);
  }
  console.log(`timing over ${N} interleaved rounds (µs): case, p50, p90`);
  for (const [name, t] of Object.entries(times)) {
    t.sort((a, b) => a - b);
    console.log(`  ${name.padEnd(24)} ${t[Math.floor(N * 0.5)].toFixed(0).padStart(6)} ${t[Math.floor(N * 0.9)].toFixed(0).padStart(6)}`);
  }
} finally {
  await stack.stop();
}
