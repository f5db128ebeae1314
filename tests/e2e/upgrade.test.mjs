// An upgrade never costs a pairing (issue 22): the relay and the extension as they were
// before key-bound sessions (the commit tests/support/old-build.sh names, built by it and
// cached per machine) pair; then both are replaced in place, as a deploy and an extension update do:
// the new relay on the same database, the new extension's files over the old ones and the
// extension reloaded. The binding keeps answering pings, and its next refresh binds it to a
// key, with no click.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  startStack, launchBrowser, openPanel, pairByPaste, relayCall, storage, until, ROOT, RELAY_BIN, EXTENSION_DIR, EXTENSION_ID,
} from "./harness.mjs";

let stack;
after(async () => { await stack?.stop(); });

const ping = () => relayCall("POST", "/api/errands", stack.apiKey, { userId: "dana", kind: "ping", params: {} });
const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());
/** Waits that span a relay restart, an extension reload or a refresh (tokens live 6 s). */
const eventually = (what, check) => until(what, check, 20000);
const pong = (what) => eventually(what, async () => {
  const r = await ping();
  return r.status === 200 && r.body;
});

test("a pairing made by the build before keys survives replacing relay and extension, and gets a key with no click", async () => {
  const oldBuild = execFileSync("bash", [join(ROOT, "tests/support/old-build.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
  const installed = mkdtempSync(join(tmpdir(), "latch-installed-"));
  cpSync(join(oldBuild, "extension"), installed, { recursive: true });
  stack = await startStack({ LATCH_ACCESS_TTL_SECONDS: "6" }, { relayBin: join(oldBuild, "latch-relay") });
  const { context, close } = await launchBrowser({ extensionDir: installed, developerMode: true });
  try {
    // The old build pairs the way it always did: a keyless binding, a record with no version.
    let panel = await openPanel(context);
    const before = await pairByPaste(panel, await stack.mint("dana"));
    assert.equal(before.dpopKey, undefined, "the old extension holds no key");
    assert.equal(before.version, undefined, "the old extension wrote no record version");
    assert.equal(claimsOf(before.accessToken).cnf, undefined, "the old relay issues bearer tokens");
    const first = await pong("a pong from the old build");
    assert.equal(first.bindingId, before.bindingId);

    // Deploy: the new relay on the same database (its migrations run at start).
    await stack.killRelay("SIGTERM");
    await stack.restartRelay({ relayBin: RELAY_BIN });
    const acrossDeploy = await pong("a pong from the old extension through the new relay");
    assert.equal(acrossDeploy.bindingId, before.bindingId);
    // Extensions update later than relays deploy: the old build keeps refreshing, keyless.
    const refreshedByOld = await eventually("a refresh by the old extension at the new relay", async () => {
      const [b] = (await storage(panel, "local", "latch.bindings")) ?? [];
      return b && b.refreshToken !== before.refreshToken && b;
    });
    assert.equal(refreshedByOld.bindingId, before.bindingId);
    assert.ok(!refreshedByOld.needsRepair && !refreshedByOld.dpopKey);
    assert.equal(await stack.gate(refreshedByOld.accessToken), "accepted", "still a bearer binding");

    // Extension update: the new files over the old ones, then a reload, as Chrome does.
    rmSync(installed, { recursive: true, force: true });
    cpSync(EXTENSION_DIR, installed, { recursive: true });
    await panel.evaluate(() => chrome.runtime.reload()).catch(() => {}); // the page goes with the old extension
    panel = await eventually("the new extension's panel", async () => {
      // Chromium blocks the extension's pages while it reloads (ERR_BLOCKED_BY_CLIENT).
      const page = await context.newPage();
      try {
        await page.goto(`chrome-extension://${EXTENSION_ID}/panel.html`, { timeout: 3000 });
        await page.getByRole("heading", { name: "Connected apps" }).waitFor({ timeout: 3000 });
        return page;
      } catch {
        await page.close();
        return null;
      }
    });
    const upgraded = await eventually("the stored binding bound to a key", async () => {
      const [b] = (await storage(panel, "local", "latch.bindings")) ?? [];
      return b?.dpopKey && b;
    });
    assert.equal(upgraded.bindingId, before.bindingId, "the same binding, not a new pairing");
    assert.equal(upgraded.version, 2, "the record was migrated on read");
    assert.ok(!upgraded.needsRepair);
    assert.match(claimsOf(upgraded.accessToken).cnf?.jkt ?? "", /^[A-Za-z0-9_-]{43}$/);
    assert.equal(await stack.gate(upgraded.accessToken), "key-bound", "the relay now requires this browser's key");

    const after = await pong("a pong after both upgrades");
    assert.equal(after.bindingId, before.bindingId);
    const list = await relayCall("GET", "/api/bindings", stack.apiKey);
    assert.deepEqual(list.body.bindings.map((b) => b.bindingId), [before.bindingId], "one binding, never re-paired");
  } finally {
    await close();
    await stack.stop();
    stack = null;
    rmSync(installed, { recursive: true, force: true });
  }
});
