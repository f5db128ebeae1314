// After pairing: the live channel answers the app's ping, short access tokens are
// refreshed without the user, and the app's revocation closes the channel and removes
// the app from the panel.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { startStack, launchBrowser, openPanel, pairByPaste, storage, sleep, APP, RELAY, RELAY_METRICS } from "./harness.mjs";

let stack;
after(async () => { await stack?.stop(); });

/** Pairs the demo user by pasting a fresh token. */
const pair = async (panel) => pairByPaste(panel, await stack.mint("dana"));

async function ping() {
  const r = await fetch(`${RELAY}/api/errands`, {
    method: "POST", headers: { authorization: `Bearer ${stack.apiKey}`, "content-type": "application/json" },
    body: JSON.stringify({ userId: "dana", kind: "ping", params: {} }),
  });
  return { status: r.status, body: await r.json() };
}

async function pingUntilAnswered(ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const r = await ping();
    if (r.status === 200) return r;
    assert.ok(Date.now() < end, `no pong: ${JSON.stringify(r.body)}`);
    await sleep(200);
  }
}

test("pair → the app's Ping browser is answered through the live channel", async () => {
  stack = await startStack();
  const { context, close } = await launchBrowser();
  try {
    const panel = await openPanel(context);
    await pair(panel);
    const r = await pingUntilAnswered();
    assert.deepEqual(r.body.result, { pong: true, appName: "Acme" });
    const app = await context.newPage();
    await app.goto(`${APP}/`);
    await app.getByRole("button", { name: "Ping browser" }).click();
    await app.getByText(/Pong from Acme in [\d.]+ ms/).waitFor();
  } finally { await close(); await stack.stop(); stack = null; }
});

test("short access tokens are refreshed ahead of expiry and the next ping works", async () => {
  stack = await startStack({ LATCH_ACCESS_TTL_SECONDS: "6" });
  const { context, close } = await launchBrowser();
  try {
    const panel = await openPanel(context);
    const first = await pair(panel);
    await pingUntilAnswered();
    const end = Date.now() + 15000;
    let now = first;
    while (now.accessToken === first.accessToken) {
      assert.ok(Date.now() < end, "access token never refreshed");
      await sleep(200);
      now = (await storage(panel, "local", "latch.bindings"))[0];
    }
    assert.notEqual(now.refreshToken, first.refreshToken, "refresh token rotated");
    assert.ok(now.accessExpiresAt > first.accessExpiresAt);
    assert.equal(await stack.gate(now.accessToken), "key-bound");
    await sleep(7000); // past the first token's expiry: the socket keeps working
    assert.equal(await stack.gate(first.accessToken), "access token invalid");
    await pingUntilAnswered();
    // The worker handed each fresh token to its open socket (a renewing `auth`), so the
    // relay never had to close it at a token's expiry (4408).
    const metrics = await (await fetch(`${RELAY_METRICS}/metrics`)).text();
    assert.match(metrics, /^latch_sockets_expired_total 0$/m);
  } finally { await close(); await stack.stop(); stack = null; }
});

test("the app revokes: socket closed, the app disappears from the panel, /api/me 401", async () => {
  stack = await startStack();
  const { context, close } = await launchBrowser();
  try {
    const panel = await openPanel(context);
    const binding = await pair(panel);
    await pingUntilAnswered();
    const t = Date.now();
    const r = await fetch(`${RELAY}/api/bindings/${binding.bindingId}`, { method: "DELETE", headers: { authorization: `Bearer ${stack.apiKey}` } });
    assert.equal(r.status, 200);
    while (((await storage(panel, "local", "latch.bindings")) || []).length) {
      assert.ok(Date.now() - t < 5000, "binding still listed");
      await sleep(20);
    }
    console.log(`# app revoke → extension forgot the binding: ${Date.now() - t} ms`);
    await panel.getByText("No apps are connected yet", { exact: false }).waitFor();
    // Revoked was the user's only binding with the app: not paired any more (PROTOCOL §10).
    assert.equal((await ping()).body.error, "not_paired");
    assert.equal(await stack.gate(binding.accessToken), "access token invalid");
  } finally { await close(); await stack.stop(); stack = null; }
});

test("Send this page to Acme: the capture reaches the app's inbox once", async () => {
  stack = await startStack();
  const { context, close } = await launchBrowser();
  try {
    const panel = await openPanel(context);
    await pair(panel);
    // A page Latch may read without a toolbar click: the relay's own origin is in
    // host_permissions (on any other site the toolbar click grants activeTab).
    const page = await context.newPage();
    await page.goto(`${RELAY}/connect#token=lpt_x`);
    await page.getByRole("heading", { name: "This connect link is broken" }).waitFor();
    // The page stays the active tab, as it is when the panel is the side panel beside it.
    await panel.getByRole("button", { name: "Send this page to Acme" }).click();
    await panel.getByText("Sent “Connect to Latch” to Acme.").waitFor();
    const r = await fetch(`${RELAY}/api/inbox/v1/captures`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    const { captures } = await r.json();
    assert.equal(captures.length, 1);
    assert.equal(captures[0].title, "Connect to Latch");
    assert.equal(captures[0].userId, "dana");
    assert.match(captures[0].url, /\/connect#token=lpt_x$/);
    assert.match(captures[0].text, /This connect link is broken/);
  } finally { await close(); await stack.stop(); stack = null; }
});

test("the owner revokes with the CLI: the extension learns it within a second", async () => {
  stack = await startStack();
  const { context, close } = await launchBrowser();
  try {
    const panel = await openPanel(context);
    const binding = await pair(panel);
    await pingUntilAnswered();
    const t = Date.now();
    await stack.cli("binding", "revoke", binding.bindingId);
    while (((await storage(panel, "local", "latch.bindings")) || []).length) {
      assert.ok(Date.now() - t < 1500, "binding still listed");
      await sleep(20);
    }
    console.log(`# owner revoke (CLI, incl. process start) → binding gone: ${Date.now() - t} ms`);
    assert.equal(await stack.gate(binding.accessToken), "access token invalid");
  } finally { await close(); await stack.stop(); stack = null; }
});
