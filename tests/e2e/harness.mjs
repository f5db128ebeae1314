// End-to-end fixtures: a real relay process (LATCH_RELAY_BIN, npm run e2e: the debug build) on a fresh
// SQLite file, the Acme demo app, and Debian's Chromium with the built extension loaded.
import { spawn, execFileSync, execFile } from "node:child_process";
import { createServer, request as httpRequest } from "node:http";
import { mkdtempSync, rmSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const RELAY = "http://localhost:8787";
/** The relay's Prometheus metrics: their own listener, never the public one. */
export const RELAY_METRICS = "http://127.0.0.1:8789";
export const APP = "http://localhost:8788";
export const EXTENSION_ID = "caldpegfoiafoehigbniidhckihmjbop";
// LATCH_EXTENSION_DIR: another build of the extension (a test run against the build before a change).
export const EXTENSION_DIR = process.env.LATCH_EXTENSION_DIR || join(ROOT, "dist/extension");
// `npm run e2e` (and so `npm test`) sets LATCH_RELAY_BIN to the debug build `cargo test`
// already made (the same code; a release build only for the suite cost CI ~7 minutes).
// Unset, the release build: the benchmarks (tests/bench) measure that one.
export const RELAY_BIN = process.env.LATCH_RELAY_BIN || join(ROOT, "target/release/latch-relay");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Asks `check` every 100 ms until it answers something truthy (returned); fails with `what` after `ms`. */
export async function until(what, check, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const got = await check();
    if (got) return got;
    assert.ok(Date.now() < end, `never: ${what}`);
    await sleep(100);
  }
}

async function waitFor(url, ms = 15000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try { if ((await fetch(url)).ok) return; } catch {}
    await sleep(100);
  }
  throw new Error(`${url} did not come up within ${ms} ms`);
}

function runCli(bin, db, ...args) {
  return JSON.parse(execFileSync(bin, ["--database", db, ...args], { encoding: "utf8" }));
}

function freshDatabase(bin, dir, name) {
  const db = `sqlite://${join(dir, name)}`;
  const cli = (...args) => runCli(bin, db, ...args);
  cli("tenant", "create", "--name", "Acme Inc", "--id", "acme", "--origin", APP, "--captures", "--pair-url", `${APP}/pair`);
  const { apiKey } = cli("key", "create", "--tenant", "acme", "--label", "Acme");
  return { db, apiKey };
}

/**
 * A pass-through proxy on the relay's public port that can answer 503, counts requests, and
 * takes one-shot faults for a path (`once`), run once the request has fully arrived:
 * - `{ mode: "drop-before", before }`: runs `before()` (e.g. kill the relay), then drops the
 *   client's connection; nothing reaches the relay;
 * - `{ mode: "drop-after", before, after }`: runs `before()` (e.g. stop the worker that
 *   asked), forwards the request, reads the relay's whole answer, runs `after()`, then drops
 *   the client's connection: the relay committed, the client never hears it.
 * `done` (a promise on the returned rule) resolves when the fault has played out; the
 * relay's answer is then in `status` and `answer`.
 */
