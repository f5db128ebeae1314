// Hidden frame on the connect origin: asks the extension whether this tenant is connected
// and tells only the tenant's registered origins (postMessage drops any other target).
"use strict";
(function () {
  const d = document.body.dataset;
  const extensionIds = JSON.parse(d.extensionIds || "[]");
  const origins = JSON.parse(d.origins || "[]");
  const tenantId = d.tenant || "";

  function ask(id) {
    return new Promise((resolve) => {
      try {
        chrome.runtime.sendMessage(id, { type: "status", tenantId }, (reply) => {
          resolve(!chrome.runtime.lastError && reply && reply.connected === true);
        });
      } catch { resolve(false); }
    });
  }

  async function check() {
    if (!tenantId || origins.length === 0 || window.parent === window) return;
    let connected = false;
    if (typeof chrome !== "undefined" && chrome.runtime && chrome.runtime.sendMessage) {
      for (const id of extensionIds) { if (await ask(id)) { connected = true; break; } }
    }
    for (const origin of origins) window.parent.postMessage({ latch: "status", connected }, origin);
  }

  window.addEventListener("message", (e) => {
    if (e.source === window.parent && origins.includes(e.origin) && e.data && e.data.latch === "status?") check();
  });
  check();
})();
