// An expired pairing token: the connect page explains it, and nothing is parked.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startStack, launchBrowser, openPanel, storage, RELAY, APP, sleep } from "./harness.mjs";

let stack;
before(async () => { stack = await startStack({ LATCH_PAIRING_TTL_SECONDS: "1" }); });
after(async () => { await stack?.stop(); });

test("expired token: clear message with a way back, no Continue, nothing parked", async () => {
  const { context, close } = await launchBrowser();
  try {
    const token = await stack.mint("dana");
    await sleep(1500);
    const page = await context.newPage();
    await page.goto(`${RELAY}/connect#token=${token}&return=${encodeURIComponent(APP + "/")}`);
    await page.getByRole("heading", { name: "This connect link has expired" }).waitFor();
    await page.getByRole("link", { name: "Back to the app" }).waitFor();
    assert.equal(await page.getByRole("button", { name: "Continue" }).isVisible(), false);
    const panel = await openPanel(context);
    assert.equal(((await storage(panel, "session", "latch.offers"))?.offers ?? []).length, 0);
  } finally { await close(); }
});

test("malformed token in the link: explained, nothing parked", async () => {
  const { context, close } = await launchBrowser();
  try {
    const page = await context.newPage();
    await page.goto(`${RELAY}/connect#token=lpt_oops`);
    await page.getByRole("heading", { name: "This connect link is broken" }).waitFor();
    const panel = await openPanel(context);
    assert.equal(((await storage(panel, "session", "latch.offers"))?.offers ?? []).length, 0);
  } finally { await close(); }
});
