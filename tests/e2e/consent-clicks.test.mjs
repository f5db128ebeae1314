// The two consent clicks can't be taken from a user who meant something else (issue 24,
// SECURITY.md "Consent clicks"): a key held on the app's page doesn't press Continue; a
// prompt that slides under a resting pointer, the panel coming back, and the second click
// of a double-click around a closing window approve nothing. Each test ends by doing it as a
// person would, which works.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startStack, launchBrowser, openPanel, pasteToken, storage, waitForBindings, clickArmed,
  sleep, APP, PROMPT,
} from "./harness.mjs";

let stack;
before(async () => { stack = await startStack(); });
after(async () => { await stack?.stop(); });

const offers = async (panel) => ((await storage(panel, "session", "latch.offers"))?.offers ?? []).length;
const bindings = async (panel) => ((await storage(panel, "local", "latch.bindings")) ?? []).length;

/** Key events as a held key sends them (`autoRepeat`), to whatever has the focus in `page`. */
async function holdKey(context, page, key, ms) {
  const cdp = await context.newCDPSession(page);
  const k = key === "Enter"
    ? { key: "Enter", code: "Enter", windowsVirtualKeyCode: 13, text: "\r" }
    : { key: " ", code: "Space", windowsVirtualKeyCode: 32, text: " " };
  const end = Date.now() + ms;
  while (Date.now() < end) {
    await cdp.send("Input.dispatchKeyEvent", { type: "keyDown", autoRepeat: true, ...k }).catch(() => {});
    await sleep(33); // ~30 repeats a second, as a held key
  }
  await cdp.send("Input.dispatchKeyEvent", { type: "keyUp", ...k }).catch(() => {});
  await cdp.detach().catch(() => {});
}

for (const key of ["Enter", "Space"]) {
  test(`${key} held on the app's page while the connect page loads presses nothing; a fresh press on Continue does`, async () => {
    const { context, close } = await launchBrowser();
    try {
      const app = await context.newPage();
      await app.goto(`${APP}/`);
      const connect = app.getByRole("button", { name: "Connect Latch" });
      await connect.waitFor();
      await connect.focus();
      const opened = context.waitForEvent("page");
      await app.keyboard.down(key === "Enter" ? "Enter" : " ");
      if (key === "Space") await app.keyboard.up(" "); // Space presses a button on release
      const popup = await opened;
      // The key stays down: its repeats go to the popup while it describes the link, checks
      // its opener, shows Continue and arms it (well past the arming).
      const cont = popup.getByRole("button", { name: "Continue" });
      const held = holdKey(context, popup, key, 3000);
      // The worst case too: the key is held on Continue itself from before it armed.
      const onContinue = cont.waitFor({ timeout: 3000 }).then(() => cont.focus({ timeout: 500 })).catch(() => {});
      await held;
      await onContinue;
      await sleep(500);
      const panel = await openPanel(context);
      assert.equal(await offers(panel), 0, "nothing handed to the extension");
      assert.equal(await popup.getByRole("heading", { name: "Connect Acme to Latch" }).isVisible(), true);
      // A press that begins now, on the armed Continue, counts.
      await popup.keyboard.press(key === "Enter" ? "Enter" : " ");
      await popup.getByRole("heading", { name: "Approve in the Latch side panel" }).waitFor();
      assert.equal(await offers(panel), 1);
    } finally { await close(); }
  });
}

/** Where `locator`'s centre is in its page. */
async function centre(locator) {
  const b = await locator.boundingBox();
  return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
}

/** Two prompts in the panel (dana's above erin's), both armed. */
async function twoPrompts(context) {
  const panel = await openPanel(context);
  await pasteToken(panel, await stack.mint("dana"));
  await panel.getByRole("heading", { name: PROMPT }).waitFor();
  await pasteToken(panel, await stack.mint("erin"));
  const approve = panel.getByRole("button", { name: "Approve", exact: true });
  await waitForCount(approve, 2);
  await sleep(1000);
  return { panel, approve };
}

async function waitForCount(locator, n) {
  const end = Date.now() + 10000;
  while ((await locator.count()) !== n) {
    if (Date.now() > end) throw new Error(`expected ${n}, have ${await locator.count()}`);
    await sleep(20);
  }
}

/**
 * A left press and release at `at` straight to the page, no move before (nothing the page
 * saw brought the pointer there). `force`: the pressure; a real mouse's is 0.5, Chrome's
 * accessibility click's 0.
 */
async function pressInPlace(context, page, at, { clickCount, force }) {
  const cdp = await context.newCDPSession(page);
  for (const type of ["mousePressed", "mouseReleased"]) {
    const held = type === "mousePressed" ? { buttons: 1, force } : { buttons: 0 };
    await cdp.send("Input.dispatchMouseEvent", { type, x: at.x, y: at.y, button: "left", clickCount, ...held });
  }
  await cdp.detach();
}

/** A press and release where the mouse is, with no move first (a resting pointer). */
async function clickInPlace(page, clickCount = 1) {
  await page.mouse.down({ clickCount });
  await page.mouse.up({ clickCount });
}

