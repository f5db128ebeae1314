// `latch-relay scaffold web-pairing` for each stack: generate the app, install what it
// needs from the registries (npm, PyPI, crates.io), start it on the app's port against a
// real relay, pair through it in real Chromium with the built extension, and check its
// webhook receiver: forged, tampered and stale events refused, the relay's binding.created taken.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, readFileSync } from "node:fs";
import { createHmac } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  startStack, launchBrowser, openPanel, approveWhenArmed, waitForBindings, offerFromApp, waitFor, until,
  APP, ROOT, RELAY_BIN,
} from "./harness.mjs";

const ROUTE = "/api/latch/token";
const PORT = new URL(APP).port;

let stack;
const generated = {};
before(async () => { stack = await startStack({}, { demoApp: false }); });
after(async () => {
  await stack?.stop();
  for (const g of Object.values(generated)) rmSync(g.dir, { recursive: true, force: true });
});

/** Signs like the relay (PROTOCOL §11), for the forged and stale requests below. */
function signed(secret, body, t = Math.floor(Date.now() / 1000)) {
  return `t=${t},v1=${createHmac("sha256", secret).update(`${t}.${body}`).digest("hex")}`;
}

/** The receiver answers 400 to an unsigned, wrongly signed, tampered or stale event. */
async function refusesForgedWebhooks(secret) {
  const body = JSON.stringify({ id: "evt_forged", type: "binding.revoked", createdAt: Date.now(), data: {} });
  const post = (signature, b = body) => fetch(`${APP}/latch/webhooks`, {
    method: "POST", body: b, headers: { "content-type": "application/json", ...(signature && { "latch-signature": signature }) },
  });
  const stale = Math.floor(Date.now() / 1000) - 600;
  for (const [what, r] of [
    ["unsigned", await post(null)],
    ["another secret", await post(signed("whsec_other", body))],
    ["tampered body", await post(signed(secret, body), body.replace("revoked", "created"))],
    ["stale", await post(signed(secret, body, stale))],
  ]) assert.equal(r.status, 400, what);
  const genuine = await post(signed(secret, body));
  assert.equal(genuine.status, 204, "a correctly signed event is taken");
}

const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...opts });

/** Generates the stack's app into a fresh directory and installs its dependencies. */
function generate(stack) {
  const dir = mkdtempSync(join(tmpdir(), `latch-scaffold-${stack}-`));
  const out = run(RELAY_BIN, ["scaffold", "web-pairing", "--stack", stack, "--token-route", ROUTE, "--tenant", "acme", "--out", dir]);
  assert.match(out, /run it: /);
  if (stack === "express") {
    run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: dir });
    return { dir, cmd: process.execPath, args: ["server.js"] };
  }
  if (stack === "flask") {
    run("python3", ["-m", "venv", ".venv"], { cwd: dir });
    run(join(dir, ".venv/bin/pip"), ["install", "--quiet", "--disable-pip-version-check", "-r", "requirements.txt"], { cwd: dir });
    return { dir, cmd: join(dir, ".venv/bin/python"), args: ["app.py"] };
  }
  // Its own target directory under the workspace's, so a local rerun builds incrementally.
  const target = join(ROOT, "target/scaffold-axum");
  run("cargo", ["build", "--release", "--quiet", "--target-dir", target], { cwd: dir });
  return { dir, cmd: join(target, "release/latch-web-pairing"), args: [] };
}

/** Starts a generated app on the app's port; resolves once it serves its page. */
async function startApp(g, env) {
  const logs = [];
  const p = spawn(g.cmd, g.args, {
    cwd: g.dir, stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PORT, HOST: "127.0.0.1", LATCH_API_KEY: stack.apiKey, ...env },
  });
  p.stdout.on("data", (d) => logs.push(d.toString()));
  p.stderr.on("data", (d) => logs.push(d.toString()));
  try {
    await waitFor(`${APP}/`, 30000);
  } catch (e) {
    p.kill("SIGKILL");
    throw new Error(`${e.message}\n${logs.join("")}`);
  }
  return {
    logs,
    async stop() {
      const exited = new Promise((r) => p.once("exit", r));
      p.kill("SIGTERM");
      await exited;
    },
  };
}

for (const name of ["express", "flask", "axum"]) {
  test(`scaffold ${name}: the generated route mints, a browser pairs through it in one click, and its receiver takes only signed webhooks`, async () => {
    generated[name] = generate(name);
    const server = readFileSync(join(generated[name].dir, { express: "server.js", flask: "app.py", axum: "src/main.rs" }[name]), "utf8");
    assert.ok(server.includes(`"${ROUTE}"`), "the route asked for");

    // Nobody signed in: the route refuses and the relay mints nothing.
    let app = await startApp(generated[name], {});
    try {
      const r = await fetch(`${APP}${ROUTE}`, { method: "POST" });
      assert.equal(r.status, 401);
      assert.equal((await r.json()).error, "not_signed_in");
    } finally { await app.stop(); }

    // The relay's webhooks go to the generated receiver, with the secret printed once.
    const { webhookSecret } = await stack.cli("tenant", "update", "--id", "acme", "--webhook-url", `${APP}/latch/webhooks`, "--dev");
    app = await startApp(generated[name], { LATCH_DEMO_USER_ID: "dana", LATCH_WEBHOOK_SECRET: webhookSecret });
    const { context, close } = await launchBrowser();
    try {
      await refusesForgedWebhooks(webhookSecret);
      const { app: page } = await offerFromApp(context);
      const panel = await openPanel(context);
      await approveWhenArmed(panel);
      const [binding] = await waitForBindings(panel, 1);
      assert.equal(binding.tenantId, "acme");
      assert.equal(binding.userId, "dana");
      await page.getByRole("button", { name: "Latch Connected" }).waitFor({ timeout: 10000 });
      // The relay delivers within its next pass (every second); the receiver verified it.
      const heard = new RegExp(`latch webhook binding\\.created evt_\\w+ .*"bindingId":"${binding.bindingId}"`);
      await until("binding.created at the generated receiver", () => heard.test(app.logs.join("")));
    } catch (e) {
      throw new Error(`${e.message}\napp output:\n${app.logs.join("")}`);
    } finally {
      await close();
      await app.stop();
    }
  });
}
