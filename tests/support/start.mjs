// `npm start`: relay + Acme demo app with a ready demo tenant, and Chromium with the
// extension (headed when a display exists). State lives in .latch-dev/. Ctrl-C stops all.
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const DEV = join(ROOT, ".latch-dev");
const RELAY_BIN = join(ROOT, "target/release/latch-relay");
const DB = `sqlite://${join(DEV, "latch.db")}`;
const EXTENSION_DIR = join(ROOT, "dist/extension");
const APP = "http://localhost:8788";

mkdirSync(DEV, { recursive: true });
console.log("start: building the relay (cargo build --release -p latch-relay)");
execFileSync("cargo", ["build", "--release", "-p", "latch-relay"], { cwd: ROOT, stdio: "inherit" });

const relayCli = (...args) => JSON.parse(execFileSync(RELAY_BIN, ["--database", DB, ...args], { encoding: "utf8" }));
const tenantFile = join(DEV, "acme.json");
if (!existsSync(tenantFile)) {
  relayCli("tenant", "create", "--name", "Acme Inc", "--id", "acme", "--origin", APP, "--captures", "--pair-url", `${APP}/pair`);
  const key = relayCli("key", "create", "--tenant", "acme", "--label", "Acme");
  // The demo app's webhook receiver; the secret is printed once, so it is kept with the key.
  const { webhookSecret } = relayCli("tenant", "update", "--id", "acme", "--webhook-url", `${APP}/latch/webhooks`, "--dev");
  writeFileSync(tenantFile, JSON.stringify({ ...key, webhookSecret }), { mode: 0o600 });
}
const { apiKey, webhookSecret } = JSON.parse(readFileSync(tenantFile, "utf8"));

const children = [];
const run = (name, cmd, args, env = {}) => {
  const p = spawn(cmd, args, { stdio: "inherit", env: { ...process.env, ...env } });
  p.on("exit", (code) => { if (!stopping) { console.error(`start: ${name} exited (${code}); stopping`); stop(1); } });
  children.push(p);
};
let stopping = false;
function stop(code = 0) {
  stopping = true;
  for (const c of children) c.kill("SIGTERM");
  setTimeout(() => process.exit(code), 500);
}
process.on("SIGINT", () => stop(0));
process.on("SIGTERM", () => stop(0));

run("relay", RELAY_BIN, ["--database", DB, "serve", "--dev"]);
run("acme", process.execPath, [join(ROOT, "tests/demo-app/server.mjs")], { LATCH_API_KEY: apiKey, ...(webhookSecret && { LATCH_WEBHOOK_SECRET: webhookSecret }) });

for (let i = 0; i < 100; i++) {
  try { if ((await fetch("http://localhost:8787/healthz")).ok) break; } catch {}
  await new Promise((r) => setTimeout(r, 100));
}

if (process.env.DISPLAY || process.env.WAYLAND_DISPLAY) {
  run("chromium", "/usr/bin/chromium", [
    `--user-data-dir=${join(DEV, "profile")}`, `--disable-extensions-except=${EXTENSION_DIR}`,
    `--load-extension=${EXTENSION_DIR}`, "--no-first-run", APP + "/",
  ]);
} else {
  console.log(`
start: no display found, so no browser was launched.
  unpacked extension: ${EXTENSION_DIR}   (chrome://extensions → Developer mode → Load unpacked)
  demo app:           ${APP}/           (click "Connect Latch")
  relay:              http://localhost:8787
Ctrl-C stops everything.`);
}
