// Naming this browser (issue 21 item 4, PROTOCOL §10): a pairing sends a default name from
// the browser and OS, the app lists it, the user renames it in the panel (Rename), a name
// the relay refuses changes nothing and keeps the typed text, and a chosen name stays with
// its binding: the next pairing (after the worker was stopped) sends the default again.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import {
  startStack, launchBrowser, openPanel, pairByPaste, pasteToken, approveWhenArmed, waitForBindings, relayCall,
  storage, stopWorkers,
} from "./harness.mjs";

let stack;
after(async () => { await stack?.stop(); });

/** The device name the app sees for `userId`'s binding. */
async function listedName(userId) {
  const { status, body } = await relayCall("GET", "/api/bindings", stack.apiKey);
  assert.equal(status, 200);
  const row = body.bindings.find((b) => b.userId === userId && !b.revoked);
  assert.ok(row, `no binding of ${userId}: ${JSON.stringify(body)}`);
  return row.deviceName;
}

test("the app sees this browser's name; Rename changes it for that binding only", async () => {
  stack = await startStack();
  const { context, close } = await launchBrowser();
  try {
    const panel = await openPanel(context);
    const binding = await pairByPaste(panel, await stack.mint("dana"));
    // Debian's Chromium on Linux: "Chromium 1xx on Linux" (HeadlessChrome in old headless).
    const byDefault = await listedName("dana");
    console.log(`# default device name: ${byDefault}`);
    assert.match(byDefault, /^(Chromium|Chrome|HeadlessChrome) \d+ on Linux$/);
    assert.equal(binding.deviceName, byDefault, "the stored binding keeps the name it sent");
    const row = panel.getByRole("listitem").filter({ hasText: "Acme" });
    await row.getByText(`Shown to the app as ${byDefault}`).waitFor();

    // A name the relay refuses: the form stays open with the text, nothing changes.
    await row.getByRole("button", { name: "Rename" }).click();
    const field = row.getByLabel("Name of this browser");
    assert.equal(await field.inputValue(), byDefault);
    await field.fill("PC\u202Eexe.txt");
    await row.getByRole("button", { name: "Save" }).click();
    await panel.getByText("Use 1 to 64 characters of one script").waitFor();
    assert.equal(await field.inputValue(), "PC\u202Eexe.txt");
    assert.equal(await listedName("dana"), byDefault);

    await field.fill("  Work laptop ");
    await row.getByRole("button", { name: "Save" }).click();
    await panel.getByText("Acme now sees this browser as “Work laptop”.").waitFor();
    await row.getByText("Shown to the app as Work laptop").waitFor();
    assert.equal(await listedName("dana"), "Work laptop");
    assert.equal((await storage(panel, "local", "latch.bindings"))[0].deviceName, "Work laptop");

    // Cancel leaves the name alone.
    await row.getByRole("button", { name: "Rename" }).click();
    await row.getByLabel("Name of this browser").fill("Something else");
    await row.getByRole("button", { name: "Cancel" }).click();
    await row.getByText("Shown to the app as Work laptop").waitFor();

    // A fresh worker, another pairing: the default again; the renamed binding keeps its name.
    await stopWorkers(context);
    await pasteToken(panel, await stack.mint("erin"));
    await approveWhenArmed(panel);
    await waitForBindings(panel, 2);
    assert.equal(await listedName("erin"), byDefault);
    assert.equal(await listedName("dana"), "Work laptop");
  } finally { await close(); await stack.stop(); stack = null; }
});
