// What a DPoP proof adds to each of the extension's requests (issue 22): in headless
// Chromium, on an extension page of the built extension, the WebCrypto work the worker does
// per proof (shell/dpop.rs): SHA-256 of the access token (`ath`), then an ECDSA P-256 /
// SHA-256 signature with a non-extractable key read from IndexedDB once (timed in batches
// of 50: an extension page's clock ticks in 0.1 ms steps), over a signing
// input of the size the worker signs. Also the one-time costs: making the key, keeping it
// in IndexedDB, and reading it back after a worker start. Prints medians and p90s in ms.
//   node tests/bench/dpop-sign.mjs            (after tests/support/build.sh)
import { launchBrowser, EXTENSION_ID } from "../e2e/harness.mjs";

const N = Number(process.env.LATCH_BENCH_PROOFS || 500);
const { context, close } = await launchBrowser();
try {
  const page = await context.newPage();
  await page.goto(`chrome-extension://${EXTENSION_ID}/panel.html`);
  const r = await page.evaluate(async (n) => {
    const now = () => performance.now();
    const q = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
    const make = [], keep = [], read = [], sign = [];
    const db = await new Promise((ok, fail) => {
      const r = indexedDB.open("latch-bench", 1);
      r.onupgradeneeded = () => r.result.createObjectStore("keys");
      r.onsuccess = () => ok(r.result);
      r.onerror = fail;
    });
    const done = (req) => new Promise((ok, fail) => { req.onsuccess = () => ok(req.result); req.onerror = fail; });
    let key;
    for (let i = 0; i < 20; i++) {
      let t = now();
      const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
      await crypto.subtle.exportKey("jwk", pair.publicKey);
      make.push(now() - t);
      t = now();
      await done(db.transaction("keys", "readwrite").objectStore("keys").put({ key: pair.privateKey }, `k${i}`));
      keep.push(now() - t);
      t = now();
      key = (await done(db.transaction("keys").objectStore("keys").get(`k${i}`))).key;
      read.push(now() - t);
    }
    const token = "x".repeat(420); // an access token with cnf.jkt is ~420 characters
    const input = new TextEncoder().encode("h".repeat(200) + "." + "c".repeat(260));
    // In batches of 50: an extension page's clock ticks in 0.1 ms steps, coarser than one proof.
    for (let b = 0; b < n / 50 + 1; b++) {
      const t = now();
      for (let i = 0; i < 50; i++) {
        await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token));
        await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, input);
      }
      if (b > 0) sign.push((now() - t) / 50); // the first batch warms up
    }
    const row = (xs) => ({ p50: q(xs, 50), p90: q(xs, 90) });
    return { make: row(make), keep: row(keep), read: row(read), sign: row(sign) };
  }, N);
  const fmt = ({ p50, p90 }) => `${p50.toFixed(3)} | ${p90.toFixed(3)}`;
  console.log(`| what (headless Chromium, ${N} proofs) | p50 ms | p90 ms |\n|---|---|---|`);
  console.log(`| per request: ath digest + ES256 sign (non-extractable key) | ${fmt(r.sign)} |`);
  console.log(`| per pairing: generate the key + export its public JWK | ${fmt(r.make)} |`);
  console.log(`| per pairing: keep it in IndexedDB | ${fmt(r.keep)} |`);
  console.log(`| per worker start: read it back from IndexedDB | ${fmt(r.read)} |`);
} finally {
  await close();
}
