// "Acme", a demo tenant app, written the way a customer would integrate Latch:
//  * a signed-in user (a session cookie; the demo signs everyone in as "dana"),
//  * one server route that mints a pairing token with the app's API key (never sent to
//    the browser), and
//  * the embed script tag + container on its page, and
//  * a webhook receiver (LATCH_WEBHOOK_SECRET: what `tenant update --webhook-url` printed)
//    whose verified events the page lists.
// Usage: LATCH_API_KEY=lak_… node server.mjs  [PORT=8788 RELAY_URL=http://localhost:8787 TENANT=acme]
import { createServer } from "node:http";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

const PORT = Number(process.env.PORT || 8788);
const HOST = process.env.HOST || "127.0.0.1";
const RELAY_URL = process.env.RELAY_URL || "http://localhost:8787";
const API_KEY = process.env.LATCH_API_KEY;
const TENANT = process.env.TENANT || "acme";
const DEMO_USER = { id: process.env.DEMO_USER || "dana", name: "Dana Scully" };
const ORIGIN = process.env.APP_ORIGIN || `http://localhost:${PORT}`;
if (!API_KEY) { console.error("LATCH_API_KEY is required"); process.exit(2); }

const WEBHOOK_SECRET = process.env.LATCH_WEBHOOK_SECRET;
const sessions = new Map(); // session id -> user
const heard = []; // Latch webhook events, newest first (at most 50), each once

function sessionOf(req) {
  const m = /(?:^|;\s*)acme_session=([a-f0-9]{32})/.exec(req.headers.cookie || "");
  return m ? sessions.get(m[1]) : undefined;
}

function page(user) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:640px;margin:40px auto;padding:0 20px}
header{display:flex;justify-content:space-between;align-items:center}
[data-latch-connect] button{font:inherit;font-weight:600;padding:10px 18px;border-radius:8px;border:0;background:#1f7a4d;color:#fff;cursor:pointer}
[data-latch-connect] button:disabled{background:#5a8f73;cursor:default}</style>
</head><body>
<header><h1>Acme</h1><span id="who">Signed in as ${user.name} (${user.id})</span></header>
<main>
<p>Connect your browser so Acme can run small tasks in it for you.</p>
<div data-latch-connect></div>
<script src="${RELAY_URL}/embed.js" data-latch-token-url="/latch/pairing-token" data-latch-tenant="${TENANT}"></script>
<p><button type="button" id="ping">Ping browser</button> <span id="ping-result" role="status"></span></p>
<script src="/app.js"></script>
<p>No button working in your browser? <a href="/pair">Approve a pairing code</a> from Latch's side panel instead.</p>
<h2>What Latch told us</h2>
<ul id="latch-events">${heardBy(user).map((e) => `<li>${esc(e.type)}: ${esc(describe(e))}</li>`).join("") || "<li>Nothing yet.</li>"}</ul>
</main>
</body></html>`;
}

// The page's own script: asks our server to ping the user's browser through Latch.
const APP_JS = `document.getElementById("ping").addEventListener("click", async () => {
  const out = document.getElementById("ping-result");
  out.textContent = "Pinging…";
  const r = await fetch("/latch/ping", { method: "POST", credentials: "same-origin" });
  const b = await r.json();
  out.textContent = r.ok && b.ok ? "Pong from " + b.result.appName + " in " + b.rttMs + " ms" : "No answer: " + (b.message || b.error);
});`;

const heardBy = (user) => heard.filter((e) => e.data.userId === user.id);
const describe = (e) => [e.data.deviceName, e.data.userId && `user ${e.data.userId}`, e.data.by && `by ${e.data.by}`].filter(Boolean).join(", ");

/** `Latch-Signature: t=…,v1=hex HMAC-SHA-256 of "t.body"`: the secret's, and at most 5 minutes old. */
function latchSignatureHolds(header, body) {
  const parts = Object.fromEntries(String(header || "").split(",").map((p) => [p.split("=")[0], p.slice(p.indexOf("=") + 1)]));
  const t = Number(parts.t);
  if (!WEBHOOK_SECRET || !Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > 300 || !/^[0-9a-f]{64}$/.test(parts.v1 || "")) return false;
  const expected = createHmac("sha256", WEBHOOK_SECRET).update(`${t}.`).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(parts.v1, "hex"));
}

function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (c) => { size += c.length; if (size > limit) req.destroy(); else chunks.push(c); });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function pairPage(user, message = "", ok = false, code = "") {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme — approve a Latch code</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:640px;margin:40px auto;padding:0 20px}
input{font:600 20px ui-monospace,monospace;letter-spacing:.1em;padding:8px;width:12ch;text-transform:uppercase}
button{font:inherit;font-weight:600;padding:9px 18px;border-radius:8px;border:0;background:#1f7a4d;color:#fff}
.ok{color:#1f7a4d}.err{color:#b3261e}</style></head><body>
<h1>Approve a Latch code</h1>
<p>Signed in as ${esc(user.name)} (${esc(user.id)}). Type the code Latch's side panel shows.</p>
<form method="post" action="/pair">
  <label for="code">Pairing code</label><br>
  <input id="code" name="code" autocomplete="off" spellcheck="false" placeholder="XXXX-XXXX" required maxlength="9" value="${esc(code.slice(0, 9))}">
  <button type="submit">Approve</button>
</form>
<p role="status" class="${ok ? "ok" : "err"}">${esc(message)}</p>
<p><a href="/">Back to Acme</a></p>
</body></html>`;
}

async function approveCode(user, code) {
  const r = await fetch(`${RELAY_URL}/api/pairing/approve`, {
    method: "POST",
    headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ code, userId: user.id }),
  });
  return { status: r.status, body: await r.json().catch(() => ({})) };
}

