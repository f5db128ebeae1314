// Key-bound sessions in real Chromium (issue 22, PROTOCOL §12): the extension binds each
// pairing to a non-extractable P-256 key kept in IndexedDB; a copy of `latch.bindings` is
// worth nothing without it (another browser profile, or any client holding the tokens),
// while the browser that holds the key keeps working, also after its worker was stopped.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { startStack, launchBrowser, openPanel, pairByPaste, relayCall, storage, stopWorkers, sleep, RELAY, until } from "./harness.mjs";

let stack;
after(async () => { await stack?.stop(); });

const ping = () => relayCall("POST", "/api/errands", stack.apiKey, { userId: "dana", kind: "ping", params: {} });
/** The waits here include a refresh, a reconnect or a second browser starting. */
const eventually = (what, check) => until(what, check, 15000);
const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());


async function call(method, path, { scheme = "Bearer", token, body } = {}) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `${scheme} ${token}`;
  const r = await fetch(`${RELAY}${path}`, { method, headers, body: body && JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
}

test("a copy of latch.bindings is refused everywhere else while this browser keeps working", async () => {
  stack = await startStack();
  const first = await launchBrowser();
  let second;
  try {
    const panel = await openPanel(first.context);
    const binding = await pairByPaste(panel, await stack.mint("dana"));
    assert.ok(binding.dpopKey, "the stored binding names its key's slot");
    const jkt = claimsOf(binding.accessToken).cnf?.jkt;
    assert.match(jkt ?? "", /^[A-Za-z0-9_-]{43}$/, "the access token is bound to a key (cnf.jkt)");
    // The key is in IndexedDB and can't be read out: WebCrypto refuses to export it.
    const exported = await panel.evaluate(async (slot) => {
      const db = await new Promise((ok, fail) => { const r = indexedDB.open("latch"); r.onsuccess = () => ok(r.result); r.onerror = fail; });
      const record = await new Promise((ok) => { const r = db.transaction("keys").objectStore("keys").get(slot); r.onsuccess = () => ok(r.result); });
      const key = record.key;
      const refused = await crypto.subtle.exportKey("jwk", key).then(() => false, () => true);
      return { type: key.type, extractable: key.extractable, refused };
    }, binding.dpopKey);
    assert.deepEqual(exported, { type: "private", extractable: false, refused: true });
    await eventually("the first pong", async () => (await ping()).status === 200);

    // Everything a stolen record holds, used from outside this browser: refused.
    const copied = await storage(panel, "local", "latch.bindings");
    const stolen = copied[0];
    for (const scheme of ["Bearer", "DPoP"]) {
      const me = await call("GET", "/api/me", { scheme, token: stolen.accessToken });
      assert.deepEqual([me.status, me.body.error], [401, "invalid_dpop_proof"], `${scheme}: ${JSON.stringify(me.body)}`);
    }
    const capture = await call("POST", "/api/inbox/v1/captures", { token: stolen.accessToken, body: { url: "https://example.com/", title: "t", text: "x" } });
    assert.equal(capture.body.error, "invalid_dpop_proof");
    const refresh = await call("POST", "/api/auth/refresh", { body: { refreshToken: stolen.refreshToken } });
    assert.deepEqual([refresh.status, refresh.body.error], [401, "invalid_dpop_proof"]);
    const revoke = await call("POST", "/api/auth/revoke", { body: { refreshToken: stolen.refreshToken } });
    assert.deepEqual([revoke.status, revoke.body.error], [401, "invalid_dpop_proof"], "a thief can't disconnect the user either");

    // The same record in a second browser profile: its extension has no key for it, so the
    // relay refuses its socket and its refresh, and it shows the binding needs pairing again.
    second = await launchBrowser();
    const otherPanel = await openPanel(second.context);
    await otherPanel.evaluate(async (bindings) => {
      // Expired, so the second browser refreshes at once instead of waiting for the schedule.
      bindings[0].accessExpiresAt = Date.now() - 1000;
      await chrome.storage.local.set({ "latch.bindings": bindings });
    }, copied);
    await stopWorkers(second.context); // its next start reads the planted record
    await otherPanel.reload();
    const marked = await eventually("the copy marked as needing pairing again", async () => {
      const [b] = (await storage(otherPanel, "local", "latch.bindings")) ?? [];
      return b?.needsRepair && b;
    });
    assert.equal(marked.needsRepair, "invalid_dpop_proof");

    // The browser that holds the key was never disturbed: its socket, its refresh.
    const pong = await eventually("a pong from the first browser", async () => {
      const r = await ping();
      return r.status === 200 && r;
    });
    assert.deepEqual(pong.body.result, { pong: true, appName: "Acme" });
    const [mine] = await storage(panel, "local", "latch.bindings");
    assert.ok(!mine.needsRepair, "this browser's binding is untouched");
    const list = await relayCall("GET", "/api/bindings", stack.apiKey);
    assert.equal(list.body.bindings.length, 1, "the binding was not revoked by the thief's tries");
  } finally {
    await second?.close();
    await first.close();
    await stack.stop();
    stack = null;
  }
});

test("the key outlives the worker: after a stop the restarted worker signs with it (refresh and socket)", async () => {
  stack = await startStack({ LATCH_ACCESS_TTL_SECONDS: "6" });
  const { context, close } = await launchBrowser();
  try {
    const panel = await openPanel(context);
    const binding = await pairByPaste(panel, await stack.mint("dana"));
    await eventually("the first pong", async () => (await ping()).status === 200);
    await stopWorkers(context);
    await sleep(7000); // the access token expired while no worker ran
    await panel.reload(); // wakes the worker: it refreshes and reconnects, with proofs by the stored key
    const refreshed = await eventually("a refresh by the restarted worker", async () => {
      const [b] = (await storage(panel, "local", "latch.bindings")) ?? [];
      return b && b.refreshToken !== binding.refreshToken && b;
    });
    assert.ok(!refreshed.needsRepair);
    assert.equal(refreshed.dpopKey, binding.dpopKey, "the same key");
    assert.equal(claimsOf(refreshed.accessToken).cnf.jkt, claimsOf(binding.accessToken).cnf.jkt);
    const pong = await eventually("a pong through the new socket", async () => {
      const r = await ping();
      return r.status === 200 && r;
    });
    assert.equal(pong.body.result.pong, true);
  } finally { await close(); await stack.stop(); stack = null; }
});

test("a binding stored before keys (a version-1 record, keyless at the relay) is bound by its next refresh, no click", async () => {
  stack = await startStack({ LATCH_ACCESS_TTL_SECONDS: "6" });
  const { context, close } = await launchBrowser();
  try {
    // What the build before keys left behind: a keyless binding at the relay (a redeem with
    // no proof) and its record as that build wrote it (no `version`, no `dpopKey`).
    const pairingToken = await stack.mint("dana");
    const r = await call("POST", "/pairing-tokens/redeem", { body: { pairingToken, deviceName: "Chromium 156 on Linux" } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.tokenType, "Bearer");
    const now = Date.now();
    const old = {
      bindingId: r.body.binding.bindingId, tenantId: "acme", appName: "Acme", userId: "dana",
      accessToken: r.body.accessToken, refreshToken: r.body.refreshToken,
      accessExpiresAt: now + (r.body.accessExpiresAt - r.body.serverTime),
      refreshExpiresAt: now + (r.body.refreshExpiresAt - r.body.serverTime),
      pairedAt: now, accessObtainedAt: now, deviceName: "Chromium 156 on Linux",
    };
    const panel = await openPanel(context);
    await panel.evaluate(async (b) => { await chrome.storage.local.set({ "latch.bindings": [b] }); }, old);
    await stopWorkers(context);
    await panel.reload();
    await eventually("a pong over the old bearer binding", async () => (await ping()).status === 200);

    // Its next refresh (the access token lives 6 s) binds a key: no click, same binding.
    const upgraded = await eventually("the record upgraded", async () => {
      const [b] = (await storage(panel, "local", "latch.bindings")) ?? [];
      return b?.dpopKey && b;
    });
    assert.equal(upgraded.bindingId, old.bindingId);
    assert.equal(upgraded.version, 2);
    assert.ok(!upgraded.needsRepair);
    assert.match(claimsOf(upgraded.accessToken).cnf?.jkt ?? "", /^[A-Za-z0-9_-]{43}$/);
    assert.equal(await stack.gate(upgraded.accessToken), "key-bound");
    assert.equal(await stack.gate(old.accessToken), "access token invalid", "the bearer token died with the upgrade");
    const old401 = await call("POST", "/api/auth/refresh", { body: { refreshToken: upgraded.refreshToken } });
    assert.equal(old401.body.error, "invalid_dpop_proof", "the binding now needs the browser's key");
    const pong = await eventually("a pong after the upgrade", async () => {
      const p = await ping();
      return p.status === 200 && p;
    });
    assert.equal(pong.body.bindingId, old.bindingId);
  } finally { await close(); await stack.stop(); stack = null; }
});
