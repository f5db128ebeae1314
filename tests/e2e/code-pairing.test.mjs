// Code pairing in real Chromium: the panel shows a code, the owner (relay CLI) or the app
// approves it, the panel asks its user, and only Approve there binds — also across killed
// workers, a killed relay, a relay that lost the challenge, and 20 s of 503s.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import {
  startStack, launchBrowser, openPanel, storage, stopWorkers, waitForBindings, approveWhenArmed, relayCall, sleep, CLI_PROMPT,
  PROMPT,
} from "./harness.mjs";

const CODE = /^[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}$/;
let stack;
after(async () => { await stack?.stop(); });

async function showCode(panel) {
  await panel.getByRole("button", { name: "Pair with a code" }).click();
  const code = panel.locator(".code");
  await code.waitFor({ timeout: 10000 });
  const text = (await code.textContent()).trim();
  assert.match(text, CODE);
  return text;
}

async function expectConnected(panel) {
  const [binding] = await waitForBindings(panel, 1);
  assert.equal(binding.tenantId, "acme");
  assert.equal(binding.userId, "dana");
  assert.equal(await stack.gate(binding.accessToken), "key-bound");
  await panel.getByRole("listitem").filter({ hasText: "Acme" }).waitFor();
  assert.equal(await storage(panel, "local", "latch.challenge"), undefined, "challenge cleared");
  return binding;
}

/** The owner approves `code`; the panel's prompt is then approved by its user. */
async function ownerApprovesThenUser(panel, code, user = "dana") {
  await stack.cli("pairing", "approve", code, "--tenant", "acme", "--user", user);
  await approveWhenArmed(panel, undefined, CLI_PROMPT, 45000);
}

test("code shown in the panel → pairing approve → the prompt within 1 s → Approve → tokens stored", async () => {
  stack = await startStack({ LATCH_CHALLENGE_REQUESTS_PER_MINUTE: "100" });
  const { context, close } = await launchBrowser();
  try {
    const panel = await openPanel(context);
    const code = await showCode(panel);
    await panel.getByText(/Expires in \d+:\d\d/).waitFor();
    const stored = await storage(panel, "local", "latch.challenge");
    assert.equal(stored.code.length, 8);
    assert.match(stored.challengeId, /^lch_/);
    for (const k of ["expiresAt", "nextPollAt", "attempt"]) assert.equal(typeof stored[k], "number", k);

    await sleep(300); // the long-poll is waiting at the relay
    const approval = await stack.cli("pairing", "approve", code, "--tenant", "acme", "--user", "dana");
    assert.equal(approval.status, "awaiting_confirmation");
    const approvedAt = Date.now();
    await panel.getByRole("heading", { name: CLI_PROMPT }).waitFor();
    const latency = Date.now() - approvedAt;
    console.log(`# code approval → prompt on screen: ${latency} ms`);
    assert.ok(latency < 1000, `${latency} ms`);
    // The app's listing names the browser that asked (PROTOCOL §10's default name).
    const listing = await relayCall("GET", "/api/pairing/pending", stack.apiKey);
    assert.match(listing.body.pending.find((p) => p.code.replace("-", "") === code.replace("-", ""))?.deviceName ?? "",
      /^(Chromium|Chrome|HeadlessChrome) \d+ on Linux$/, JSON.stringify(listing.body));
    assert.equal(((await storage(panel, "local", "latch.bindings")) || []).length, 0, "nothing bound before Approve");
    // The badge counts the prompt (set by a task of its own: wait for it).
    const badgeBy = Date.now() + 5000;
    while ((await panel.evaluate(() => chrome.action.getBadgeText({}))) !== "1") {
      assert.ok(Date.now() < badgeBy, "the badge never counted the code prompt");
      await sleep(50);
    }
    await approveWhenArmed(panel, undefined, CLI_PROMPT);
    await expectConnected(panel);
    await panel.getByText("Approved. The app is listed under Connected apps.").waitFor();
  } finally { await close(); await stack.stop(); stack = null; }
});

