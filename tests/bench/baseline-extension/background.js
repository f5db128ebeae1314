// Baseline for the extension benchmarks (tests/bench/extension.mjs, prompt.mjs): the same
// work as Latch's worker does for `pairing.offer`, in plain JavaScript and without wasm.
// Listener registered synchronously, the same side-panel call inside the gesture, the
// connect-origin and token-shape checks, a read-modify-write of the offer book in
// chrome.storage.session, the badge, the same reply; then, as Latch does after answering,
// the relay's describe stored on the offer, and the panel's `panel.state`. Not shipped; never loaded
// outside the benchmark. `prelude.js` is written by the benchmark: empty for the plain
// baseline, or loading a wasm module first for the "floor" variants (how much of Latch's
// cold start is only getting a wasm module ready, before any Rust runs).
import { ready } from "./prelude.js";

const CONNECT_ORIGIN = new URL(chrome.runtime.getManifest().externally_connectable.matches[0]).origin;
const TOKEN = /^lpt_[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

function openPrompt(tab) {
  const fallback = () => chrome.windows.create({ type: "popup", url: "panel.html", width: 420, height: 640 });
  if (tab.openerTabId !== undefined) chrome.sidePanel.open({ tabId: tab.openerTabId }).catch(() => {});
  chrome.sidePanel.open({ windowId: tab.windowId }).catch(fallback);
}

async function offer(token, tabId) {
  if (typeof token !== "string" || !TOKEN.test(token)) return { ok: false, error: "bad_token_shape" };
  const book = (await chrome.storage.session.get("latch.offers"))["latch.offers"] || { offers: [], recent: [] };
  const now = Date.now();
  const parked = book.offers.find((o) => o.state === "awaiting_approval" && o.pairingToken === token);
  if (parked) return { ok: true, offerId: parked.offerId, state: "awaiting_approval" };
  const offerId = crypto.randomUUID();
  book.recent.push(now);
  book.offers.push({ offerId, pairingToken: token, tabId, state: "awaiting_approval", createdAt: now, expiresAt: now + 120000 });
  await chrome.storage.session.set({ "latch.offers": book });
  const pending = book.offers.filter((o) => o.state === "awaiting_approval").length;
  chrome.action.setBadgeText({ text: pending ? String(pending) : "" }); // not awaited, as in Latch
  describe(offerId, token); // answer now; the description fills in the prompt moments later
  return { ok: true, offerId, state: "awaiting_approval" };
}

async function updateOffer(offerId, change) {
  const book = (await chrome.storage.session.get("latch.offers"))["latch.offers"];
  const o = book?.offers.find((x) => x.offerId === offerId);
  if (!o) return;
  change(o);
  await chrome.storage.session.set({ "latch.offers": book });
}

/** The relay's description of the token, on the offer (a refusal fails it). */
async function describe(offerId, pairingToken) {
  const r = await fetch(`${CONNECT_ORIGIN}/pairing-tokens/describe`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ pairingToken }),
  }).catch(() => null);
  if (!r) return;
  const d = await r.json().catch(() => ({}));
  await updateOffer(offerId, (o) => {
    if (r.ok && typeof d.appName === "string") Object.assign(o, { appName: d.appName, tenantId: d.tenantId, userId: d.userId });
    else o.state = "failed";
  });
}

/** What the panel renders: the offers awaiting approval, tokens left out. */
async function panelState() {
  const book = (await chrome.storage.session.get("latch.offers"))["latch.offers"] || { offers: [] };
  const pending = book.offers.filter((o) => o.state === "awaiting_approval")
    .map(({ offerId, appName, tenantId, userId, expiresAt, createdAt }) => ({ offerId, appName, tenantId, userId, expiresAt, shownAt: createdAt }));
  return { ok: true, state: { pending } };
}

/** The connect page's poll for its offer's outcome. */
async function result(offerId) {
  const book = (await chrome.storage.session.get("latch.offers"))["latch.offers"] || { offers: [] };
  const o = book.offers.find((x) => x.offerId === offerId);
  return { state: o ? o.state : "expired" };
}

chrome.runtime.onMessageExternal.addListener((message, sender, sendResponse) => {
  if (sender.origin !== CONNECT_ORIGIN || !message) return false;
  let reply;
  if (message.type === "pairing.offer") {
    if (sender.tab) openPrompt(sender.tab);
    reply = ready.then(() => offer(message.pairingToken, sender.tab?.id ?? null));
  } else if (message.type === "pairing.result" && typeof message.offerId === "string") {
    reply = ready.then(() => result(message.offerId));
  } else {
    return false;
  }
  reply.then(sendResponse, () => sendResponse(undefined));
  return true;
});

chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (sender.id !== chrome.runtime.id || message?.type !== "panel.state") return false;
  ready.then(panelState).then(sendResponse, () => sendResponse(undefined));
  return true;
});
