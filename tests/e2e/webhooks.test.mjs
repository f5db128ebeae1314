// Webhooks in the product (PROTOCOL §11): the demo app's receiver, configured with the
// secret `tenant update --webhook-url` prints once, hears a one-click pairing as
// binding.created and the app's revocation as binding.revoked — verified, shown on its
// page — while the panel's row goes.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import {
  startStack, launchBrowser, openPanel, offerFromApp, approveWhenArmed, waitForBindings, storage, until, RELAY,
} from "./harness.mjs";

let stack;
after(async () => { await stack?.stop(); });

/** The events the demo app verified, as its signed-in user's page lists them. */
async function listed(page) {
  return page.evaluate(async () => (await (await fetch("/latch/events")).json()).events);
}

test("the app hears a one-click pairing and its own revocation by signed webhooks; the panel's row goes", async () => {
  stack = await startStack({}, { webhooks: true });
  const { context, close } = await launchBrowser();
  try {
    const { app: page } = await offerFromApp(context);
    const panel = await openPanel(context);
    await approveWhenArmed(panel);
    const [binding] = await waitForBindings(panel, 1);
    const created = await until("binding.created at the demo app", async () =>
      (await listed(page)).find((e) => e.type === "binding.created" && e.data.bindingId === binding.bindingId));
    assert.equal(created.data.userId, "dana");
    assert.equal(created.data.via, "one_click");
    assert.match(created.id, /^evt_[0-9a-f]+$/);
    await page.reload();
    await page.locator("#latch-events").getByText("binding.created", { exact: false }).waitFor();

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
