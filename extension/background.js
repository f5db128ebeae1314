// Service-worker shim. Every listener is registered synchronously at the top level, before
// any await: Chrome wakes a stopped worker for an event and only delivers it to listeners
// that exist by the end of the first turn. Each listener awaits the wasm, then forwards.
// No decisions here, with one exception Chrome forces: sidePanel.open() needs the user's
// gesture, which lasts only for the synchronous part of the listener (see ARCHITECTURE.md).
import init, * as latch from "./pkg/background.js";

const ready = init({ module_or_path: chrome.runtime.getURL("pkg/background_bg.wasm") });
// Same source as the background's CONNECT_ORIGIN: the manifest rendered by build.rs.
const CONNECT_ORIGIN = new URL(chrome.runtime.getManifest().externally_connectable.matches[0]).origin;

// A popup window (where embed.js opens the connect page) has no side panel, and Chrome
// resolves open() there without showing anything: open it beside the app's tab (the
// opener) too. Both calls happen synchronously, inside the gesture.
function openPrompt(tab) {
  const fallback = () => chrome.windows.create({ type: "popup", url: "panel.html", width: 420, height: 640 });
  if (tab.openerTabId !== undefined) chrome.sidePanel.open({ tabId: tab.openerTabId }).catch(() => {});
  chrome.sidePanel.open({ windowId: tab.windowId }).catch(fallback);
}

function answer(promise, sendResponse) {
  promise.then(sendResponse, (e) => { console.error("latch:", e); sendResponse(undefined); });
  return true;
}

chrome.runtime.onMessageExternal.addListener((message, sender, sendResponse) => {
  if (sender.origin === CONNECT_ORIGIN && sender.tab && message && message.type === "pairing.offer") {
    openPrompt(sender.tab);
  }
  return answer(ready.then(() => latch.handle_external(message, sender.origin ?? null, sender.tab?.id ?? null)), sendResponse);
});

chrome.runtime.onMessage.addListener((message, sender, sendResponse) =>
  answer(ready.then(() => latch.handle_panel(message, sender.id ?? null, sender.origin ?? null)), sendResponse));

chrome.alarms.onAlarm.addListener((alarm) => { ready.then(() => latch.on_alarm(alarm.name)); });
chrome.storage.onChanged.addListener((_changes, area) => { ready.then(() => latch.on_storage_changed(area)); });
chrome.runtime.onStartup.addListener(() => { ready.then(() => latch.on_startup()); });
chrome.runtime.onInstalled.addListener(() => {
  chrome.sidePanel.setPanelBehavior({ openPanelOnActionClick: true }).catch(() => {});
});
// Every worker start (Chrome restarts it for any event): resume where storage says we were.
ready.then(() => latch.on_startup());
