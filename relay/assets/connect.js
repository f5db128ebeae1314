// The connect page: describes the token, hands it to the extension on the user's click
// (the click is the gesture that lets the extension open its side panel) and reports progress.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const extensionIds = JSON.parse(document.body.dataset.extensionIds || "[]");
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token") || "";
  // The app's page to go back to, as the link asks. Anyone can craft a connect link, so the
  // page offers only what describe answers as returnUrl: the relay keeps it to an origin
  // registered for the token's tenant (else the tenant's first origin, else none).
  const requestedReturn = params.get("return");
  let returnUrl = null;
  let appName = "the app";
  // Describe's answer, kept for when the extension arrives after the page loaded.
  let described = null;
  let waiting = false;
  // The site that opened this page, as the browser witnessed it (PROTOCOL §4), or null.
  let opener = null;

  // Continue is a consent click (SECURITY.md, "Consent clicks"), judged as the side panel
  // judges Approve (core/consent_guard.rs), less the resting-pointer rule. It is never
  // focused for the user. Every press waits CONSENT_ARM_DELAY_MS (latch-wire; the relay puts
  // it on the page) after Continue shows or the page is shown again; a mouse press also
  // waits that long after the mouse came into the page (a window that vanished from above
  // this one leaves it there: double-clickjacking); a key press (or a click nothing pressed
  // for) also waits that long after the window got the focus, and counts only if its
  // keydown was fresh, not an auto-repeat of a key held on the page that opened this popup.
  // Until every kind may count it looks disabled (aria-disabled: it keeps its name and its
  // place in the tab order). The focus does not hold up a mouse press: a click into the
  // window brings the focus itself.
  const ARM_MS = Number(document.body.dataset.armMs) || 500;
  const cont = $("continue");
  let armsAt = Infinity; // performance.now() from which any press may count; never while hidden
  let keysAt = 0; // ... a key press: the window got the focus
  let mouseAt = 0; // ... a mouse press: the mouse came into the page
  let mouseIn = false;
  let armTimer = 0;
  // The press in progress: none seen, "counts" (met its rules) or "stale".
  let press = "none";
  const now = () => performance.now();
  function showArming() {
    clearTimeout(armTimer);
    const at = Math.max(armsAt, keysAt, mouseAt);
    if (now() >= at) return cont.removeAttribute("aria-disabled");
    cont.setAttribute("aria-disabled", "true");
    if (at !== Infinity) armTimer = setTimeout(showArming, at - now() + 1);
  }
  function arm() {
    const showing = !cont.hidden && document.visibilityState === "visible";
    armsAt = showing ? now() + ARM_MS : Infinity;
    if (press !== "none") press = "stale";
    showArming();
  }
  document.addEventListener("visibilitychange", arm);
  window.addEventListener("focus", () => {
    keysAt = now() + ARM_MS;
    if (press === "key") press = "stale";
    showArming();
  });
  // Chrome's accessibility click (a screen reader's activation, voice control) comes as a
  // mouse pointerdown with pressure 0, which no real button press has: it is judged as the
  // click nothing pressed for that follows it.
  const simulated = (e) => e.pointerType === "mouse" && e.pressure === 0 && e.type === "pointerdown";
  const mouseSeen = (e) => {
    if (e.pointerType !== "mouse" || mouseIn || simulated(e)) return;
    mouseIn = true;
    mouseAt = now() + ARM_MS;
    showArming();
  };
  for (const kind of ["pointerover", "pointermove", "pointerdown"]) window.addEventListener(kind, mouseSeen, true);
  window.addEventListener("pointerout", (e) => { if (e.pointerType === "mouse" && !e.relatedTarget) mouseIn = false; }, true);
  // Another window took the focus, maybe one over this popup: where the mouse next shows up
  // is where that window may have left it.
  window.addEventListener("blur", () => { mouseIn = false; });
  // A jump to a fragment, a scroll or a resize can slide Continue under a resting pointer.
  for (const kind of ["scroll", "resize", "hashchange"]) window.addEventListener(kind, arm, true);
  cont.addEventListener("pointerdown", (e) => {
    if (simulated(e)) return;
    const ok = now() >= armsAt && (e.pointerType !== "mouse" || now() >= mouseAt);
    press = ok ? "pointer" : "stale";
  });
  cont.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" && e.key !== " ") return;
    // A repeat never starts a press: the key went down before, maybe in another window.
    if (!e.repeat) press = now() >= armsAt && now() >= keysAt ? "key" : "stale";
    else if (press === "none") press = "stale";
  });
  // One press, one click; a script's click (untrusted) never counts.
  function clickCounts(e) {
    const counts = e.isTrusted && (press === "none" ? now() >= armsAt && now() >= keysAt : press !== "stale");
    press = "none";
    return counts;
  }

  function safeReturn(raw) {
    try {
      const u = new URL(raw);
      return (u.protocol === "http:" || u.protocol === "https:") && !u.username && !u.password ? u.href : null;
    } catch { return null; }
  }

  // "Back to Acme" once the app is known ("Back to the app" before), to the page describe
  // allowed; no link when there is none.
  function showBack() {
    if (!returnUrl) return;
    $("back").href = returnUrl;
    $("back").textContent = "Back to " + appName;
    $("back").hidden = false;
  }

  function show(title, message, { error = false, back = false } = {}) {
    $("title").textContent = title;
    $("message").textContent = message || "";
    $("message").classList.toggle("error", error);
    if (back) showBack();
  }

  const DESCRIBE_ERRORS = {
    malformed_token: ["This connect link is broken", "The pairing token in this link is malformed. Go back to the app and click Connect Latch again."],
    token_not_found: ["This connect link is not valid", "The relay doesn't know this pairing token. Go back to the app and click Connect Latch again."],
    token_used: ["This connect link was already used", "Each link works once. Go back to the app and click Connect Latch again."],
    token_expired: ["This connect link has expired", "Links work for two minutes. Go back to the app and click Connect Latch again."],
    token_revoked: ["This connect link was withdrawn", "The app revoked the key that made it. Go back to the app and click Connect Latch again."],
  };

  async function tokenTag(t) {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(t));
    return Array.from(new Uint8Array(digest).slice(0, 16), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // Opener check (PROTOCOL §4): ask window.opener to echo a fresh nonce, posting it only to
  // the tenant's registered origins (the browser drops it for any other opener). embed.js in
  // the opener echoes it when this page carries the token it handed out (the tag: a window
  // its page opened but someone else navigated gets no echo). Only an echo whose
  // event.origin is registered counts.
  async function checkOpener(origins) {
    if (!window.opener || !Array.isArray(origins) || origins.length === 0) return null;
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    const nonce = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    const tag = await tokenTag(token);
    return new Promise((resolve) => {
      const done = (origin) => { window.removeEventListener("message", onMessage); clearTimeout(timer); resolve(origin); };
      const onMessage = (e) => {
        if (e.source !== window.opener || !origins.includes(e.origin)) return;
        if (!e.data || e.data.latch !== "opener" || e.data.nonce !== nonce) return;
        done(e.origin);
      };
      window.addEventListener("message", onMessage);
      const timer = setTimeout(() => done(null), 1500);
      for (const origin of origins) {
        try { window.opener.postMessage({ latch: "opener?", nonce, tag }, origin); } catch { /* opener gone */ }
      }
    });
  }

  function extensionAvailable() {
    return typeof chrome !== "undefined" && chrome.runtime && typeof chrome.runtime.sendMessage === "function";
  }

  // Sends to the first configured extension id that answers.
  function send(message) {
    return new Promise((resolve) => {
      const ids = extensionIds.slice();
      const next = () => {
        const id = ids.shift();
        if (!id) return resolve(null);
        try {
          chrome.runtime.sendMessage(id, message, (reply) => {
            if (chrome.runtime.lastError || reply === undefined) return next();
            resolve(reply);
          });
        } catch { next(); }
      };
      next();
    });
  }

  // The relay's configured install link (the store listing), else its /install page.
  $("install-link").href = document.body.dataset.installUrl || "/install";

  // Offers the install link and watches for the extension: Chrome gives an open page
  // `chrome.runtime` once an extension that may talk to it is installed, so the page goes
  // on by itself (no reload, the token stays in this page only).
  function noExtension() {
    show("Install Latch to continue", "");
    $("continue").hidden = true;
    $("install").hidden = false;
    showBack();
    if (!waiting) waitForExtension();
  }

  async function waitForExtension() {
    waiting = true;
    // The link's life on this browser's clock (describe's times are the relay's): past it,
    // Continue could only fail.
    const expiresAt = Date.now() + Math.max(0, (described.expiresAt || 0) - (described.serverTime || 0));
    for (;;) {
      await new Promise((r) => setTimeout(r, 2000));
      if (Date.now() >= expiresAt) {
        waiting = false;
        $("install").hidden = true;
        const [t, m] = DESCRIBE_ERRORS.token_expired;
        return show(t, m, { error: true, back: true });
      }
      if (!extensionAvailable()) continue;
      if ((await send({ type: "status", tenantId: described.tenantId })) === null) continue;
      waiting = false;
      $("install").hidden = true;
      return ready();
    }
  }

  async function describe() {
    if (!/^lpt_[A-Za-z0-9_-]{43}$/.test(token)) {
      const [t, m] = DESCRIBE_ERRORS.malformed_token;
      return show(t, m, { error: true, back: true });
    }
    let r, body;
    try {
      r = await fetch("/pairing-tokens/describe", {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify(requestedReturn ? { pairingToken: token, returnUrl: requestedReturn } : { pairingToken: token }),
      });
      body = await r.json();
      returnUrl = typeof body.returnUrl === "string" ? safeReturn(body.returnUrl) : null;
    } catch {
      return show("Latch can't be reached", "The relay did not answer. Check your connection and reload this page.", { error: true, back: true });
    }
    if (!r.ok) {
      const [t, m] = DESCRIBE_ERRORS[body.error] || ["This connect link can't be used", body.message || "Go back to the app and try again."];
      return show(t, m, { error: true, back: true });
    }
    appName = body.appName;
    described = body;
    $("app-name").textContent = body.appName;
    $("tenant-id").textContent = body.tenantId;
    $("user-id").textContent = body.userId;
    $("describe").hidden = false;
    if (!extensionAvailable()) return noExtension();
    return ready();
  }

  async function ready() {
    // Before Continue shows: its click must reach the extension synchronously (the gesture
    // that lets the side panel open), so the answer must already be known.
    opener = await checkOpener(described.appOrigins).catch(() => null);
    show("Connect " + described.appName + " to Latch", "Click Continue, then approve in the Latch side panel.", { back: true });
    cont.disabled = false; // offer() disabled it if the extension went away
    cont.hidden = false;
    arm();
  }

  const OFFER_ERRORS = {
    bad_token_shape: "Latch refused this token as malformed. Go back to the app and try again.",
    busy: "Latch already has several approvals waiting. Finish them in the side panel, then click Continue again.",
    rate_limited: "Too many connection attempts. Wait a minute, then click Continue again.",
  };

  async function offer() {
    $("continue").disabled = true;
    const message = { type: "pairing.offer", pairingToken: token };
    if (opener) message.opener = opener;
    const reply = await send(message);
    if (reply === null) return noExtension();
    if (!reply.ok) {
      $("continue").disabled = false;
      return show("Couldn't hand the link to Latch", OFFER_ERRORS[reply.error] || "Try again.", { error: true, back: true });
    }
    $("continue").hidden = true;
    show("Approve in the Latch side panel", "Latch is asking whether to allow " + appName + ". Waiting for your answer…");
    poll(reply.offerId);
  }

  async function poll(offerId) {
    for (;;) {
      await new Promise((r) => setTimeout(r, 400));
      const r = await send({ type: "pairing.result", offerId });
      if (r === null) continue;
      if (r.state === "approved") {
        show("Connected", appName + " is now connected to Latch. You can close this window.", { back: true });
        return;
      }
      if (r.state === "denied") return show("Not connected", "You declined the connection. Nothing was shared.", { back: true });
      if (r.state === "failed") {
        const m = (DESCRIBE_ERRORS[r.error] || [])[1] || "Pairing failed (" + (r.error || "unknown error") + "). Go back to the app and try again.";
        return show("Pairing didn't complete", m, { error: true, back: true });
      }
    }
  }

  cont.addEventListener("click", (e) => { if (clickCounts(e)) offer(); });
  describe();
})();
