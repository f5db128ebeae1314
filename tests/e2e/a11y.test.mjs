// Accessibility, languages and themes of the panel and the connect page, in real Chromium:
// axe-core finds no violations in any panel state (empty, prompt, error, code shown,
// connected apps, an organization policy that failed) in English and German, in the light
// and the dark theme, nor on the connect page; every control is reachable with the
// keyboard. The English light run also writes the README's screenshots (docs/).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  startStack, launchBrowser, openPanel, approveWhenArmed, waitForBindings, offerFromApp,
  screenshotPath, ROOT, EXTENSION_ID, clickArmed
} from "./harness.mjs";

const AXE = readFileSync(join(ROOT, "node_modules/axe-core/axe.min.js"), "utf8");

let stack;
before(async () => { stack = await startStack(); });
after(async () => { await stack?.stop(); });

/** axe-core on the page as it is now; fails with every violation named. */
async function noViolations(page, label) {
  // Evaluated over CDP, which the extension page's CSP does not govern.
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(AXE);
  const { violations } = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const found = violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  assert.deepEqual(found, [], `${label}: axe violations`);
}

/** Tabs through the page; every enabled button, link and field must take the focus, visibly. */
async function keyboardReachesEverything(page, label) {
  const controls = await page.evaluate(() =>
    [...document.querySelectorAll("button:not([disabled]), a[href], input")].filter((e) => e.offsetParent !== null).length);
  const seen = new Set();
  for (let i = 0; i < controls + 3; i++) {
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => {
      const e = document.activeElement;
      if (!e || e === document.body) return null;
      const outline = getComputedStyle(e).outlineStyle;
      return { key: `${e.tagName}:${e.id}:${e.textContent}`, visible: outline !== "none" };
    });
    if (focused) {
      assert.ok(focused.visible, `${label}: ${focused.key} has no visible focus`);
      seen.add(focused.key);
    }
  }
  assert.ok(seen.size >= controls, `${label}: Tab reached ${seen.size} of ${controls} controls`);
}

for (const [language, colorScheme] of [["en", "light"], ["de", "light"], ["en", "dark"]]) {
  test(`panel (${language}, ${colorScheme}): no axe violations in any state, keyboard reaches every control`, async () => {
    const { context, close } = await launchBrowser({ language, colorScheme });
    const shots = language === "en" && colorScheme === "light";
    try {
      const panel = await openPanel(context).catch(async () => {
        // In German the heading is not "Connected apps": open the page without that wait.
        const p = await context.newPage();
        await p.goto(`chrome-extension://${EXTENSION_ID}/panel.html`);
        return p;
      });
      const t = (key) => panel.evaluate((k) => chrome.i18n.getMessage(k), key);
      assert.equal(await panel.evaluate(() => chrome.i18n.getUILanguage().slice(0, 2)), language);
      assert.equal(await panel.evaluate(() => document.documentElement.lang.slice(0, 2)), language);
      await panel.getByRole("heading", { name: await t("connected_heading") }).waitFor();
      await panel.setViewportSize({ width: 400, height: 720 });
      const shot = async (name) => {
        if (!shots) return;
        await panel.evaluate(() => document.activeElement?.blur()); // no focus ring in the README
        await panel.screenshot({ path: screenshotPath(name), fullPage: true });
      };

      await noViolations(panel, `${language} empty`);
      await keyboardReachesEverything(panel, `${language} empty`);

      await panel.getByLabel(await t("pairing_token_label")).fill("not-a-token");
      await panel.getByRole("button", { name: await t("connect_button"), exact: true }).click();
      await panel.getByRole("alert").filter({ hasText: (await t("err_bad_token_shape")).slice(0, 20) }).waitFor();
      await noViolations(panel, `${language} error`);

      await panel.getByLabel(await t("pairing_token_label")).fill(await stack.mint("dana"));
      await panel.getByRole("button", { name: await t("connect_button"), exact: true }).click();
      const approve = panel.getByRole("button", { name: await t("approve"), exact: true });
      await approve.waitFor();
      await noViolations(panel, `${language} prompt`);
      await keyboardReachesEverything(panel, `${language} prompt`);
      await clickArmed(approve);
      await waitForBindings(panel, 1);
      await panel.getByRole("button", { name: await t("disconnect") }).waitFor();
      await noViolations(panel, `${language} connected`);
      await keyboardReachesEverything(panel, `${language} connected`);
      await shot("connected-apps.png");

      await panel.getByRole("button", { name: await t("rename"), exact: true }).click();
      await panel.getByLabel(await t("rename_label")).waitFor();
      await noViolations(panel, `${language} rename`);
      await keyboardReachesEverything(panel, `${language} rename`);
      await panel.getByRole("button", { name: await t("rename_cancel") }).click();

      await panel.getByRole("button", { name: await t("code_start") }).click();
      await panel.locator(".code").waitFor();
      await noViolations(panel, `${language} code`);
      await shot("code-pairing.png");
      await panel.getByRole("button", { name: await t("cancel") }).click();

      // An organization policy that did not connect this browser.
      await panel.evaluate(() => chrome.storage.local.set({
        "latch.managed": { fingerprint: "0", outcome: "refused", error: "assertion_replayed" },
      }));
      await panel.getByRole("alert").filter({ hasText: await t("policy_problem") }).waitFor();
      await noViolations(panel, `${language} policy problem`);
    } finally { await close(); }
  });
}

test("connect page: no axe violations before and after Continue, keyboard reaches Continue", async () => {
  const { context, close } = await launchBrowser();
  try {
    const { popup } = await offerFromApp(context, async () => {});
    await noViolations(popup, "connect page, waiting for approval");
    await popup.screenshot({ path: screenshotPath("connect-page.png") });
    const panel = await openPanel(context);
    await approveWhenArmed(panel);
  } finally { await close(); }
  const { context: c2, close: close2 } = await launchBrowser();
  try {
    const app = await c2.newPage();
    await app.goto("http://localhost:8788/");
    const opened = c2.waitForEvent("page");
    await app.getByRole("button", { name: "Connect Latch" }).click();
    const popup = await opened;
    await popup.getByRole("button", { name: "Continue" }).waitFor();
    await noViolations(popup, "connect page");
    await keyboardReachesEverything(popup, "connect page");
    await noViolations(app, "demo app with the embed");
  } finally { await close2(); }
  // Without the extension: the Install link, and the relay's /install steps.
  const { context: c3, close: close3 } = await launchBrowser({ withoutExtension: true });
  try {
    const page = await c3.newPage();
    await page.goto(`http://localhost:8787/connect#token=${await stack.mint("dana")}`);
    await page.getByRole("link", { name: "Install Latch" }).waitFor();
    await noViolations(page, "connect page without the extension");
    await keyboardReachesEverything(page, "connect page without the extension");
    await page.goto("http://localhost:8787/install");
    await noViolations(page, "install steps");
  } finally { await close3(); }
});
