// Pause without forgetting (issue 21 item 5, PROTOCOL §10): Pause closes the app's live
// channel and keeps the tokens; the app hears 409 extension_paused, not extension_offline;
// no refresh runs and nothing reconnects while paused, also after the worker is stopped;
// Resume refreshes the expired token and the app reaches the browser again.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import {
  startStack, launchBrowser, openPanel, pairByPaste, relayCall, storage, stopWorkers, sleep, RELAY_METRICS, RELAY,
  proofByExtension, until,
} from "./harness.mjs";

let stack;
after(async () => { await stack?.stop(); });

const ping = () => relayCall("POST", "/api/errands", stack.apiKey, { userId: "dana", kind: "ping", params: {} });


const liveSockets = async () => {
  const text = await (await fetch(`${RELAY_METRICS}/metrics`)).text();
  return Number(/^latch_live_sockets (\d+)/m.exec(text)?.[1]);
};

test("Pause keeps the tokens and closes the channel; the app hears extension_paused; Resume brings it back", async () => {
  stack = await startStack({ LATCH_ACCESS_TTL_SECONDS: "6" });
  const { context, close } = await launchBrowser();
  try {
    const panel = await openPanel(context);
    await pairByPaste(panel, await stack.mint("dana"));
    await until("the first pong", async () => (await ping()).status === 200);
    const row = panel.getByRole("listitem").filter({ hasText: "Acme" });

    await row.getByRole("button", { name: "Pause" }).click();
    await row.getByText("Paused: Acme can't reach this browser until you resume. Its connection is kept.").waitFor();
    const paused = await ping();
    assert.deepEqual([paused.status, paused.body.error], [409, "extension_paused"]);
    await until("the socket closed", async () => (await liveSockets()) === 0);
    const { body } = await relayCall("GET", "/api/bindings", stack.apiKey);
    assert.equal(body.bindings[0].paused, true);
    assert.equal(await row.getByRole("button", { name: /Send this page/ }).count(), 0, "no captures while paused");
    const [kept] = await storage(panel, "local", "latch.bindings");
    assert.equal(kept.paused, true);

    // Past the access token's life, then a worker start (whose start-up refreshes every
    // expired token of a binding that isn't paused): no refresh, no socket.
    await stopWorkers(context);
    await sleep(8000);
    await panel.reload();
    await row.getByRole("button", { name: "Resume" }).waitFor();
    await sleep(1500); // start-up work waits 100 ms, a refresh takes a few
    const [still] = await storage(panel, "local", "latch.bindings");
    assert.equal(still.refreshToken, kept.refreshToken, "no refresh while paused");
    assert.equal(still.accessToken, kept.accessToken);
    assert.equal(await liveSockets(), 0, "nothing reconnected");
    assert.equal((await ping()).status, 409);

    await row.getByRole("button", { name: "Resume" }).click();
    await row.getByRole("button", { name: "Pause" }).waitFor();
    const pong = await until("a pong after Resume", async () => {
      const r = await ping();
      return r.status === 200 && r;
    });
    assert.deepEqual(pong.body.result, { pong: true, appName: "Acme" });
    const [resumed] = await storage(panel, "local", "latch.bindings");
    assert.notEqual(resumed.refreshToken, kept.refreshToken, "the expired token was refreshed on Resume");
    assert.ok(!resumed.paused);
  } finally { await close(); await stack.stop(); stack = null; }
});

test("paused at the relay behind the panel's back: the refused socket marks it paused here", async () => {
  stack = await startStack();
  const { context, close } = await launchBrowser();
  try {
    const panel = await openPanel(context);
    const binding = await pairByPaste(panel, await stack.mint("dana"));
    await until("the first pong", async () => (await ping()).status === 200);
    // Paused at the relay with this binding's token and key, as the worker does, but without
    // the worker storing it (as if it stopped between the call and the write).
    const url = `${RELAY}/api/me/pause`;
    const proof = await proofByExtension(panel, binding.dpopKey, "POST", url, binding.accessToken);
    const r = await fetch(url, {
      method: "POST", body: "{}",
      headers: { "content-type": "application/json", authorization: `DPoP ${binding.accessToken}`, dpop: proof },
    });
    assert.deepEqual(await r.json(), { bindingId: binding.bindingId, paused: true });
    const row = panel.getByRole("listitem").filter({ hasText: "Acme" });
    await row.getByRole("button", { name: "Resume" }).waitFor();
    const [marked] = await storage(panel, "local", "latch.bindings");
    assert.equal(marked.paused, true);
    assert.equal(await liveSockets(), 0);
    await row.getByRole("button", { name: "Resume" }).click();
    await until("a pong after Resume", async () => (await ping()).status === 200);
  } finally { await close(); await stack.stop(); stack = null; }
});
