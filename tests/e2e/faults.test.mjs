// Fault matrix for one-click pairing, in real Chromium against a real relay behind a
// fault-injecting proxy: the relay killed before and after the redeem commits, the worker
// stopped mid-redeem, 5xx bursts on describe and redeem, and a code-pairing approval whose
// answer reached a stopped worker. In every row the outcome is
// exactly one binding, the same at the relay and in the extension, or none and a clear
// message; never a second binding, never a lost approval.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startStack, launchBrowser, openPanel, storage, stopWorkers, pasteToken, approveWhenArmed, waitForBindings, PROMPT, CLI_PROMPT, sleep, clickArmed
} from "./harness.mjs";

const UNREACHABLE = "Latch's relay can't be reached. Check your connection and try again.";

let stack;
before(async () => { stack = await startStack({}, { proxy: true }); });
after(async () => { await stack?.stop(); });

/** Bindings of the demo tenant at the relay (owner CLI, straight on the database). */
async function relayBindings() {
  return (await stack.cli("binding", "list", "--tenant", "acme", "--json")).filter((b) => !b.revoked);
}

/** Clicks Approve again (it stays armed: the prompt has been showing for a while). */
async function approveAgain(panel) {
  await clickArmed(panel.getByRole("button", { name: "Approve", exact: true }));
}

/** The extension's binding matches the relay's only new binding, and its tokens work. */
async function assertOneBinding(panel, before) {
  const [b] = await waitForBindings(panel, 1);
  const relay = await relayBindings();
  assert.equal(relay.length, before + 1, "exactly one new binding at the relay");
  assert.ok(relay.some((r) => r.bindingId === b.bindingId), "the extension holds the relay's binding");
  assert.equal(await stack.gate(b.accessToken), "key-bound");
  return b;
}

async function withPanel(fn) {
  const { context, close } = await launchBrowser();
  try {
    const panel = await openPanel(context);
    await fn(context, panel);
  } finally {
    await close();
  }
}

test("relay killed after the redeem committed: Approve again recovers the same binding, never a second", async () => {
  await withPanel(async (_, panel) => {
    const before = (await relayBindings()).length;
    await pasteToken(panel, await stack.mint("kill-after"));
    const rule = stack.fault.state.once("/pairing-tokens/redeem", { mode: "drop-after", after: () => stack.killRelay() });
    await approveWhenArmed(panel);
    await rule.done;
    assert.equal(rule.status, 200, "the relay committed the redeem before it died");
    await panel.getByText(UNREACHABLE).waitFor();
    assert.equal((await storage(panel, "local", "latch.bindings") || []).length, 0);
    await stack.restartRelay();
    await approveAgain(panel);
    const b = await assertOneBinding(panel, before);
    assert.equal(b.bindingId, JSON.parse(rule.answer).binding.bindingId, "the lost answer's binding");
  });
});

test("relay killed before the redeem reached it: Approve again binds once", async () => {
  await withPanel(async (_, panel) => {
    const before = (await relayBindings()).length;
    await pasteToken(panel, await stack.mint("kill-before"));
    const rule = stack.fault.state.once("/pairing-tokens/redeem", { mode: "drop-before", before: () => stack.killRelay() });
    await approveWhenArmed(panel);
    await rule.done;
    await panel.getByText(UNREACHABLE).waitFor();
    await stack.restartRelay();
    await approveAgain(panel);
    await assertOneBinding(panel, before);
  });
});

test("worker stopped mid-redeem: the next worker finishes the approval without another click", async () => {
  await withPanel(async (context, panel) => {
    const before = (await relayBindings()).length;
    await pasteToken(panel, await stack.mint("worker-stop"));
    const rule = stack.fault.state.once("/pairing-tokens/redeem", { mode: "drop-after", before: () => stopWorkers(context) });
    await approveWhenArmed(panel);
    await rule.done;
    assert.equal(rule.status, 200, "the relay committed; the worker that asked is gone");
    // Any event starts a new worker; opening the panel is one. No click follows.
    await panel.reload();
    const b = await assertOneBinding(panel, before);
    assert.equal(b.bindingId, JSON.parse(rule.answer).binding.bindingId);
    const offers = (await storage(panel, "session", "latch.offers")).offers;
    assert.ok(offers.every((o) => o.state !== "awaiting_approval"), "the approval is finished");
    assert.ok(offers.every((o) => !o.pairingToken && !o.redeemKey), "no secret kept after the decision");
  });
});

