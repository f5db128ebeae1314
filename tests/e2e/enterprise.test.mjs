// Enterprise auto-pair (PROTOCOL §8) in real Chromium: the admin's policy is applied the way
// Debian's chromium reads it (a JSON file under /etc/chromium/policies/managed, written by
// the test and removed afterwards), the extension enrolls at start-up with no click, and a
// tampered, expired or replayed assertion binds nothing while the panel says why.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createPrivateKey, sign as edSign } from "node:crypto";
import { mkdirSync, writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  startStack, launchBrowser, openPanel, waitForBindings, storage, stopWorkers, sleep,
  EXTENSION_ID, RELAY, RELAY_BIN,
} from "./harness.mjs";

const POLICY_DIR = "/etc/chromium/policies/managed";
const POLICY_FILE = join(POLICY_DIR, "latch-e2e-enrollment.json");

function setPolicy(policy) {
  mkdirSync(POLICY_DIR, { recursive: true });
  writeFileSync(POLICY_FILE, JSON.stringify({ "3rdparty": { extensions: { [EXTENSION_ID]: policy } } }));
}
const clearPolicy = () => rmSync(POLICY_FILE, { force: true });

let stack;
let key; // {keyId, privateKey, publicKey}
before(async () => {
  clearPolicy();
  stack = await startStack();
  key = await stack.cli("tenant", "enroll-key", "--tenant", "acme");
});
after(async () => {
  clearPolicy();
  await stack?.stop();
});

/** An assertion from the admin's helper, `latch-relay tenant sign-assertion`. */
function signed(user = "dana") {
  const out = execFileSync(RELAY_BIN, ["tenant", "sign-assertion", "--tenant", "acme", "--user", user, "--aud", RELAY], {
    env: { ...process.env, LATCH_ENROLL_PRIVATE_KEY: key.privateKey }, encoding: "utf8",
  });
  return JSON.parse(out).assertion;
}

/** An EdDSA JWT signed here with the same key, for claims the helper refuses to make (expired). */
function handSigned(claims) {
  const b64 = (x) => Buffer.from(typeof x === "string" ? x : JSON.stringify(x)).toString("base64url");
  const seed = Buffer.from(key.privateKey.slice("lesk_".length), "base64url");
  const pkcs8 = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]);
  const privateKey = createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" });
  const input = `${b64({ alg: "EdDSA", typ: "JWT", kid: key.keyId })}.${b64(claims)}`;
  return `${input}.${edSign(null, Buffer.from(input), privateKey).toString("base64url")}`;
}

/** Launches Chromium with `policy` applied; runs `body(context, panel)`. */
async function withPolicy(policy, body) {
  setPolicy(policy);
  const { context, close } = await launchBrowser();
  try {
    await body(context, await openPanel(context));
  } finally {
    await close();
    clearPolicy();
  }
}

const policyFor = (assertion) => ({ relayUrl: RELAY, tenantId: "acme", assertion });
const bindingsOnRelay = async () => (await stack.cli("binding", "list", "--tenant", "acme", "--json")).filter((b) => !b.revokedAt);

let enrolled; // the assertion the first test used

test("a policy enrolls the browser at start-up with no click: managed, no Disconnect, once", async () => {
  enrolled = signed();
  await withPolicy(policyFor(enrolled), async (context, panel) => {
    const [b] = await waitForBindings(panel, 1, 15000);
    assert.equal(b.managed, true);
    assert.equal(b.tenantId, "acme");
    assert.equal(b.userId, "dana");
    assert.equal(await stack.gate(b.accessToken), "key-bound");
    const row = panel.locator(`[data-binding-id="${b.bindingId}"]`);
    await row.getByText("Managed by your organization").waitFor();
    assert.equal(await row.getByRole("button", { name: "Disconnect" }).count(), 0);
    // Nor can a message disconnect it.
    const reply = await panel.evaluate((bindingId) => chrome.runtime.sendMessage({ type: "panel.disconnect", bindingId }), b.bindingId);
    assert.equal(reply.error, "managed_binding");
    // A restarted worker does not enroll again.
    await stopWorkers(context);
    await panel.evaluate(() => chrome.runtime.sendMessage({ type: "panel.state" }));
    await sleep(500);
    assert.equal((await storage(panel, "local", "latch.bindings")).length, 1);
    assert.equal((await bindingsOnRelay()).length, 1);
  });
});

/** Starts a browser with `assertion` in the policy; the panel must explain `sentence` and nothing binds. */
async function refused(assertion, sentence) {
  const before = (await bindingsOnRelay()).length;
  await withPolicy(policyFor(assertion), async (_context, panel) => {
    await panel.getByRole("alert").filter({ hasText: "Your organization's Latch policy did not connect this browser." })
      .filter({ hasText: sentence }).waitFor({ timeout: 15000 });
    assert.deepEqual((await storage(panel, "local", "latch.bindings")) || [], []);
  });
  assert.equal((await bindingsOnRelay()).length, before, "nothing bound at the relay");
}

test("a replayed assertion (another browser with the same policy) binds nothing; the panel says why", async () => {
  assert.ok(enrolled, "runs after the enrolling test");
  await refused(enrolled, "already used by another browser");
});

test("a tampered assertion binds nothing; the panel says why", async () => {
  const [h, , s] = signed().split(".");
  const claims = Buffer.from(signed("mallory").split(".")[1], "base64url");
  await refused(`${h}.${claims.toString("base64url")}.${s}`, "not signed by a key the relay knows");
});

test("an expired assertion binds nothing; the panel says why", async () => {
  const exp = Math.floor(Date.now() / 1000) - 600;
  const nonce = "expired-nonce-0123456789";
  await refused(handSigned({ tenantId: "acme", userId: "dana", aud: RELAY, exp, nonce }), "has expired");
});

test("a changed policy enrolls again, replacing the earlier managed binding", async () => {
  const first = signed("dana");
  await withPolicy(policyFor(first), async (context, panel) => {
    const [b1] = await waitForBindings(panel, 1, 15000);
    setPolicy(policyFor(signed("dana")));
    // Chromium re-reads policy files on its own schedule; chrome://policy reloads them now.
    const policyPage = await context.newPage();
    await policyPage.goto("chrome://policy");
    await policyPage.getByRole("button", { name: /reload policies/i }).click();
    const end = Date.now() + 15000;
    for (;;) {
      const all = (await storage(panel, "local", "latch.bindings")) || [];
      if (all.length === 1 && all[0].bindingId !== b1.bindingId) break;
      assert.ok(Date.now() < end, `not re-enrolled: ${JSON.stringify(all.map((b) => b.bindingId))}`);
      await sleep(100);
    }
    const [b2] = await storage(panel, "local", "latch.bindings");
    assert.equal(b2.managed, true);
  });
});
