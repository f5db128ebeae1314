// The connect page: describes the token, hands it to the extension on the user's click
// (the click is the gesture that lets the extension open its side panel) and reports progress.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const extensionIds = JSON.parse(document.body.dataset.extensionIds || "[]");
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token") || "";
  const returnUrl = safeReturn(params.get("return"));
  let appName = "the app";

  function safeReturn(raw) {
    try {
      const u = new URL(raw);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch { return null; }
  }

  function show(title, message, { error = false, back = false } = {}) {
    $("title").textContent = title;
    $("message").textContent = message || "";
    $("message").classList.toggle("error", error);
    if (back && returnUrl) { $("back").href = returnUrl; $("back").hidden = false; }
  }

  const DESCRIBE_ERRORS = {
    malformed_token: ["This connect link is broken", "The pairing token in this link is malformed. Go back to the app and click Connect Latch again."],
    token_not_found: ["This connect link is not valid", "The relay doesn't know this pairing token. Go back to the app and click Connect Latch again."],
    token_used: ["This connect link was already used", "Each link works once. Go back to the app and click Connect Latch again."],
    token_expired: ["This connect link has expired", "Links work for two minutes. Go back to the app and click Connect Latch again."],
  };

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

  function noExtension() {
    show("Install Latch to continue", "");
    $("continue").hidden = true;
    $("install").hidden = false;
    if (returnUrl) { $("back").href = returnUrl; $("back").hidden = false; }
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
        body: JSON.stringify({ pairingToken: token }),
      });
      body = await r.json();
    } catch {
      return show("Latch can't be reached", "The relay did not answer. Check your connection and reload this page.", { error: true, back: true });
    }
    if (!r.ok) {
      const [t, m] = DESCRIBE_ERRORS[body.error] || ["This connect link can't be used", body.message || "Go back to the app and try again."];
      return show(t, m, { error: true, back: true });
    }
    appName = body.appName;
    $("app-name").textContent = body.appName;
    $("tenant-id").textContent = body.tenantId;
    $("user-id").textContent = body.userId;
    $("describe").hidden = false;
    if (!extensionAvailable()) return noExtension();
    show("Connect " + body.appName + " to Latch", "Click Continue, then approve in the Latch side panel.");
    $("continue").hidden = false;
    $("continue").focus();
  }

  const OFFER_ERRORS = {
    bad_token_shape: "Latch refused this token as malformed. Go back to the app and try again.",
    busy: "Latch already has several approvals waiting. Finish them in the side panel, then click Continue again.",
    rate_limited: "Too many connection attempts. Wait a minute, then click Continue again.",
  };

  async function offer() {
    $("continue").disabled = true;
    const reply = await send({ type: "pairing.offer", pairingToken: token });
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
        show("Connected", appName + " is now connected to Latch. You can close this window.");
        if (returnUrl) { $("back").href = returnUrl; $("back").hidden = false; }
        return;
      }
      if (r.state === "denied") return show("Not connected", "You declined the connection. Nothing was shared.", { back: true });
      if (r.state === "failed") {
        const m = (DESCRIBE_ERRORS[r.error] || [])[1] || "Pairing failed (" + (r.error || "unknown error") + "). Go back to the app and try again.";
        return show("Pairing didn't complete", m, { error: true, back: true });
      }
    }
  }

  $("continue").addEventListener("click", offer);
  describe();
})();
