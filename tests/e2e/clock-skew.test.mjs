// Relay and browser clocks 10 minutes apart (the relay runs under libfaketime). The relay's
// answers carry its clock (`serverTime`), and the extension reads every relay time on its
// own clock: a relay running behind must not expire offers, codes or tokens early.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startStack, launchBrowser, openPanel, storage, pairByPaste, waitForBindings, approveWhenArmed, sleep, RELAY } from "./harness.mjs";

const SKEW_MS = 10 * 60_000;
let stack;
before(async () => { stack = await startStack({}, { clockOffset: "-10m" }); });
after(async () => { await stack?.stop(); });

test("the relay's clock really is 10 minutes behind", async () => {
  const r = await fetch(`${RELAY}/pairing-tokens`, {
    method: "POST", headers: { authorization: `Bearer ${stack.apiKey}`, "content-type": "application/json" },
    body: JSON.stringify({ userId: "clock" }),
  });
  const { expiresAt } = await r.json();
  const relayNow = expiresAt - 120_000;
  assert.ok(Math.abs(Date.now() - SKEW_MS - relayNow) < 5_000, `relay now ${relayNow}, local ${Date.now()}`);
});

test("one click with the relay 10 min behind: the prompt stays, Approve binds, expiries are on the local clock", async () => {
  const { context, close } = await launchBrowser();
  try {
    const panel = await openPanel(context);
    const binding = await pairByPaste(panel, await stack.mint("dana"));
    const ttl = binding.accessExpiresAt - Date.now();
    assert.ok(ttl > 800_000 && ttl <= 900_000, `access token lifetime on the local clock: ${ttl} ms`);
    assert.equal(await stack.gate(binding.accessToken), "key-bound");
  } finally {
    await close();
  }
});

test("code pairing with the relay 10 min behind: the code stays live, the prompt shows, Approve delivers", async () => {
  const { context, close } = await launchBrowser();
  try {
    const panel = await openPanel(context);
    await panel.getByRole("button", { name: "Pair with a code" }).click();
    const code = (await panel.locator(".code").textContent({ timeout: 10000 })).trim();
    const stored = await storage(panel, "local", "latch.challenge");
    const left = stored.expiresAt - Date.now();
    assert.ok(left > 590_000 && left <= 600_000, `code lifetime on the local clock: ${left} ms`);
    // Approved by the app over HTTP, so the relay judges expiry on its own clock.
    const r = await fetch(`${RELAY}/api/pairing/approve`, {
      method: "POST", headers: { authorization: `Bearer ${stack.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ code, userId: "dana" }),
    });
    assert.equal(r.status, 202, await r.text());
    await approveWhenArmed(panel);
    const [b] = await waitForBindings(panel, 1);
    assert.equal(b.userId, "dana");
    // The binding is stored before the challenge is cleared: wait for the clear.
    const end = Date.now() + 5000;
    while ((await storage(panel, "local", "latch.challenge")) != null) {
      assert.ok(Date.now() < end, "the finished challenge was never cleared");
      await sleep(20);
    }
  } finally {
    await close();
  }
});
