// One-click pairing in real Chromium with the built extension and a real relay process.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startStack, launchBrowser, openPanel, storage, stopWorkers, targetUrls, screenshotPath,
  approveWhenArmed, pasteToken, waitForBindings, offerFromApp, relayCall, PROMPT, APP, EXTENSION_ID, sleep, clickArmed,
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
    // Valid, this binding's, and bound to this browser's key (PROTOCOL §12).
    assert.equal(await stack.gate(binding.accessToken), "key-bound");
    assert.equal(JSON.parse(Buffer.from(binding.accessToken.split(".")[1], "base64url")).sub, binding.bindingId);

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
    assert.equal(await stack.gate(binding.accessToken), "key-bound");
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
    assert.equal(await stack.gate(binding.accessToken), "key-bound");
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

test("popups blocked: the app's page shows the connect link with Copy; pasted into the panel it pairs", async () => {
  const { context, close } = await launchBrowser();
  try {
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: APP });
    const app = await context.newPage();
    // What a popup blocker does to window.open: no window.
    await app.addInitScript(() => { window.open = () => null; });
    await app.goto(`${APP}/`);
    await app.getByRole("button", { name: "Connect Latch" }).click();
    await app.getByRole("status").filter({ hasText: "Pop-ups are blocked" }).waitFor();
    const link = await app.getByLabel("Connect link").inputValue();
    assert.match(link, /^http:\/\/localhost:8787\/connect#token=lpt_[A-Za-z0-9_-]{43}&return=/);
    await app.getByRole("button", { name: "Copy", exact: true }).click();
    await app.getByRole("button", { name: "Copied", exact: true }).waitFor();
    assert.equal(await app.evaluate(() => navigator.clipboard.readText()), link);

    const panel = await openPanel(context);
    await pasteToken(panel, link);
    await approveWhenArmed(panel);
    const [binding] = await waitForBindings(panel, 1);
    assert.equal(binding.userId, "dana");
    await app.getByRole("button", { name: "Latch Connected" }).waitFor({ timeout: 10000 });
    await app.getByLabel("Connect link").waitFor({ state: "detached" }); // a used link goes
    // A link to another origin is not read: refused as no pairing token.
    await pasteToken(panel, link.replace("http://localhost:8787", "https://evil.example"));
    await panel.getByRole("alert").filter({ hasText: "isn't a Latch pairing token" }).waitFor();
  } finally { await close(); }
});

test("popups blocked: the link's Open makes a tab the opener check still recognises, then Approve binds", async () => {
  const { context, close } = await launchBrowser();
  try {
    const app = await context.newPage();
    await app.addInitScript(() => { window.open = () => null; });
    await app.goto(`${APP}/`);
    await app.getByRole("button", { name: "Connect Latch" }).click();
    const opened = context.waitForEvent("page");
    await app.getByRole("link", { name: "Open", exact: true }).click();
    const connect = await opened;
    await connect.getByRole("heading", { name: "Connect Acme to Latch" }).waitFor();
    await clickArmed(connect.getByRole("button", { name: "Continue" }));
    const panel = await openPanel(context);
    await panel.getByText("Opened from http://localhost:8788", { exact: true }).waitFor();
    await approveWhenArmed(panel);
    assert.equal((await waitForBindings(panel, 1))[0].userId, "dana");
  } finally { await close(); }
});

test("a connect link minted with a returnUrl leads back to that page: Back to Acme, then Approve binds", async () => {
  const { context, close } = await launchBrowser();
  try {
    const page = `${APP}/settings?tab=browsers`;
    const refused = await relayCall("POST", "/pairing-tokens", stack.apiKey, { userId: "dana", returnUrl: "https://evil.example/" });
    assert.equal(refused.body.error, "invalid_return_url");
    const minted = await relayCall("POST", "/pairing-tokens", stack.apiKey, { userId: "dana", returnUrl: page });
    assert.equal(minted.status, 201);
    const connect = await context.newPage();
    await connect.goto(minted.body.connectUrl);
    await connect.getByRole("heading", { name: "Connect Acme to Latch" }).waitFor();
    assert.equal(await connect.getByRole("link", { name: "Back to Acme" }).getAttribute("href"), page);
    await clickArmed(connect.getByRole("button", { name: "Continue" }));
    const panel = await openPanel(context);
    await approveWhenArmed(panel);
    const [binding] = await waitForBindings(panel, 1);
    assert.equal(binding.userId, "dana");
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