function startFaultProxy(listenPort, targetPort) {
  const state = {
    failing: false, requests: [], open: new Set(), rules: [],
    /** Starts or ends an outage; starting one also drops the requests in progress. */
    fail(on) { this.failing = on; if (on) for (const r of this.open) r.destroy(); },
    once(path, rule) {
      const r = { path, ...rule };
      r.done = new Promise((res) => { r.markDone = res; });
      this.rules.push(r);
      return r;
    },
  };
  const server = createServer(async (req, res) => {
    state.open.add(res);
    res.on("close", () => state.open.delete(res));
    state.requests.push({ at: Date.now(), path: req.url, failed: state.failing });
    if (state.failing) {
      res.writeHead(503, { "content-type": "application/json" }).end('{"error":"unavailable","message":"injected fault"}');
      return;
    }
    const i = state.rules.findIndex((r) => req.url.startsWith(r.path));
    const rule = i >= 0 ? state.rules.splice(i, 1)[0] : null;
    if (rule) {
      const body = [];
      for await (const c of req) body.push(c);
      await rule.before?.();
      if (rule.mode === "drop-before") {
        res.destroy();
        rule.markDone();
        return;
      }
      const up = httpRequest({ host: "127.0.0.1", port: targetPort, path: req.url, method: req.method, headers: req.headers }, async (r) => {
        const answer = [];
        for await (const c of r) answer.push(c);
        rule.status = r.statusCode;
        rule.answer = Buffer.concat(answer).toString();
        await rule.after?.();
        res.destroy();
        rule.markDone();
      });
      up.on("error", (e) => { rule.error = e; res.destroy(); rule.markDone(); });
      up.end(Buffer.concat(body));
      return;
    }
    const up = httpRequest({ host: "127.0.0.1", port: targetPort, path: req.url, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on("error", () => { res.destroy(); });
    req.pipe(up);
  });
  return new Promise((resolve) => server.listen(listenPort, "127.0.0.1", () => resolve({ server, state })));
}

/** The path of Debian's libfaketime (package libfaketime, installed with faketime). */
function libfaketime() {
  const lib = execFileSync("dpkg", ["-L", "libfaketime"], { encoding: "utf8" }).split("\n").find((l) => l.endsWith("/libfaketime.so.1"));
  if (!lib) throw new Error("libfaketime.so.1 not found: run tests/support/setup.sh (it installs faketime)");
  return lib;
}

/**
 * Starts relay + demo app. `env` adds relay environment (e.g. LATCH_PAIRING_TTL_SECONDS).
 * With `proxy: true` the relay listens on 8797 behind a fault-injecting proxy on 8787.
 * With `clockOffset` (e.g. "-10m") the relay runs under libfaketime, its wall clock that far
 * from the browser's (monotonic time untouched, so its timers still run true).
 * With `demoApp: false` nothing listens on the app's port (8788): the caller brings an app.
 */
/** Throws when something already answers on `url`: a stray process from an earlier run. */
async function mustBeFree(url) {
  const answered = await fetch(url).then(() => true, () => false);
  if (answered) throw new Error(`${url} already answers: a process from an earlier run holds the port (stop it first)`);
}

/**
 * The relay (on a fresh SQLite file), the demo app, optionally a fault proxy or a skewed
 * clock. `relayBin`: another relay binary (the upgrade test's old build); `restartRelay`
 * can start a different one on the same database.
 */
export async function startStack(env = {}, { proxy = false, clockOffset = null, demoApp = true, relayBin = RELAY_BIN, webhooks = false } = {}) {
  if (!existsSync(relayBin)) throw new Error(`${relayBin} missing: npm run e2e builds it (benchmarks: cargo build --release -p latch-relay)`);
  await mustBeFree(`${RELAY}/healthz`);
  await mustBeFree(`${APP}/`);
  const dir = mkdtempSync(join(tmpdir(), "latch-e2e-"));
  let bin = relayBin;
  let { db, apiKey } = freshDatabase(bin, dir, "latch.db");
  // The relay's webhooks to the demo app's receiver, with the secret printed once.
  const webhookSecret = webhooks
    ? runCli(bin, db, "tenant", "update", "--id", "acme", "--webhook-url", `${APP}/latch/webhooks`, "--dev").webhookSecret
    : undefined;
  const procs = [];
  const logs = [];
  const start = (cmd, args, extra) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...extra }, stdio: ["ignore", "pipe", "pipe"] });
    p.stdout.on("data", (d) => logs.push(d.toString()));
    p.stderr.on("data", (d) => logs.push(d.toString()));
    procs.push(p);
    return p;
  };
  const relayPort = proxy ? 8797 : 8787;
  const fault = proxy ? await startFaultProxy(8787, relayPort) : null;
  // libfaketime preloaded straight into the relay (not the `faketime` wrapper, which forks:
  // killing the wrapper orphaned the relay and hung the suite).
  const skew = clockOffset
    ? { LD_PRELOAD: libfaketime(), FAKETIME: clockOffset, FAKETIME_DONT_FAKE_MONOTONIC: "1" }
    : {};
  const startRelay = () =>
    start(bin, ["--database", db, "serve", "--dev", "--listen", `127.0.0.1:${relayPort}`, "--metrics-listen", "127.0.0.1:8789"], { LATCH_LOG: "warn", ...skew, ...env });
  let relay = startRelay();
  if (demoApp) start(process.execPath, [join(ROOT, "tests/demo-app/server.mjs")], { LATCH_API_KEY: apiKey, ...(webhookSecret && { LATCH_WEBHOOK_SECRET: webhookSecret }) });
  await waitFor(`${RELAY}/healthz`);
  if (demoApp) await waitFor(`${APP}/`);
  return {
    get db() { return db; }, get apiKey() { return apiKey; }, logs, fault,
    /** Runs the relay CLI against the stack's database; resolves to its JSON output. */
    cli(...args) {
      return new Promise((resolve, reject) => execFile(bin, ["--database", db, ...args], { encoding: "utf8" },
        (err, out, errOut) => (err ? reject(new Error(errOut || err.message)) : resolve(JSON.parse(out)))));
    },
    /** Kills the relay like a crash (SIGKILL), or stops it as a deploy does (`"SIGTERM"`). */
    async killRelay(signal = "SIGKILL") {
      const exited = new Promise((r) => relay.once("exit", r));
      relay.kill(signal);
      await exited;
    },
    /**
     * Starts the relay again, on the same database or on an empty new one; `relayBin`
     * replaces the binary from now on (an upgrade).
     */
    async restartRelay({ freshDb = false, relayBin: next = bin } = {}) {
      bin = next;
      if (freshDb) ({ db, apiKey } = freshDatabase(bin, dir, `latch-${Date.now()}.db`));
      relay = startRelay();
      await waitFor(`${RELAY}/healthz`);
    },
    async mint(userId = "dana") {
      const r = await fetch(`${RELAY}/pairing-tokens`, {
        method: "POST", headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({ userId }),
      });
      if (r.status !== 201) throw new Error(`mint answered ${r.status}`);
      return (await r.json()).pairingToken;
    },
    async describe(pairingToken) {
      const r = await fetch(`${RELAY}/pairing-tokens/describe`, {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ pairingToken }),
      });
      return { status: r.status, body: await r.json() };
    },
    async me(accessToken) {
      const r = await fetch(`${RELAY}/api/me`, { headers: { authorization: `Bearer ${accessToken}` } });
      return { status: r.status, body: await r.json() };
    },
    /**
     * The token gate's view of an access token seen from outside the browser: "key-bound"
     * (valid, its binding active, and usable only with the browser's key: the gate answers
     * `invalid_dpop_proof` only after the token itself passed, PROTOCOL §12), "accepted" (a
     * bearer token), or the gate's refusal ("access token invalid").
     */
    async gate(accessToken) {
      const { status, body } = await this.me(accessToken);
      if (status === 200) return "accepted";
      return body.error === "invalid_dpop_proof" ? "key-bound" : body.error;
    },
    async stop() {
      const running = procs.filter((p) => p.exitCode === null && p.signalCode === null);
      const exited = running.map((p) => new Promise((r) => p.once("exit", r)));
      for (const p of running) p.kill("SIGTERM");
      // Never wait forever for a process that ignores SIGTERM.
      const timer = setTimeout(() => { for (const p of running) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL"); }, 5000);
      await Promise.all(exited);
      clearTimeout(timer);
      if (fault) await new Promise((r) => { fault.server.closeAllConnections(); fault.server.close(r); });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Chromium with the unpacked extension in a fresh profile. `alsoLoad`: more unpacked
 * extension directories (the benchmark's plain-JS baseline). `language`: the UI language
 * (e.g. "de"), else the environment's. `colorScheme`: "light" or "dark" (the system theme).
 * `withoutExtension`: start with no extension; the returned `installExtension()` loads
 * Latch later (CDP `Extensions.loadUnpacked`), as a user installing it mid-flow.
 */
export async function launchBrowser({
  alsoLoad = [], language = null, colorScheme = "light", profileDir = null, withoutExtension = false,
  extensionDir = EXTENSION_DIR, developerMode = false,
} = {}) {
  // `profileDir`: reuse (and keep) a profile, to restart the browser on the same storage.
  const profile = profileDir ?? mkdtempSync(join(tmpdir(), "latch-profile-"));
  if (developerMode) {
    // chrome://extensions' Developer mode, as a developer with an unpacked extension has it:
    // without it Chromium disables a command-line extension that reloads itself
    // (DISABLE_UNSUPPORTED_DEVELOPER_EXTENSION), so an in-place update can't be tried.
    mkdirSync(join(profile, "Default"), { recursive: true });
    writeFileSync(join(profile, "Default/Preferences"), JSON.stringify({ extensions: { ui: { developer_mode: true } } }));
  }
  // `extensionDir`: another build of Latch (the upgrade test replaces its files in place and
  // reloads it, which needs `developerMode`).
  const dirs = [extensionDir, ...alsoLoad].join(",");
  // Port 0: Chromium picks a free one and writes it to DevToolsActivePort in the profile.
  const extensionArgs = withoutExtension
    ? ["--enable-unsafe-extension-debugging", "--remote-debugging-port=0"]
    : [`--disable-extensions-except=${dirs}`, `--load-extension=${dirs}`];
  const context = await chromium.launchPersistentContext(profile, {
    ...(withoutExtension ? { ignoreDefaultArgs: ["--disable-extensions"] } : {}),
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    colorScheme,
    // Chromium on Linux takes its UI language (chrome.i18n's locale) from the environment.
    ...(language ? { env: { ...process.env, LANGUAGE: language, LANG: `${language}.UTF-8` }, locale: language } : {}),
    args: [
      ...extensionArgs,
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
      // Experiments only, e.g. LATCH_CHROMIUM_FLAGS=--js-flags=--no-wasm-lazy-compilation.
      ...(process.env.LATCH_CHROMIUM_FLAGS ? process.env.LATCH_CHROMIUM_FLAGS.split(" ") : []),
    ],
  });
  const ids = () => context.serviceWorkers().map((w) => new URL(w.url()).host);
  if (withoutExtension) {
    let debuggerConnection = null;
    return {
      context,
      async installExtension() {
        const port = readFileSync(join(profile, "DevToolsActivePort"), "utf8").split("\n")[0];
        debuggerConnection = await chromium.connectOverCDP(`http://127.0.0.1:${port}`);
        const cdp = await debuggerConnection.newBrowserCDPSession();
        const { id } = await cdp.send("Extensions.loadUnpacked", { path: EXTENSION_DIR });
        await cdp.detach();
        if (id !== EXTENSION_ID) throw new Error(`loaded as ${id}, expected ${EXTENSION_ID}`);
      },
      async close() {
        await context.close();
        await debuggerConnection?.close().catch(() => {});
        if (!profileDir) rmSync(profile, { recursive: true, force: true });
      },
    };
  }
  const end = Date.now() + 15000;
  while (ids().length < 1 + alsoLoad.length) {
    if (Date.now() > end) throw new Error(`extension workers did not start: ${ids()}`);
    await sleep(50);
  }
  if (!ids().includes(EXTENSION_ID)) throw new Error(`extension ids ${ids()}, expected the fixed development id ${EXTENSION_ID}`);
  return {
    context,
    async close() { await context.close(); if (!profileDir) rmSync(profile, { recursive: true, force: true }); },
  };
}

/** App page → Connect Latch → connect popup → Continue (`beforeContinue` runs just before). */
export async function offerFromApp(context, beforeContinue = async () => {}) {
  const app = await context.newPage();
  await app.goto(`${APP}/`);
  const button = app.getByRole("button", { name: "Connect Latch" });
  await button.waitFor();
  const popupOpened = context.waitForEvent("page");
  await button.click();
  const popup = await popupOpened;
  await popup.waitForURL(/\/connect#token=/);
  const token = new URLSearchParams(new URL(popup.url()).hash.slice(1)).get("token");
  await popup.getByRole("heading", { name: "Connect Acme to Latch" }).waitFor();
  await beforeContinue();
  await clickArmed(popup.getByRole("button", { name: "Continue" }));
  await popup.getByRole("heading", { name: "Approve in the Latch side panel" }).waitFor();
  return { app, popup, token };
}

/** An extension page in a normal tab: the panel, usable to read storage and click. */
export async function openPanel(context) {
  const page = await context.newPage();
  await page.goto(`chrome-extension://${EXTENSION_ID}/panel.html`);
  await page.getByRole("heading", { name: "Connected apps" }).waitFor();
  return page;
}

/** The consent prompt's heading for the demo tenant. */
export const PROMPT = "Allow Acme to run tasks in your browser?";
/** The heading when the owner approves a code with the CLI (no API key: the tenant's name). */
export const CLI_PROMPT = "Allow Acme Inc to run tasks in your browser?";

/** Types a token into "Connect an app" and clicks Connect. */
export async function pasteToken(panel, token) {
  await panel.getByLabel("Pairing token").fill(token);
  await panel.getByRole("button", { name: "Connect", exact: true }).click();
}

/**
 * Clicks a consent button as a person does: the pointer comes onto it, then presses once it
 * is armed (Playwright waits while it is aria-disabled). The panel counts a mouse's click
 * only after the pointer moved in the page since the button armed (panel/arming.rs), and
 * Playwright's own click is a single move to the button's centre.
 */
export async function clickArmed(button) {
  await button.hover({ position: { x: 3, y: 3 } });
  await button.click();
}

/** Waits for the prompt (`heading`) and for Approve to arm (at most 2 s), then clicks it. */
export async function approveWhenArmed(panel, beforeClick = async () => {}, heading = PROMPT, timeout = 30000) {
  await panel.getByRole("heading", { name: heading }).waitFor({ timeout });
  const approve = panel.getByRole("button", { name: "Approve", exact: true });
  await approve.waitFor();
  const end = Date.now() + 2000;
  while (await approve.isDisabled()) {
    if (Date.now() > end) throw new Error("Approve never armed");
    await sleep(50);
  }
  await beforeClick();
  await clickArmed(approve);
}

/** Waits (polling every 10 ms) until exactly `n` bindings are stored; returns them. */
export async function waitForBindings(panel, n, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const b = (await storage(panel, "local", "latch.bindings")) || [];
    if (b.length === n) return b;
    if (Date.now() > end) throw new Error(`expected ${n} bindings, have ${b.length}`);
    await sleep(10);
  }
}

/** Pairs by pasting `token` and approving; returns the stored binding. */
export async function pairByPaste(panel, token) {
  await pasteToken(panel, token);
  await approveWhenArmed(panel);
  return (await waitForBindings(panel, 1))[0];
}

/**
 * A DPoP proof (PROTOCOL §12) signed in the extension's own origin with a binding's stored
 * key, as only code running as the extension can (SECURITY.md, "Honest limits"): for tests
 * that act as the extension would without going through its UI.
 */
export async function proofByExtension(page, slot, method, url, accessToken) {
  return page.evaluate(async ([slot, method, url, token]) => {
    const db = await new Promise((ok, fail) => { const r = indexedDB.open("latch"); r.onsuccess = () => ok(r.result); r.onerror = fail; });
    const rec = await new Promise((ok) => { const r = db.transaction("keys").objectStore("keys").get(slot); r.onsuccess = () => ok(r.result); });
    const b64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    const enc = (o) => b64(new TextEncoder().encode(JSON.stringify(o)));
    const ath = token ? b64(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token))) : undefined;
    const header = { typ: "dpop+jwt", alg: "ES256", jwk: { kty: "EC", crv: "P-256", x: rec.x, y: rec.y } };
    const claims = { jti: crypto.randomUUID(), htm: method, htu: url, iat: Math.floor(Date.now() / 1000), ...(ath ? { ath } : {}) };
    const input = `${enc(header)}.${enc(claims)}`;
    const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, rec.key, new TextEncoder().encode(input));
    return `${input}.${b64(sig)}`;
  }, [slot, method, url, accessToken]);
}

/** A relay call with the given API key (or none); resolves to `{ status, body }`. */
export async function relayCall(method, path, apiKey, body) {
  const headers = { "content-type": "application/json" };
  if (apiKey) headers.authorization = `Bearer ${apiKey}`;
  const r = await fetch(`${RELAY}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, body: await r.json().catch(() => null) };
}

export async function storage(panelPage, area, key) {
  return panelPage.evaluate(async ([a, k]) => (await chrome.storage[a].get(k))[k], [area, key]);
}

/** Stops every service worker, as Chrome does after 30 s idle. */
export async function stopWorkers(context) {
  const page = context.pages()[0] || (await context.newPage());
  const cdp = await context.newCDPSession(page);
  await cdp.send("ServiceWorker.enable");
  await cdp.send("ServiceWorker.stopAllWorkers");
  await cdp.detach();
}

/** URLs of every page target (the side panel shows up as one). */
export async function targetUrls(context) {
  const page = context.pages()[0] || (await context.newPage());
  const cdp = await context.newCDPSession(page);
  const { targetInfos } = await cdp.send("Target.getTargets");
  await cdp.detach();
  return targetInfos.map((t) => t.url);
}

export function screenshotPath(name) {
  const dir = join(ROOT, "docs");
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}

export { sleep, waitFor };
