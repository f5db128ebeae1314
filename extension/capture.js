// Injected into the page the user asked to send (scripting.executeScript, activeTab).
// Its value is the capture; it reads, never changes, the page.
({
  url: location.href,
  title: document.title || "",
  text: ((document.body && document.body.innerText) || "").slice(0, 200000),
});
