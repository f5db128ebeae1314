// Hostile input from web pages: malformed messages, wrong-shape and spent tokens, a burst
// of 200 offers, other origins and framing. Count of silent pairings must stay 0.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { startStack, launchBrowser, openPanel, pasteToken, storage, sleep, RELAY, EXTENSION_ID } from "./harness.mjs";

const HOSTILE = "http://localhost:8790";
let stack, hostile;

before(async () => {
  stack = await startStack();
  // A hostile site: it frames the connect page and the status frame, and listens.
  hostile = createServer((req, res) => {
    const token = new URL(req.url, HOSTILE).searchParams.get("token") || "";
    res.writeHead(200, { "content-type": "text/html" }).end(`<!doctype html><title>evil</title>
      <iframe id="connect" src="${RELAY}/connect#token=${token}"></iframe>
      <iframe id="status" src="${RELAY}/status-frame?tenant=acme"></iframe>
      <script>window.got = []; addEventListener("message", (e) => window.got.push([e.origin, e.data]));</script>`);
  });
  await new Promise((r) => hostile.listen(8790, "127.0.0.1", r));
});
after(async () => { await stack?.stop(); await new Promise((r) => hostile?.close(r)); });

/** Sends `msg` to the extension from a page of the connect origin; resolves the reply. */
function sendFrom(page, msg) {
  return page.evaluate(([id, m]) => new Promise((resolve) => {
    try {
      chrome.runtime.sendMessage(id, m, (reply) => resolve(chrome.runtime.lastError ? { lastError: chrome.runtime.lastError.message } : reply ?? null));
    } catch (e) { resolve({ thrown: String(e) }); }
  }), [EXTENSION_ID, msg]);
}

/** Bindings the extension created at the relay (its device name): silent pairings. */
async function relayBindings() {
  return (await stack.cli("binding", "list", "--json")).filter((b) => b.deviceName === "Chrome with Latch");
}

test("malformed and hostile messages from the connect origin park nothing and pair nothing", async () => {
  const { context, close } = await launchBrowser();
  try {
    const page = await context.newPage();
    await page.goto(`${RELAY}/connect#token=none`);
    const ignored = [null, "pairing.offer", 42, [], {}, { type: 5 }, { type: "pairing.offer" },
      { type: "pairing.offer", pairingToken: 123 }, { type: "pairing.offer", pairingToken: ["lpt_x"] },
      { type: "panel.approve", offerId: "x" }, { type: "panel.connect", pairingToken: "x" },
      { type: "pairing.approve", offerId: "x" }, { type: "status" }, { type: "pairing.result" }];
    for (const m of ignored) assert.equal(await sendFrom(page, m), null, JSON.stringify(m));
    const badShapes = ["", "lpt_short", "LPT_" + "A".repeat(43), "lpt_" + "A".repeat(42) + "B", "lpt_" + "é".repeat(43), "x".repeat(1 << 20)];
    for (const t of badShapes) {
      assert.deepEqual(await sendFrom(page, { type: "pairing.offer", pairingToken: t }), { ok: false, error: "bad_token_shape" });
    }
    // Well-shaped but unknown, already used, expired: parked, then failed by the relay's answer.
    const unknown = "lpt_" + "A".repeat(43);
    const used = await stack.mint("dana");
    await fetch(`${RELAY}/pairing-tokens/redeem`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ pairingToken: used, deviceName: "another device" }) });
    for (const [token, error] of [[unknown, "token_not_found"], [used, "token_used"]]) {
      const r = await sendFrom(page, { type: "pairing.offer", pairingToken: token });
      assert.equal(r.ok, true);
      let result;
      for (let i = 0; i < 50; i++) {
        result = await sendFrom(page, { type: "pairing.result", offerId: r.offerId });
        if (result.state !== "awaiting_approval") break;
        await sleep(100);
      }
      assert.deepEqual(result, { state: "failed", error });
    }
    assert.deepEqual(await sendFrom(page, { type: "pairing.result", offerId: "nope" }), { state: "failed", error: "unknown_offer" });
    // `status` says connected or not, nothing more.
    assert.deepEqual(await sendFrom(page, { type: "status", tenantId: "acme" }), { connected: false });
    const panel = await openPanel(context);
    assert.deepEqual((await storage(panel, "local", "latch.bindings")) ?? [], []);
    await panel.getByText("Nothing is waiting for your approval.").waitFor();
    assert.deepEqual(await relayBindings(), [], "0 silent pairings");
  } finally { await close(); }
});

