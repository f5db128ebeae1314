// Consent on every path (issue 17), in real Chromium against a real relay: an app's code
// approval binds nothing until the browser's user clicks Approve; a second app's API key
// sees and claims nothing; a worker stopped mid long-poll wakes by itself; and the prompt
// says which site opened it — verified for the tenant's own page, a caution for a page on
// another origin and for a pasted token.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  startStack, launchBrowser, openPanel, storage, stopWorkers, waitForBindings, approveWhenArmed, pasteToken,
  offerFromApp, relayCall, sleep, PROMPT, RELAY, clickArmed
} from "./harness.mjs";

let stack;
let globexKey;
before(async () => {
  stack = await startStack();
  // A second app on the same relay, with its own key: the hostile tenant of these tests.
  await stack.cli("tenant", "create", "--name", "Globex", "--id", "globex", "--origin", "http://127.0.0.1:8788");
  ({ apiKey: globexKey } = await stack.cli("key", "create", "--tenant", "globex", "--label", "Globex"));
});
after(async () => { await stack?.stop(); });

async function showCode(panel) {
  await panel.getByRole("button", { name: "Pair with a code" }).click();
  const code = panel.locator(".code");
  await code.waitFor({ timeout: 10000 });
  return (await code.textContent()).trim();
}

const approveAs = (apiKey, code, userId = "dana") => relayCall("POST", "/api/pairing/approve", apiKey, { code, userId });
async function pendingOf(apiKey) {
  const r = await relayCall("GET", "/api/pairing/pending", apiKey);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.pending;
}
async function bindingsOf(apiKey) {
  const r = await relayCall("GET", "/api/bindings", apiKey);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.bindings;
}
/** Polls `read` until it deep-equals `want` (the panel's reject is sent without waiting). */
async function eventually(read, want, what, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const got = await read();
    try { assert.deepEqual(got, want, what); return; } catch (e) { if (Date.now() > end) throw e; }
    await sleep(50);
  }
}

test("code: a second app's key sees and claims nothing; Deny binds nothing and the app's list stays empty", async () => {
  const { context, close } = await launchBrowser();
  try {
    const panel = await openPanel(context);
    const code = await showCode(panel);
    // Nobody approved it yet: no API key lists it, and no app can withdraw it.
    assert.deepEqual(await pendingOf(stack.apiKey), []);
    assert.deepEqual(await pendingOf(globexKey), []);
    assert.equal((await relayCall("POST", "/api/pairing/deny", stack.apiKey, { code })).body.error, "code_not_found");

    const approved = await approveAs(stack.apiKey, code);
    assert.equal(approved.status, 202, JSON.stringify(approved.body));
    assert.equal(approved.body.status, "awaiting_confirmation");
    // The other app: sees nothing, can't approve it over Acme, can't cancel it.
    assert.deepEqual(await pendingOf(globexKey), []);
    const claim = await approveAs(globexKey, code, "mallory");
    assert.deepEqual([claim.status, claim.body.error], [409, "code_already_approved"]);
    const cancel = await relayCall("POST", "/api/pairing/deny", globexKey, { code });
    assert.deepEqual([cancel.status, cancel.body.error], [404, "code_not_found"]);
    assert.deepEqual((await pendingOf(stack.apiKey)).map((p) => p.userId), ["dana"], "Acme sees its own request");

    // The prompt names Acme (not Globex); Deny binds nothing anywhere.
    await panel.getByRole("heading", { name: PROMPT }).waitFor();
    await clickArmed(panel.getByRole("button", { name: "Deny", exact: true }));
    await panel.getByText("Denied. Nothing was connected.").waitFor();
    assert.deepEqual((await storage(panel, "local", "latch.bindings")) ?? [], []);
    assert.deepEqual(await bindingsOf(stack.apiKey), [], "the app's binding list stays empty");
    assert.deepEqual(await bindingsOf(globexKey), []);
    await eventually(() => pendingOf(stack.apiKey), [], "nothing awaits any more");
  } finally { await close(); }
});

test("code: a worker stopped mid long-poll wakes by itself; the open panel shows the prompt within a minute", async () => {
  const { context, close } = await launchBrowser();
  try {
    const panel = await openPanel(context);
    const code = await showCode(panel);
    await sleep(500); // the long-poll is waiting at the relay
    await stopWorkers(context);
    const approvedAt = Date.now();
    assert.equal((await approveAs(stack.apiKey, code)).status, 202);
    // No click, no reload: only the alarm armed before the poll can start the worker.
    await panel.getByRole("heading", { name: PROMPT }).waitFor({ timeout: 60000 });
    console.log(`# worker stopped mid-poll: prompt on the open panel ${Date.now() - approvedAt} ms after the approval`);
    await approveWhenArmed(panel);
    const [b] = await waitForBindings(panel, 1);
    assert.equal(b.userId, "dana");
    assert.deepEqual((await bindingsOf(stack.apiKey)).map((x) => x.bindingId), [b.bindingId]);
    await relayCall("DELETE", `/api/bindings/${b.bindingId}`, stack.apiKey);
  } finally { await close(); }
});

