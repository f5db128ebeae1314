// No dead end without the extension (issue 21 item 1): the connect page offers the relay's
// install link (LATCH_INSTALL_URL, else its own /install page with the load-unpacked
// steps) and goes on by itself once Latch is installed — no reload — through to a binding;
// a link that expires meanwhile says so instead of waiting for ever.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { startStack, launchBrowser, openPanel, approveWhenArmed, waitForBindings, RELAY, clickArmed } from "./harness.mjs";

let stack;
after(async () => { await stack?.stop(); });

const STORE = "https://chromewebstore.google.com/detail/latch/caldpegfoiafoehigbniidhckihmjbop";

test("without Latch the connect page offers Install; once installed it goes on by itself", async () => {
  stack = await startStack({ LATCH_INSTALL_URL: STORE });
  const { context, installExtension, close } = await launchBrowser({ withoutExtension: true });
  try {
    const page = await context.newPage();
    await page.goto(`${RELAY}/connect#token=${await stack.mint("dana")}`);
    await page.getByRole("heading", { name: "Install Latch to continue" }).waitFor();
    const install = page.getByRole("link", { name: "Install Latch" });
    assert.equal(await install.getAttribute("href"), STORE);
    assert.equal(await page.getByRole("button", { name: "Continue" }).isVisible(), false);

    await installExtension();
    const installedAt = Date.now();
    await page.getByRole("heading", { name: "Connect Acme to Latch" }).waitFor({ timeout: 10000 });
    console.log(`# extension installed → connect page goes on: ${Date.now() - installedAt} ms`);
    assert.equal(await install.isVisible(), false);
    await clickArmed(page.getByRole("button", { name: "Continue" }));
    await page.getByRole("heading", { name: "Approve in the Latch side panel" }).waitFor();
    const panel = await openPanel(context);
    await approveWhenArmed(panel);
    const [binding] = await waitForBindings(panel, 1);
    assert.equal(binding.userId, "dana");
    // As on the one-click path, Latch closes the connect page once it has connected.
  } finally { await close(); await stack.stop(); stack = null; }
});

test("without LATCH_INSTALL_URL the button leads to the relay's steps; the wait ends with the link's life", async () => {
  stack = await startStack({ LATCH_PAIRING_TTL_SECONDS: "6" });
  const { context, close } = await launchBrowser({ withoutExtension: true });
  try {
    const page = await context.newPage();
    await page.goto(`${RELAY}/connect#token=${await stack.mint("dana")}`);
    const install = page.getByRole("link", { name: "Install Latch" });
    await install.waitFor();
    assert.equal(await install.getAttribute("href"), "/install");
    const opened = context.waitForEvent("page");
    await install.click();
    const steps = await opened;
    await steps.getByRole("heading", { name: "Install Latch (development build)" }).waitFor();
    await steps.getByText("Load unpacked").waitFor();
    // Never installed: once the link has expired (6 s here), the page says so.
    await page.getByRole("heading", { name: "This connect link has expired" }).waitFor({ timeout: 15000 });
    assert.equal(await install.isVisible(), false);
  } finally { await close(); await stack.stop(); stack = null; }
});