test("5xx bursts on describe and redeem: the prompt waits for the relay and fills in by itself, a failed Approve can be repeated", async () => {
  await withPanel(async (_, panel) => {
    const before = (await relayBindings()).length;
    const token = await stack.mint("burst");
    stack.fault.state.fail(true);
    await pasteToken(panel, token);
    await panel.getByText(UNREACHABLE).waitFor();
    assert.equal(await panel.getByRole("heading", { name: PROMPT }).count(), 0, "no prompt without the relay's description");
    await panel.getByText("Checking this request with Latch's relay…").waitFor();
    stack.fault.state.fail(false);
    // The checking prompt keeps asking, and each read retries the description: no reload,
    // no storage change needed.
    await panel.getByRole("heading", { name: PROMPT }).waitFor({ timeout: 10000 });
    stack.fault.state.fail(true);
    await approveWhenArmed(panel);
    // The redeem reached the outage (the text above may still be describe's): only then
    // does the outage end, or the Approve would go through on its first try.
    const redeemFailed = () => stack.fault.state.requests.some((r) => r.failed && r.path === "/pairing-tokens/redeem");
    for (const end = Date.now() + 10000; !redeemFailed(); await sleep(20)) assert.ok(Date.now() < end, "the redeem never went out");
    await panel.getByText(UNREACHABLE).waitFor();
    assert.equal((await storage(panel, "local", "latch.bindings") || []).length, 0);
    stack.fault.state.fail(false);
    await sleep(50);
    await approveAgain(panel);
    await assertOneBinding(panel, before);
  });
});

test("code pairing: a confirm answered to a worker stopped mid-request is collected by the next one, same binding", async () => {
  await withPanel(async (context, panel) => {
    const before = (await relayBindings()).length;
    await panel.getByRole("button", { name: "Pair with a code" }).click();
    const code = (await panel.locator(".code").textContent({ timeout: 10000 })).trim();
    await stack.cli("pairing", "approve", code, "--tenant", "acme", "--user", "code-lost");
    // The user's Approve reaches the relay, which binds; the worker is gone before the answer.
    const rule = stack.fault.state.once("/api/pairing/confirm", { mode: "drop-after", after: () => stopWorkers(context) });
    await approveWhenArmed(panel, undefined, CLI_PROMPT);
    await rule.done;
    assert.equal(rule.status, 200, rule.answer);
    const lost = JSON.parse(rule.answer);
    await panel.reload();
    const [b] = await waitForBindings(panel, 1, 20000);
    assert.equal(b.bindingId, lost.binding.bindingId, "the same binding, collected again with the same key");
    await assertOneBinding(panel, before);
  });
});

test("code pairing: worker stopped while the prompt waits: the prompt is still there and Approve binds", async () => {
  await withPanel(async (context, panel) => {
    const before = (await relayBindings()).length;
    await panel.getByRole("button", { name: "Pair with a code" }).click();
    const code = (await panel.locator(".code").textContent({ timeout: 10000 })).trim();
    await stack.cli("pairing", "approve", code, "--tenant", "acme", "--user", "prompt-stop");
    await panel.getByRole("heading", { name: CLI_PROMPT }).waitFor();
    await stopWorkers(context);
    await panel.reload();
    await approveWhenArmed(panel, undefined, CLI_PROMPT);
    await assertOneBinding(panel, before);
  });
});

test("worker stopped while the relay describes a pasted token: the next worker describes it, then Approve binds", async () => {
  await withPanel(async (context, panel) => {
    const before = (await relayBindings()).length;
    const rule = stack.fault.state.once("/pairing-tokens/describe", { mode: "drop-after", before: () => stopWorkers(context) });
    const token = await stack.mint("describe-stop");
    await panel.getByLabel("Pairing token").fill(token);
    await panel.getByRole("button", { name: "Connect", exact: true }).click();
    await rule.done;
    const offers = (await storage(panel, "session", "latch.offers")).offers;
    assert.equal(offers.length, 1, "the offer outlived the worker");
    // The panel's next read starts a worker, which describes the offer again.
    await panel.reload();
    await approveWhenArmed(panel);
    await assertOneBinding(panel, before);
  });
});

test("code pairing: worker stopped while the code is being requested: the next worker asks again", async () => {
  await withPanel(async (context, panel) => {
    const before = (await relayBindings()).length;
    const rule = stack.fault.state.once("/api/pairing/request", { mode: "drop-after", before: () => stopWorkers(context) });
    await panel.getByRole("button", { name: "Pair with a code" }).click();
    await rule.done;
    assert.equal(rule.status, 201, "the relay issued a code nobody received");
    const orphan = JSON.parse(rule.answer).code;
    await panel.reload();
    const code = (await panel.locator(".code").textContent({ timeout: 15000 })).trim().replace("-", "");
    assert.notEqual(code, orphan, "a fresh code, not the lost one");
    await stack.cli("pairing", "approve", code, "--tenant", "acme", "--user", "request-stop");
    await approveWhenArmed(panel, undefined, CLI_PROMPT);
    await assertOneBinding(panel, before);
  });
});
