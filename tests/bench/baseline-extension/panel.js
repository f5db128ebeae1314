// Baseline panel for the "Continue → prompt on screen" benchmark (tests/bench/prompt.mjs):
// the work Latch's Leptos panel does before the prompt shows, in plain JavaScript with no
// framework. The same catalogue strings, the same DOM (main, the four sections, the prompt
// card), the same `panel.state` request to the worker, a re-read on every storage change.
// Not shipped. `panel-prelude.js` is written by the benchmark: nothing for the baseline, or
// fetching, compiling and instantiating Latch's panel wasm (its imports stubbed, nothing in
// it called) for the floor variant.
import { ready } from "./panel-prelude.js";

const t = (key, ...args) => chrome.i18n.getMessage(key, args);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
};

/** The name as the panel may show it: Latch re-checks every name (NFKC, no controls). */
function shownName(name) {
  if (typeof name !== "string") return null;
  const n = name.normalize("NFKC").trim();
  return n && !/[\p{Cc}\p{Cf}]/u.test(n) ? n : null;
}

function prompt(p) {
  const name = shownName(p.appName);
  if (!name) return el("article", { class: "card prompt", "aria-busy": "true" }, el("p", {}, t("prompt_checking")));
  const mark = "\uE000";
  const [before, after] = t("prompt_heading", mark).split(mark);
  const headingId = `prompt-${p.offerId}`;
  const approve = el("button", { type: "button", disabled: "" }, t("approve"));
  setTimeout(() => approve.removeAttribute("disabled"), 500);
  return el("article", { class: "card prompt", "aria-labelledby": headingId },
    el("h3", { id: headingId }, before, el("span", { class: "verified-name" }, name), after ?? ""),
    el("p", { class: "meta" }, t("prompt_app_id"), " ", el("code", {}, p.tenantId ?? ""), " · ", t("prompt_user"), " ", el("code", {}, p.userId ?? "")),
    el("p", { class: "opener caution" }, t("prompt_caution", name)),
    el("div", { class: "actions" }, approve, el("button", { type: "button", class: "secondary" }, t("deny"))));
}

function render(state) {
  const pending = el("section", { "aria-labelledby": "pending-heading" },
    el("h2", { id: "pending-heading", class: "section" }, t("pending_heading")),
    ...(state.pending.length ? state.pending.map(prompt) : [el("p", { class: "empty" }, t("pending_empty"))]));
  const connect = el("section", { "aria-labelledby": "connect-heading" },
    el("h2", { id: "connect-heading", class: "section" }, t("connect_heading")),
    el("form", {}, el("label", { for: "pairing-token" }, t("pairing_token_label")),
      el("div", { class: "row" }, el("input", { id: "pairing-token", type: "text", autocomplete: "off", spellcheck: "false", placeholder: "lpt_…" }),
        el("button", { type: "submit" }, t("connect_button")))));
  const code = el("section", { "aria-labelledby": "code-heading" },
    el("h2", { id: "code-heading", class: "section" }, t("code_heading")),
    el("p", { class: "meta" }, t("code_intro")),
    el("button", { type: "button", class: "secondary" }, t("code_start")));
  const connected = el("section", { "aria-labelledby": "connected-heading" },
    el("h2", { id: "connected-heading", class: "section" }, t("connected_heading")),
    el("p", { class: "empty" }, t("connected_empty")));
  document.body.querySelector("main")?.remove();
  document.body.append(el("main", {}, el("header", {}, el("h1", { class: "brand" }, t("extName"))), pending, connect, code, connected));
}

async function refresh() {
  const reply = await chrome.runtime.sendMessage({ type: "panel.state" });
  if (reply?.state) render(reply.state);
}

document.documentElement.lang = chrome.i18n.getUILanguage();
chrome.storage.onChanged.addListener(() => { ready.then(refresh); });
ready.then(() => { render({ pending: [] }); return refresh(); });
