// Latch connect button for an app's page:
//   <script src="RELAY/embed.js" data-latch-token-url="/latch/pairing-token" data-latch-tenant="acme"></script>
//   <div data-latch-connect></div>
// The button fetches a pairing token from the app's own route, opens the relay's connect
// page in a small popup, and reads "Latch Connected" from the hidden status frame.
"use strict";
(function () {
  const script = document.currentScript;
  if (!script) return;
  const relay = new URL(script.src).origin;
  const tokenUrl = script.dataset.latchTokenUrl || "/latch/pairing-token";
  const tenant = script.dataset.latchTenant || "";
  const buttons = [];
  let frame = null;
  let connected = false;
  // The connect popup this page opened, and the tag of the token it handed it.
  let popup = null;
  let handedTag = null;
  // The popup was blocked and the connect link is on show instead.
  let linkOffered = false;

  function render() {
    for (const b of buttons) {
      b.textContent = connected ? "Latch Connected" : "Connect Latch";
      b.disabled = connected;
      b.dataset.latchState = connected ? "connected" : "disconnected";
      // A used link is no use to anyone: gone once connected, with its instructions.
      if (connected && b.parentElement?.querySelector("[data-latch-link]")) {
        b.parentElement.querySelector("[data-latch-link]").remove();
        note("");
      }
    }
  }

  function recheck() {
    if (frame && frame.contentWindow) frame.contentWindow.postMessage({ latch: "status?" }, relay);
  }

  function note(text) {
    for (const b of buttons) {
      let n = b.nextElementSibling;
      if (!n || !n.hasAttribute("data-latch-note")) {
        n = document.createElement("span");
        n.setAttribute("data-latch-note", "");
        n.setAttribute("role", "status");
        n.style.marginLeft = "8px";
        b.after(n);
      }
      n.textContent = text;
    }
  }

  async function tokenTag(t) {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(t));
    return Array.from(new Uint8Array(digest).slice(0, 16), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // Opener check (PROTOCOL §4): the connect page this page opened asks who opened it; echo
  // its nonce, but only to the relay, only for our own popup (or, with the popup blocked,
  // the tab our Open link made, whose window we can't hold), and only while it carries the
  // token this page handed it.
  window.addEventListener("message", (e) => {
    if (e.origin !== relay || !e.data || e.data.latch !== "opener?") return;
    if (popup ? e.source !== popup : !linkOffered) return;
    if (typeof e.data.nonce !== "string" || !handedTag || e.data.tag !== handedTag) return;
    e.source.postMessage({ latch: "opener", nonce: e.data.nonce }, relay);
  });

  // A pairing token from the app's own route.
  async function fetchToken() {
    const r = await fetch(tokenUrl, { method: "POST", credentials: "same-origin", headers: { "content-type": "application/json" }, body: "{}" });
    const body = await r.json();
    if (!r.ok || typeof body.pairingToken !== "string") throw new Error(body.message || "no token");
    return body.pairingToken;
  }

  // The way back is this page without its query and fragment: they may hold the app's own
  // state (a session value, a one-time code), and the link is shown and copied.
  function connectLink(token) {
    return relay + "/connect#" + new URLSearchParams({ token, return: location.origin + location.pathname }).toString();
  }

  // The popup was blocked: show the connect link, to Open (a link click, which blockers let
  // through; the tab it opens keeps this page as its opener, so the opener check still
  // runs) or to Copy and paste into the side panel's "Connect an app" (no opener: the
  // prompt shows its caution).
  async function offerLink() {
    let link;
    try {
      const token = await fetchToken();
      handedTag = await tokenTag(token).catch(() => null);
      link = connectLink(token);
    } catch (e) {
      return note("Couldn't start pairing: " + e.message);
    }
    linkOffered = true;
    note("Pop-ups are blocked. Open this link, or copy it into Latch's side panel under \u201cConnect an app\u201d.");
    for (const b of buttons) {
      let box = b.parentElement.querySelector("[data-latch-link]");
      if (!box) {
        box = document.createElement("div");
        box.setAttribute("data-latch-link", "");
        const field = document.createElement("input");
        field.readOnly = true;
        field.setAttribute("aria-label", "Connect link");
        field.style.width = "24em";
        const open = document.createElement("a");
        open.textContent = "Open";
        open.target = "_blank";
        open.rel = "opener";
        open.style.margin = "0 8px";
        const copy = document.createElement("button");
        copy.type = "button";
        copy.textContent = "Copy";
        copy.addEventListener("click", async () => {
          try {
            await navigator.clipboard.writeText(field.value);
            copy.textContent = "Copied";
          } catch {
            field.select(); // no clipboard access: selected for the user's own copy
            copy.textContent = "Press Ctrl+C to copy";
          }
        });
        box.append(field, open, copy);
        b.parentElement.appendChild(box);
      }
      box.querySelector("input").value = link;
      box.querySelector("a").href = link;
      box.querySelector("button").textContent = "Copy";
    }
  }

  async function connect() {
    // Open the popup inside the click (popup blockers), then point it at the connect page.
    popup = window.open("about:blank", "latch-connect", "popup,width=480,height=640");
    if (!popup) return offerLink();
    note("");
    let token;
    try {
      token = await fetchToken();
    } catch (e) {
      popup.close();
      return note("Couldn't start pairing: " + e.message);
    }
    // crypto.subtle needs a secure context; without it the opener check shows the caution.
    handedTag = await tokenTag(token).catch(() => null);
    popup.location.href = connectLink(token);
    const watch = setInterval(() => {
      recheck();
      if (popup.closed) { clearInterval(watch); setTimeout(recheck, 300); }
    }, 1000);
  }

  function mount() {
    for (const container of document.querySelectorAll("[data-latch-connect]")) {
      if (container.querySelector("button[data-latch-button]")) continue;
      const b = document.createElement("button");
      b.type = "button";
      b.setAttribute("data-latch-button", "");
      b.addEventListener("click", connect);
      container.appendChild(b);
      buttons.push(b);
    }
    render();
    frame = document.createElement("iframe");
    frame.src = relay + "/status-frame?tenant=" + encodeURIComponent(tenant);
    frame.title = "Latch status";
    frame.setAttribute("aria-hidden", "true");
    frame.tabIndex = -1;
    frame.style.cssText = "position:absolute;width:0;height:0;border:0;visibility:hidden";
    document.body.appendChild(frame);
    window.addEventListener("message", (e) => {
      if (e.origin !== relay || e.source !== frame.contentWindow || !e.data || e.data.latch !== "status") return;
      connected = e.data.connected === true;
      render();
    });
    // The user may connect or disconnect from the side panel at any time.
    document.addEventListener("visibilitychange", () => { if (!document.hidden) recheck(); });
    setInterval(recheck, 5000);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mount);
  else mount();
})();
