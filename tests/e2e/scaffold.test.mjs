// `latch-relay scaffold web-pairing` for each stack: generate the app, install what it
// needs from the registries (npm, PyPI, crates.io), start it on the app's port against a
// real relay, and pair through it in real Chromium with the built extension.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  startStack, launchBrowser, openPanel, approveWhenArmed, waitForBindings, offerFromApp, waitFor,
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
  test(`scaffold ${name}: the generated route mints, and a browser pairs through it in one click`, async () => {
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

    app = await startApp(generated[name], { LATCH_DEMO_USER_ID: "dana" });
    const { context, close } = await launchBrowser();
    try {
      const { app: page } = await offerFromApp(context);
      const panel = await openPanel(context);
      await approveWhenArmed(panel);
      const [binding] = await waitForBindings(panel, 1);
      assert.equal(binding.tenantId, "acme");
      assert.equal(binding.userId, "dana");
      await page.getByRole("button", { name: "Latch Connected" }).waitFor({ timeout: 10000 });
    } catch (e) {
      throw new Error(`${e.message}\napp output:\n${app.logs.join("")}`);
    } finally {
      await close();
      await app.stop();
    }
  });
}