test("code: the prompt survives the browser restarting; Approve after the restart binds", async () => {
  const profileDir = mkdtempSync(join(tmpdir(), "latch-profile-kept-"));
  try {
    let { context, close } = await launchBrowser({ profileDir });
    let panel = await openPanel(context);
    const code = await showCode(panel);
    assert.equal((await approveAs(stack.apiKey, code)).status, 202);
    await panel.getByRole("heading", { name: PROMPT }).waitFor();
    await close();
    ({ context, close } = await launchBrowser({ profileDir }));
    try {
      panel = await openPanel(context);
      await approveWhenArmed(panel);
      const [b] = await waitForBindings(panel, 1);
      assert.equal(b.userId, "dana");
      await relayCall("DELETE", `/api/bindings/${b.bindingId}`, stack.apiKey);
    } finally { await close(); }
  } finally { rmSync(profileDir, { recursive: true, force: true }); }
});

test("code: with no Latch page open, an app's approval opens the prompt in a window; Approve there binds", async () => {
  const { context, close } = await launchBrowser();
  try {
    const panel = await openPanel(context);
    const code = await showCode(panel);
    await panel.close(); // the user went to the app to type the code
    const opened = context.waitForEvent("page", { predicate: (p) => p.url().endsWith("/panel.html"), timeout: 30000 });
    assert.equal((await approveAs(stack.apiKey, code)).status, 202);
    const prompt = await opened;
    await approveWhenArmed(prompt);
    const [b] = await waitForBindings(prompt, 1);
    assert.equal(b.userId, "dana");
    await relayCall("DELETE", `/api/bindings/${b.bindingId}`, stack.apiKey);
  } finally { await close(); }
});

test("opener: the tenant's own page shows 'Opened from'; the same kind of token from another origin shows the caution", async () => {
  const { context, close } = await launchBrowser();
  try {
    // A page anyone controls opens the connect page with a token for an Acme account. It
    // even answers opener checks, as a hostile page would; the browser never lets it see one.
    const token = await stack.mint("mallory");
    await context.route("http://evil.test/**", (route) => route.fulfill({
      contentType: "text/html",
      body: `<!doctype html><title>Free prizes</title><button id="go">Claim</button><script>
        addEventListener("message", (e) => { if (e.data && e.data.latch === "opener?") e.source.postMessage({ latch: "opener", nonce: e.data.nonce, tag: e.data.tag }, e.origin); });
        document.getElementById("go").onclick = () => open(${JSON.stringify(`${RELAY}/connect#token=${token}`)}, "latch-connect", "popup,width=480,height=640");
      </script>`,
    }));
    const evil = await context.newPage();
    await evil.goto("http://evil.test/");
    const opened = context.waitForEvent("page");
    await evil.getByRole("button", { name: "Claim" }).click();
    const popup = await opened;
    await clickArmed(popup.getByRole("button", { name: "Continue" }));
    const panel = await openPanel(context);
    await panel.getByRole("heading", { name: PROMPT }).waitFor();
    await panel.getByText("Latch could not confirm which site opened this request. Approve only if you just asked Acme to connect.").waitFor();
    assert.equal(await panel.getByText(/^Opened from/).count(), 0);
    await clickArmed(panel.getByRole("button", { name: "Deny", exact: true }));
    await panel.getByText("Nothing is waiting for your approval.").waitFor();

    // The tenant's own page, through embed.js: verified.
    const { popup: own } = await offerFromApp(context);
    await panel.getByText("Opened from http://localhost:8788", { exact: true }).waitFor();
    await clickArmed(panel.getByRole("button", { name: "Deny", exact: true }));
    await own.getByRole("heading", { name: "Not connected" }).waitFor();

    // Acme's own popup, navigated to someone else's token (as a page that can reach the
    // named window could): its opener is still Acme's page, but embed.js echoes only for
    // the token it handed out, so the prompt shows the caution.
    const foreign = await stack.mint("mallory");
    await own.goto(`${RELAY}/connect?hijacked=1#token=${foreign}`);
    assert.ok(await own.evaluate(() => window.opener !== null), "the opener survived the navigation");
    await clickArmed(own.getByRole("button", { name: "Continue" }));
    await panel.getByRole("heading", { name: PROMPT }).waitFor();
    await panel.getByText("Latch could not confirm which site opened this request. Approve only if you just asked Acme to connect.").waitFor();
    assert.equal(await panel.getByText(/^Opened from/).count(), 0);
    await clickArmed(panel.getByRole("button", { name: "Deny", exact: true }));
  } finally { await close(); }
});

test("opener: a pasted token shows the caution for its path", async () => {
  const { context, close } = await launchBrowser();
  try {
    const panel = await openPanel(context);
    await pasteToken(panel, await stack.mint("dana"));
    await panel.getByRole("heading", { name: PROMPT }).waitFor();
    await panel.getByText("You pasted this pairing token into Latch yourself. Approve only if you just asked Acme to connect.").waitFor();
    assert.equal(await panel.getByText(/^Opened from/).count(), 0);
    await approveWhenArmed(panel);
    await waitForBindings(panel, 1);
  } finally { await close(); }
});