test("a prompt that slides under a resting pointer can't be approved by the next click", async () => {
  const { context, close } = await launchBrowser();
  try {
    const { panel, approve } = await twoPrompts(context);
    const [first, second] = [approve.nth(0), approve.nth(1)];
    const firstAt = await centre(first);
    assert.ok((await centre(second)).y > firstAt.y, "erin's prompt is below dana's");
    await clickArmed(first);
    await waitForBindings(panel, 1);
    await waitForCount(approve, 1);
    assert.equal(Math.round((await centre(approve)).y), Math.round(firstAt.y), "erin's Approve is now under the pointer");
    await sleep(1000); // well past the arming: only the resting pointer stops this click
    await clickInPlace(panel);
    await sleep(1000);
    assert.equal(await bindings(panel), 1, "the click aimed at dana's prompt approved nothing more");
    assert.equal(await approve.count(), 1, "erin's prompt still waits");
    await clickArmed(approve);
    await waitForBindings(panel, 2);
  } finally { await close(); }
});

/** A prompt in the panel, armed for a while; its Approve. */
async function onePrompt(context) {
  const panel = await openPanel(context);
  await pasteToken(panel, await stack.mint("dana"));
  const approve = panel.getByRole("button", { name: "Approve", exact: true });
  await approve.waitFor();
  await sleep(1500);
  return { panel, approve };
}

/**
 * The user goes to another window. Playwright tells every page it has the focus unless told
 * not to; with that off, bringing a page to the front is a real focus change.
 */
async function focusElsewhere(context, panel) {
  const cdp = await context.newCDPSession(panel);
  await cdp.send("Emulation.setFocusEmulationEnabled", { enabled: false });
  const other = await context.newPage();
  await other.goto(`${APP}/`);
  await other.bringToFront();
  await sleep(200);
}

test("Approve after the panel comes back waits for the arming again", async () => {
  const { context, close } = await launchBrowser();
  try {
    const { panel, approve } = await onePrompt(context);
    assert.equal(await approve.isDisabled(), false, "armed while the panel kept the focus");
    await approve.focus(); // a keyboard user's place
    await focusElsewhere(context, panel);
    await panel.bringToFront();
    await sleep(100);
    assert.equal(await approve.isDisabled(), true, "disarmed again");
    await panel.keyboard.press("Enter");
    await sleep(800);
    assert.equal(await bindings(panel), 0, "Enter in the first moment after coming back counts for nothing");
    assert.equal(await approve.isDisabled(), false);
    await panel.keyboard.press("Enter");
    await waitForBindings(panel, 1);
  } finally { await close(); }
});

test("the click that brings the focus back into the panel counts, once the pointer moved there", async () => {
  const { context, close } = await launchBrowser();
  try {
    const { panel, approve } = await onePrompt(context);
    await focusElsewhere(context, panel);
    await panel.evaluate(() => { window.focusEvents = 0; addEventListener("focus", () => { window.focusEvents += 1; }); });
    // Straight from the other window onto Approve: one click, no waiting for the arming.
    await clickArmed(approve);
    await waitForBindings(panel, 1);
    assert.ok(await panel.evaluate(() => window.focusEvents) >= 1, "the click brought the panel the focus");
  } finally { await close(); }
});

test("a double-click around a window that closes on its first click approves nothing", async () => {
  const { context, close } = await launchBrowser();
  try {
    // A page parked an offer; its prompt has been armed for seconds, untouched.
    const panel = await openPanel(context);
    await panel.getByLabel("Pairing token").fill(await stack.mint("dana"));
    await panel.getByRole("button", { name: "Connect", exact: true }).press("Enter");
    const approve = panel.getByRole("button", { name: "Approve", exact: true });
    await approve.waitFor();
    await sleep(2000);
    const at = await centre(approve);
    // The user read the prompt with the pointer over it, then went back to the page.
    await panel.mouse.move(at.x - 40, at.y - 60);
    await panel.mouse.move(at.x, at.y - 30);
    await panel.mouse.move(-50, at.y);
    // The page's window over the panel, with a target under Approve: it closes on the first
    // click, and the double-click's second click lands on the panel where the first did.
    const decoy = await context.newPage();
    await decoy.setContent(`<button style="position:fixed;left:${at.x - 60}px;top:${at.y - 20}px;width:120px;height:40px">Double-click to claim</button>`);
    await decoy.mouse.move(at.x, at.y);
    await decoy.mouse.down({ clickCount: 1 });
    await decoy.mouse.up({ clickCount: 1 });
    await decoy.close();
    await pressInPlace(context, panel, at, { clickCount: 2, force: 0.5 });
    await sleep(1000);
    assert.equal(await bindings(panel), 0, "the second click of the double-click approved nothing");
    await clickArmed(approve);
    await waitForBindings(panel, 1);
  } finally { await close(); }
});

test("a screen reader's activation (Chrome's accessibility click: a press of pressure 0, no move) approves once armed", async () => {
  const { context, close } = await launchBrowser();
  try {
    const { panel, approve } = await onePrompt(context);
    await pressInPlace(context, panel, await centre(approve), { clickCount: 1, force: 0 });
    await waitForBindings(panel, 1);
  } finally { await close(); }
});