test("worker stopped while the code is pending, and while waiting for the relay", async () => {
  stack = await startStack();
  const { context, close } = await launchBrowser();
  try {
    let panel = await openPanel(context);
    const code = await showCode(panel);
    await stopWorkers(context);
    await stack.cli("pairing", "approve", code, "--tenant", "acme", "--user", "dana");
    // Any event starts the worker again; it resumes from latch.challenge.
    await panel.reload();
    await approveWhenArmed(panel, undefined, CLI_PROMPT);
    await expectConnected(panel);

    // Waiting for the relay: relay down, worker killed, relay back.
    await panel.getByRole("button", { name: "Pair with a code" }).click();
    const second = (await panel.locator(".code").textContent()).trim();
    await stack.killRelay();
    await panel.getByText(/Waiting for Latch's relay\. Retrying in/).waitFor({ timeout: 30000 });
    await stopWorkers(context);
    await stack.restartRelay();
    await stack.cli("pairing", "approve", second, "--tenant", "acme", "--user", "dana");
    await panel.reload();
    await approveWhenArmed(panel, undefined, CLI_PROMPT, 40000);
    await waitForBindings(panel, 2, 40000);
  } finally { await close(); await stack.stop(); stack = null; }
});

test("relay killed mid-poll: recovers on the same database; a fresh code when the challenge is gone", async () => {
  stack = await startStack();
  const { context, close } = await launchBrowser();
  try {
    const panel = await openPanel(context);
    const first = await showCode(panel);
    await stack.killRelay();
    await stack.restartRelay({ freshDb: true });
    // The relay no longer knows the challenge: 404 → a new code appears by itself.
    const end = Date.now() + 45000;
    let second = first;
    while (second === first) {
      assert.ok(Date.now() < end, "no fresh code appeared");
      await sleep(200);
      second = ((await panel.locator(".code").textContent({ timeout: 1000 }).catch(() => first)) || first).trim();
    }
    assert.match(second, CODE);
    await ownerApprovesThenUser(panel, second);
    await expectConnected(panel);
  } finally { await close(); await stack.stop(); stack = null; }
});

test("relay answering 503 for 20 s: bounded backoff, no request storm, then recovery", async () => {
  stack = await startStack({}, { proxy: true });
  const { context, close } = await launchBrowser();
  try {
    const panel = await openPanel(context);
    const code = await showCode(panel);
    const { state } = stack.fault;
    await sleep(500); // the first long-poll is waiting at the relay
    const from = Date.now();
    state.fail(true);
    await panel.getByText(/Waiting for Latch's relay\. Retrying in/).waitFor({ timeout: 10000 });
    await sleep(20000 - (Date.now() - from));
    state.fail(false);
    const during = state.requests.filter((r) => r.at >= from && r.path.startsWith("/api/pairing/")).length;
    console.log(`# requests during a 20 s outage: ${during}`);
    // Backoff: 1, 2, 4, 8, 16 s ceilings with full jitter, never under the 5 s interval.
    assert.ok(during >= 2 && during <= 6, `${during} requests in 20 s`);
    await ownerApprovesThenUser(panel, code);
    const [binding] = await waitForBindings(panel, 1, 40000);
    assert.equal(binding.userId, "dana");
  } finally { await close(); await stack.stop(); stack = null; }
});

test("the app's own page approves a typed code; the panel asks its user, and only Approve binds", async () => {
  stack = await startStack();
  const { context, close } = await launchBrowser();
  try {
    const panel = await openPanel(context);
    const code = await showCode(panel);
    const app = await context.newPage();
    await app.goto("http://localhost:8788/"); // signs in
    // The panel links the app's own page for this code (tenant create --pair-url).
    const link = panel.getByRole("link", { name: "Or open localhost:8788 with this code filled in" });
    assert.equal(await link.getAttribute("href"), `http://localhost:8788/pair?code=${code}`);
    const opened = context.waitForEvent("page");
    await link.click();
    const page = await opened;
    assert.equal(await page.getByLabel("Pairing code").inputValue(), code, "the link fills the code in");
    await page.close();
    await app.goto("http://localhost:8788/pair?code=AB%22CD-2345%3Cx");
    assert.equal(await app.getByLabel("Pairing code").inputValue(), "AB\"CD-234", "?code= fills the field, escaped and cut to 9");
    await app.goto("http://localhost:8788/");
    await app.getByRole("link", { name: "Approve a pairing code" }).click();
    await app.getByLabel("Pairing code").fill("ZZZZ-ZZZZ");
    await app.getByRole("button", { name: "Approve" }).click();
    await app.getByText("No pending code matches").waitFor();
    await app.getByLabel("Pairing code").fill(code.toLowerCase());
    await app.getByRole("button", { name: "Approve" }).click();
    await app.getByText("Sent. Approve the request in Latch in that browser to connect it to Acme as dana.").waitFor();
    // The same prompt as one-click: the app, its id and the user, and where it came from.
    await panel.getByRole("heading", { name: PROMPT }).waitFor();
    const prompt = panel.locator("article.prompt");
    await prompt.getByText("acme", { exact: true }).waitFor();
    await prompt.getByText("dana", { exact: true }).waitFor();
    await prompt.getByText("http://localhost:8788", { exact: true }).waitFor();
    await prompt.getByText(`An app entered this browser's code ${code}. Approve only if you just asked Acme to connect.`).waitFor();
    assert.ok(await prompt.getByRole("button", { name: "Approve", exact: true }).isDisabled(), "Approve arms after a delay");
    await panel.getByText("Acme entered this code. Answer its request under Pending approvals.").waitFor();
    assert.equal(((await storage(panel, "local", "latch.bindings")) || []).length, 0, "nothing bound before Approve");
    await approveWhenArmed(panel);
    await expectConnected(panel);
    await panel.getByText("Nothing is waiting for your approval.").waitFor();
  } finally { await close(); await stack.stop(); stack = null; }
});

test("relay restarted between the app's approval and the user's Approve: the prompt stays, Approve binds once", async () => {
  stack = await startStack();
  const { context, close } = await launchBrowser();
  try {
    const panel = await openPanel(context);
    const code = await showCode(panel);
    await stack.cli("pairing", "approve", code, "--tenant", "acme", "--user", "dana");
    await panel.getByRole("heading", { name: CLI_PROMPT }).waitFor();
    await stack.killRelay();
    // Approve while the relay is down: the confirm is retried with backoff, same key.
    await approveWhenArmed(panel, undefined, CLI_PROMPT);
    await panel.getByText("Connecting…").waitFor();
    await sleep(1500);
    await stack.restartRelay();
    const [binding] = await waitForBindings(panel, 1, 40000);
    assert.equal(binding.userId, "dana");
    const listed = (await stack.cli("binding", "list", "--tenant", "acme", "--json")).filter((b) => !b.revoked);
    assert.deepEqual(listed.map((b) => b.bindingId), [binding.bindingId], "one binding at the relay");
    await expectConnected(panel);
  } finally { await close(); await stack.stop(); stack = null; }
});