function readForm(req) {
  return new Promise((resolve) => {
    let data = "";
    req.on("data", (c) => { data += c; if (data.length > 4096) req.destroy(); });
    req.on("end", () => resolve(new URLSearchParams(data)));
  });
}

async function mintPairingToken(user) {
  const r = await fetch(`${RELAY_URL}/pairing-tokens`, {
    method: "POST",
    headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ userId: user.id }),
  });
  return { status: r.status, body: await r.text() };
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, ORIGIN);
  if (req.method === "GET" && url.pathname === "/") {
    let user = sessionOf(req);
    const headers = { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" };
    if (!user) {
      const sid = randomBytes(16).toString("hex");
      user = DEMO_USER;
      sessions.set(sid, user);
      headers["set-cookie"] = `acme_session=${sid}; HttpOnly; SameSite=Lax; Path=/`;
    }
    res.writeHead(200, headers).end(page(user));
    return;
  }
  if (req.method === "POST" && url.pathname === "/latch/pairing-token") {
    const user = sessionOf(req);
    // Same-origin only (the embed fetches with credentials from our own page).
    if (req.headers.origin && req.headers.origin !== ORIGIN) return json(res, 403, { error: "forbidden", message: "cross-origin request" });
    if (!user) return json(res, 401, { error: "signed_out", message: "Sign in to connect Latch." });
    try {
      const { status, body } = await mintPairingToken(user);
      res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" }).end(body);
    } catch {
      json(res, 502, { error: "relay_unreachable", message: "Latch's relay did not answer." });
    }
    return;
  }
  if (req.method === "POST" && url.pathname === "/latch/webhooks") {
    const body = await readBody(req, 64 * 1024);
    if (!latchSignatureHolds(req.headers["latch-signature"], body)) return json(res, 400, { error: "bad_signature" });
    const event = JSON.parse(body.toString("utf8"));
    if (!heard.some((e) => e.id === event.id)) {
      heard.unshift(event);
      heard.length = Math.min(heard.length, 50);
    }
    res.writeHead(204).end();
    return;
  }
  if (req.method === "GET" && url.pathname === "/latch/events") {
    // What the page lists: the signed-in user's own events.
    const user = sessionOf(req);
    if (!user) return json(res, 401, { error: "signed_out", message: "Sign in first." });
    return json(res, 200, { events: heardBy(user) });
  }
  if (req.method === "GET" && url.pathname === "/app.js") {
    res.writeHead(200, { "content-type": "text/javascript" }).end(APP_JS);
    return;
  }
  if (req.method === "POST" && url.pathname === "/latch/ping") {
    const user = sessionOf(req);
    if (!user) return json(res, 401, { error: "signed_out", message: "Sign in first." });
    const t = performance.now();
    try {
      const r = await fetch(`${RELAY_URL}/api/errands`, {
        method: "POST",
        headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ userId: user.id, kind: "ping", params: {} }),
      });
      const body = await r.json();
      return json(res, r.status, { ...body, rttMs: Math.round((performance.now() - t) * 10) / 10 });
    } catch {
      return json(res, 502, { error: "relay_unreachable", message: "Latch's relay did not answer." });
    }
  }
  if (url.pathname === "/pair") {
    const user = sessionOf(req);
    const html = (status, body) => res.writeHead(status, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" }).end(body);
    if (!user) return html(401, "<p>Sign in first: <a href=\"/\">Acme</a></p>");
    // `?code=` (a link Latch's panel can show): the code filled in, still approved by a click.
    if (req.method === "GET") return html(200, pairPage(user, "", false, url.searchParams.get("code") || ""));
    if (req.method === "POST") {
      if (req.headers.origin && req.headers.origin !== ORIGIN) return html(403, "cross-origin form");
      const code = ((await readForm(req)).get("code") || "").trim();
      try {
        const { status, body } = await approveCode(user, code);
        // 202: the relay asks Latch's user in that browser; nothing is connected until they approve there.
        const app = body.appName || "Acme";
        if (status === 202 && body.status === "confirmed") return html(200, pairPage(user, `Already connected: Latch in that browser approved ${app} for ${body.userId || user.id}.`, true));
        if (status === 202) return html(200, pairPage(user, `Sent. Approve the request in Latch in that browser to connect it to ${app} as ${body.userId || user.id}.`, true));
        const why = { code_not_found: "No pending code matches. Check the code in Latch's side panel.", code_expired: "That code has expired. Get a new one in Latch's side panel.", code_already_approved: "This code was already approved, by another app or for another account. Get a new code in Latch's side panel." }[body.error] || body.message || "The code was not accepted.";
        return html(status, pairPage(user, why));
      } catch {
        return html(502, pairPage(user, "Latch's relay did not answer. Try again."));
      }
    }
  }
  json(res, 404, { error: "not_found", message: "No such page." });
});

function json(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

server.listen(PORT, HOST, () => console.log(`acme: listening on ${ORIGIN} (relay ${RELAY_URL}, tenant ${TENANT})`));
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => server.close(() => process.exit(0)));
