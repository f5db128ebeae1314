// Every party sees every connection (PROTOCOL §11): the demo app's webhook receiver,
// configured with the secret `tenant update --webhook-url` prints once, hears a one-click
// pairing as binding.created and the app's revocation as binding.revoked (verified, shown
// on its page) while the panel's row goes; the panel's Activity lists the app's errand and
// the row says when it was last used; Disconnect all, asked once more (a double-click only
// asks), disconnects every app at once.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import {
  startStack, launchBrowser, openPanel, offerFromApp, approveWhenArmed, waitForBindings, pairByPaste, pasteToken, storage, until, RELAY, RELAY_METRICS,
} from "./harness.mjs";

let stack;
after(async () => { await stack?.stop(); });

/** One click on the demo app, approved in the panel: the app's page, the panel, the binding. */
async function pairFromTheApp(context) {
  const { app: page } = await offerFromApp(context);
  const panel = await openPanel(context);
  await approveWhenArmed(panel);
  const [binding] = await waitForBindings(panel, 1);
  return { page, panel, binding };
}

/** The events the demo app verified, as its signed-in user's page lists them. */
async function listed(page) {
  return page.evaluate(async () => (await (await fetch("/latch/events")).json()).events);
}

test("the app hears a one-click pairing and its own revocation by signed webhooks; the panel's row goes", async () => {
  stack = await startStack({}, { webhooks: true });
  const { context, close } = await launchBrowser();
  try {
    const { page, panel, binding } = await pairFromTheApp(context);
    const created = await until("binding.created at the demo app", async () =>
      (await listed(page)).find((e) => e.type === "binding.created" && e.data.bindingId === binding.bindingId));
    assert.equal(created.data.userId, "dana");
    assert.equal(created.data.via, "one_click");
    assert.match(created.id, /^evt_[0-9a-f]+$/);
    await page.reload();
    await page.locator("#latch-events").getByText("binding.created", { exact: false }).waitFor();

    // The app pings; the panel's Activity (read from the relay when it opens) lists it.
    await page.getByRole("button", { name: "Ping browser" }).click();
    await page.getByText("Pong from", { exact: false }).waitFor({ timeout: 10000 });
    const row = panel.locator(`[data-binding-id="${binding.bindingId}"]`);
    await row.getByRole("button", { name: "Activity" }).click();
    await row.getByRole("region", { name: "Activity of Acme" }).waitFor();
    const errand = row.locator('.activity li[data-event="errand"]');
    await errand.waitFor();
    assert.match(await errand.textContent(), /Task “ping” done in \d+ ms/);
    assert.match(await row.locator('.activity li[data-event="paired"]').textContent(), /Connected \(one click\)/);
    await row.getByText("Last used", { exact: false }).waitFor();

    const r = await fetch(`${RELAY}/api/bindings/${binding.bindingId}`, { method: "DELETE", headers: { authorization: `Bearer ${stack.apiKey}` } });
    assert.equal(r.status, 200);
    const revoked = await until("binding.revoked at the demo app", async () =>
      (await listed(page)).find((e) => e.type === "binding.revoked" && e.data.bindingId === binding.bindingId));
    assert.equal(revoked.data.by, "app");
    await until("the panel forgets the binding", async () => !((await storage(panel, "local", "latch.bindings")) || []).length);
    await panel.getByText("No apps are connected yet", { exact: false }).waitFor();
    // Each event once, though delivery is at least once.
    const ids = (await listed(page)).map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length);
  } finally { await close(); }
});

test("Disconnect all, confirmed, disconnects every app at the relay and tells each app", async () => {
  stack ??= await startStack({}, { webhooks: true });
  // A second app on the same relay.
  await stack.cli("tenant", "create", "--name", "Globex", "--id", "globex");
  const { apiKey: globexKey } = await stack.cli("key", "create", "--tenant", "globex", "--label", "Globex");
  const mint = async (key) => {
    const r = await fetch(`${RELAY}/pairing-tokens`, {
      method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify({ userId: "dana" }),
    });
    return (await r.json()).pairingToken;
  };
  const { context, close } = await launchBrowser();
  try {
    const panel = await openPanel(context);
    await pairByPaste(panel, await mint(stack.apiKey));
    await pasteToken(panel, await mint(globexKey));
    await approveWhenArmed(panel, undefined, "Allow Globex to run tasks in your browser?");
    const bindings = await waitForBindings(panel, 2);
    // Cancel hides itself and hands the focus back to the button that asked.
    await panel.getByRole("button", { name: "Disconnect all" }).click();
    await panel.getByRole("button", { name: "Cancel" }).click();
    await until("the focus back on Disconnect all", async () =>
      (await panel.evaluate(() => document.activeElement?.textContent)) === "Disconnect all");
    // A double-click asks and no more: the confirming button arms as Approve does.
    await panel.getByRole("button", { name: "Disconnect all" }).dblclick();
    await panel.getByText("Disconnect all 2 apps?", { exact: false }).waitFor();
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(((await storage(panel, "local", "latch.bindings")) || []).length, 2, "a double-click disconnected");
    await panel.getByRole("button", { name: "Yes, disconnect all" }).click();
    await panel.getByText("No apps are connected yet", { exact: false }).waitFor();
    for (const b of bindings) {
      const key = b.tenantId === "globex" ? globexKey : stack.apiKey;
      const r = await fetch(`${RELAY}/api/bindings/${b.bindingId}/events`, { headers: { authorization: `Bearer ${key}` } });
      const [last] = (await r.json()).events;
      assert.deepEqual([last.type, last.by], ["revoked", "user"], b.tenantId);
    }
  } finally { await close(); }
});

test("a binding the relay revokes as idle says so in the panel: expired after that long without use", async () => {
  await stack?.stop();
  // 0.0001 days: 8.64 s unused and the cleanup (every second) revokes it, open socket or not.
  stack = await startStack({ LATCH_BINDING_IDLE_DAYS: "0.0001", LATCH_CLEANUP_INTERVAL_SECONDS: "1" }, { webhooks: true });
  const { context, close } = await launchBrowser();
  try {
    const { page, panel, binding } = await pairFromTheApp(context);
    const row = panel.locator(`[data-binding-id="${binding.bindingId}"]`);
    // The relay closes the socket (`binding_idle`), the worker refreshes, and the refusal
    // says why: the row stays, with what happened instead of an error code.
    await row.getByText(/Expired after \d+ seconds without use/).waitFor({ timeout: 20000 });
    const [stored] = await storage(panel, "local", "latch.bindings");
    assert.match(stored.needsRepair, /^idle:\d+$/);
    // Told once: the worker refreshed, heard why and stopped (no refresh loop).
    const idleRefusals = async () => Number((await (await fetch(`${RELAY_METRICS}/metrics`)).text())
      .match(/^latch_refreshes_total\{outcome="idle"\} (\d+)/m)?.[1]);
    assert.equal(await idleRefusals(), 1);
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(await idleRefusals(), 1, "the worker kept refreshing");
    const revoked = await until("binding.revoked (idle) at the demo app", async () =>
      (await listed(page)).find((e) => e.type === "binding.revoked" && e.data.bindingId === binding.bindingId));
    assert.equal(revoked.data.by, "idle");
    // Disconnect removes the row (the relay has nothing left to revoke).
    await row.getByRole("button", { name: "Disconnect" }).click();
    await panel.getByText("No apps are connected yet", { exact: false }).waitFor();
  } finally {
    await close();
    // Its 8.64 s idle limit ends with it.
    await stack.stop();
    stack = undefined;
  }
});