test("200 offers in a burst: at most 5 parked, the rest busy or rate_limited, the worker keeps answering", async () => {
  const { context, close } = await launchBrowser();
  try {
    const page = await context.newPage();
    await page.goto(`${RELAY}/connect#token=none`);
    const replies = await page.evaluate(async (id) => {
      const tokens = Array.from({ length: 200 }, (_, i) => "lpt_" + String(i).padStart(3, "0") + "A".repeat(40));
      return Promise.all(tokens.map((t) => new Promise((r) => chrome.runtime.sendMessage(id, { type: "pairing.offer", pairingToken: t }, r))));
    }, EXTENSION_ID);
    const parked = replies.filter((r) => r && r.ok).length;
    const refused = replies.filter((r) => r && !r.ok && (r.error === "busy" || r.error === "rate_limited")).length;
    console.log(`# burst of 200: ${parked} parked, ${refused} busy/rate_limited`);
    assert.ok(parked <= 5, `${parked} parked`);
    assert.equal(parked + refused, 200);
    const t = Date.now();
    assert.deepEqual(await sendFrom(page, { type: "status", tenantId: "acme" }), { connected: false });
    assert.ok(Date.now() - t < 1000, "worker still responsive");
    assert.deepEqual(await relayBindings(), [], "0 silent pairings");
  } finally { await close(); }
});

test("other origins can't reach the extension; framing the connect page or status frame gets nothing", async () => {
  const { context, close } = await launchBrowser();
  try {
    for (const url of ["http://localhost:8788/", "http://127.0.0.1:8787/connect", `${HOSTILE}/`]) {
      const page = await context.newPage();
      await page.goto(url);
      const reachable = await page.evaluate(() => typeof chrome !== "undefined" && !!chrome.runtime && typeof chrome.runtime.sendMessage === "function");
      assert.equal(reachable, false, `${url} can message the extension`);
      await page.close();
    }
    const token = await stack.mint("dana");
    const evil = await context.newPage();
    await evil.goto(`${HOSTILE}/?token=${token}`);
    await sleep(2000);
    // Both frames are refused by frame-ancestors: no connect UI, no status leaks.
    assert.deepEqual(await evil.evaluate(() => window.got), [], "status frame answered an unregistered parent");
    for (const f of evil.frames().slice(1)) {
      assert.equal(await f.locator("button").count().catch(() => 0), 0, `framed ${f.url()} rendered`);
    }
    const panel = await openPanel(context);
    assert.equal(((await storage(panel, "session", "latch.offers"))?.offers ?? []).length, 0, "nothing parked");
    assert.equal((await stack.describe(token)).status, 200, "token untouched");
    assert.deepEqual(await relayBindings(), [], "0 silent pairings");
  } finally { await close(); }
});

test("the prompt can't be clicked through: Approve starts disabled", async () => {
  const { context, close } = await launchBrowser();
  try {
    const panel = await openPanel(context);
    await pasteToken(panel, await stack.mint("dana"));
    const approve = panel.getByRole("button", { name: "Approve", exact: true });
    await approve.waitFor();
    const shownAt = Date.now();
    assert.equal(await approve.isDisabled(), true, "Approve is armed at once");
    while (await approve.isDisabled()) await sleep(10);
    const armedAfter = Date.now() - shownAt;
    console.log(`# Approve armed after ${armedAfter} ms`);
    assert.ok(armedAfter >= 300, `${armedAfter} ms`);
  } finally { await close(); }
});
