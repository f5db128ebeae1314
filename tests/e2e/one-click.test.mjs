// One-click pairing in real Chromium with the built extension and a real relay process.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startStack, launchBrowser, openPanel, storage, stopWorkers, targetUrls, screenshotPath,
  approveWhenArmed, pasteToken, waitForBindings, offerFromApp, PROMPT, APP, EXTENSION_ID, sleep,
} from "./harness.mjs";

let stack;
before(async () => { stack = await startStack(); });
after(async () => { await stack?.stop(); });


test("one click: Connect Latch → Continue → Approve binds, closes the popup, and the app reads Latch Connected", async () => {
  const { context, close } = await launchBrowser();
  try {
    const { app, popup } = await offerFromApp(context);
    // The Continue click carried the gesture: the side panel opened by itself.
    const end = Date.now() + 5000;
    while (!(await targetUrls(context)).some((u) => u === `chrome-extension://${EXTENSION_ID}/panel.html`)) {
      assert.ok(Date.now() < end, "side panel did not open");
      await sleep(100);
    }
    const popupClosed = popup.waitForEvent("close", { timeout: 15000 });
    const panel = await openPanel(context);
    await panel.getByRole("heading", { name: PROMPT }).waitFor();
    await panel.getByText("acme", { exact: true }).waitFor();
    await panel.getByText("dana", { exact: true }).waitFor();
    // The connect page proved which page opened it (the opener check, PROTOCOL §4).
    await panel.getByText("Opened from http://localhost:8788", { exact: true }).waitFor();
    // The toolbar badge counts pending approvals.
    assert.equal(await panel.evaluate(() => chrome.action.getBadgeText({})), "1");
    await panel.setViewportSize({ width: 400, height: 560 });
    await approveWhenArmed(panel, () => panel.screenshot({ path: screenshotPath("prompt.png") }));
    await popupClosed;

    const [binding] = await waitForBindings(panel, 1);
    assert.equal(binding.tenantId, "acme");
    assert.equal(binding.userId, "dana");
    assert.equal(binding.appName, "Acme");
    assert.match(binding.bindingId, /^bnd_/);
    assert.match(binding.refreshToken, /^lrt_[A-Za-z0-9_-]{43}$/);
    for (const k of ["accessExpiresAt", "refreshExpiresAt", "pairedAt"]) assert.equal(typeof binding[k], "number", k);
    const me = await stack.me(binding.accessToken);
    assert.equal(me.status, 200);
    assert.equal(me.body.bindingId, binding.bindingId);

    await app.getByRole("button", { name: "Latch Connected" }).waitFor({ timeout: 10000 });
    await panel.getByRole("listitem").filter({ hasText: "Acme" }).waitFor();
    assert.equal(await panel.evaluate(() => chrome.action.getBadgeText({})), "");
    const offers = await storage(panel, "session", "latch.offers");
    assert.ok(offers.offers.every((o) => !o.pairingToken), "decided offers keep no token");
  } finally { await close(); }
});

test("Deny stores nothing, tells the connect page, and leaves the token unredeemed", async () => {
  const { context, close } = await launchBrowser();
  try {
    const { popup, token } = await offerFromApp(context);
    const panel = await openPanel(context);
    await panel.getByRole("heading", { name: PROMPT }).waitFor();
    await panel.getByRole("button", { name: "Deny", exact: true }).click();
    await popup.getByRole("heading", { name: "Not connected" }).waitFor();
    assert.deepEqual((await storage(panel, "local", "latch.bindings")) ?? [], []);
    const d = await stack.describe(token);
    assert.equal(d.status, 200, "token still unredeemed");
    await panel.getByText("Nothing is waiting for your approval.").waitFor();
  } finally { await close(); }
});

test("the worker stopped before Continue: the click wakes it, the side panel still opens, Approve binds", async () => {
  const { context, close } = await launchBrowser();
  try {
    await offerFromApp(context, () => stopWorkers(context));
    const end = Date.now() + 5000;
    while (!(await targetUrls(context)).some((u) => u === `chrome-extension://${EXTENSION_ID}/panel.html`)) {
      assert.ok(Date.now() < end, "side panel did not open from a cold worker");
      await sleep(100);
    }
    const panel = await openPanel(context);
    await approveWhenArmed(panel);
    const [binding] = await waitForBindings(panel, 1);
    assert.equal((await stack.me(binding.accessToken)).status, 200);
  } finally { await close(); }
});

test("the worker stopped between offer and Approve: approval still completes", async () => {
  const { context, close } = await launchBrowser();
  try {
    const { popup } = await offerFromApp(context);
    // Let the background describe and park, then kill it like Chrome does.
    const probe = await openPanel(context);
    await probe.getByRole("heading", { name: PROMPT }).waitFor();
    await probe.close();
    await stopWorkers(context);
    await sleep(300);
    const popupClosed = popup.waitForEvent("close", { timeout: 15000 });
    const panel = await openPanel(context);
    await approveWhenArmed(panel);
    await popupClosed;
    const [binding] = await waitForBindings(panel, 1);
    assert.equal((await stack.me(binding.accessToken)).status, 200);
  } finally { await close(); }
});

test("manual paste: Pairing token → Connect → prompt → Approve", async () => {
  const { context, close } = await launchBrowser();
  try {
    const panel = await openPanel(context);
    await pasteToken(panel, "lpt_not-a-token");
    await panel.getByRole("alert").filter({ hasText: "isn't a Latch pairing token" }).waitFor();
    assert.equal(((await storage(panel, "session", "latch.offers"))?.offers ?? []).length, 0);

    const token = await stack.mint("dana");
    await pasteToken(panel, token);
    await approveWhenArmed(panel);
    const [binding] = await waitForBindings(panel, 1);
    assert.equal(binding.userId, "dana");
    assert.equal((await stack.describe(token)).body.error, "token_used");
  } finally { await close(); }
});

test("Disconnect revokes at the relay: /api/me answers 401 access token invalid", async () => {
  const { context, close } = await launchBrowser();
  try {
    const panel = await openPanel(context);
    await pasteToken(panel, await stack.mint("dana"));
    await approveWhenArmed(panel);
    const [binding] = await waitForBindings(panel, 1);
    const app = await context.newPage();
    await app.goto(`${APP}/`);
    await app.getByRole("button", { name: "Latch Connected" }).waitFor({ timeout: 10000 });

    await panel.getByRole("button", { name: "Disconnect", exact: true }).click();
    await waitForBindings(panel, 0);
    const me = await stack.me(binding.accessToken);
    assert.equal(me.status, 401);
    assert.equal(me.body.error, "access token invalid");
    await panel.getByText("No apps are connected yet", { exact: false }).waitFor();
    await app.bringToFront();
    await app.getByRole("button", { name: "Connect Latch" }).waitFor({ timeout: 10000 });
  } finally { await close(); }
});
