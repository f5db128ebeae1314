// Size budgets of the built extension (CI runs this after tests/support/build.sh; sizes are
// deterministic, so this is a check, not a benchmark). Prints raw and gzip -9 bytes of
// every .wasm and .js in dist/extension/ and of the zip, then fails if a budget is exceeded.
// KB here is 1,000 bytes. Usage: node tests/support/size-budget.mjs
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import { ROOT } from "../e2e/harness.mjs";

const DIST = join(ROOT, "dist/extension");
const ZIP = join(ROOT, "dist/latch-extension.zip");

/**
 * `limit`: enforced (gzip bytes for wasm, raw for the zip). `target`: issue 8's goal where
 * the limit is still above it. The limit moves down as code is removed; it moves up only
 * for a feature's own code, by what that feature measured (BENCHMARKS.md says which):
 * 100 KB → 82 KB (the core's JS codec, litemap), → 86 KB (enterprise auto-pair, +5.0 KB),
 * → 91.6 KB (consent on every path, issue 17: code prompt, confirm/reject, opener, +6.3 KB),
 * → 108.5 KB (serde-wasm-bindgen restored at the JS boundary, as the design card fixes it:
 * +18.1 KB measured; the hand-written codec it replaced is gone), → 108.6 KB (issue 18: the
 * socket's close codes — 4409 replaced, 4408 expired — and the renewing `auth` after each
 * refresh, core::session, +0.3 KB measured: 108,539 bytes), → 108.7 KB (issue 18 review: after
 * a 4409 the worker reconnects 5 min later instead of never, +0.1 KB: 108,650 bytes),
 * → 109.75 KB (issue 19: values from JS refused past 64 levels of nesting, a deadline on
 * relay calls, the panel state's storage reads joined and one describe per offer at a time,
 * each refresh scheduling the next; +1.07 KB measured: 109,719 bytes), → 111.55 KB (issue 20:
 * the wire types in their own crate, latch-wire; release builds don't share generic code
 * across crates, so std's Vec growth and friends are instantiated twice: +0.39 KB measured,
 * 110,104 bytes; the socket's frames typed on both sides, the worker now reading the relay's
 * `hello {protocol}` and `errand {params}` it skipped before: +0.14 KB, 110,242 bytes;
 * futures-intrusive's fair mutex for the worker's locks, fixing the hand-made one's lost
 * wake-up, futures-channel's oneshot for the refresh waiters and typed command errors:
 * +1.19 KB, 111,433 bytes; a forgotten binding's refresh waiters hear it failed instead of
 * waiting for ever, +0.09 KB: 111,519 bytes; the live channel's session as a sans-IO core,
 * `core::live::Links`, with the worker only driving it: +0.54 KB measured, 112,060 bytes,
 * with its state in one vector of bindings and the sockets in another: the first cut's five
 * LiteMaps of different value types cost +5.2 KB); the review's fixes to it (a failed
 * storage read is not "no bindings", disconnected bindings stay gone, one wake-up chain):
 * +0.75 KB, 112,805 bytes; secrets encoded by base64ct instead of a hand-written alphabet:
 * +0.80 KB, 113,600 bytes (its decoder for the shape check would have cost 1.9 KB: the
 * shape stays checked by hand, held against base64ct's decoding by a proptest); moments
 * typed as `EpochMs` with saturating arithmetic (its add and sub out of line: inlined at every
 * use they cost +0.21 KB), and timer delays capped where setTimeout still honours them:
 * +0.13 KB, 113,646 bytes; a code's life (up to an hour) and the waits taken from a relay
 * (10 min) bounded by two constants instead of one: +0.01 KB, 113,657 bytes, → 115.8 KB
 * (issue 21: naming this browser — the default "Chrome 156 on Linux" from the brands and the
 * platform, the Rename command with its PATCH and the name kept per binding: +2.14 KB net,
 * 115,791 bytes; the first cut cost +4.9 KB, until relay calls shared one non-generic
 * `fetch` (each answer type had its own ~2 KB copy) and the brands were read field by field
 * instead of through a serde decode), → 117.7 KB (issue 21: Pause / Resume per app — the
 * commands, the stored flag, the relay call and its answer, the live core closing a paused
 * or broken binding's socket — and an `auth_ack` that comes before any `auth` no longer
 * taken as one: +1.90 KB, 117,689 bytes, with Rename and Pause sharing one non-generic relay
 * call, `user_change::at_relay`, which saved 0.13 KB of it), → 118.9 KB (issue 21: the code
 * request's `url` kept through to the panel — a field in the relay's answer, the stored
 * challenge and the panel's view, each record's encoder and decoder growing — and a socket
 * refused with `binding_paused` marking the binding paused, so a pause the worker never
 * stored is learned: +1.13 KB, 118,823 bytes; the url's host checked for userinfo, after
 * the review: +0.16 KB, 118,984 bytes), → 118.6 KB (every write of one stored binding
 * through one non-generic `state::update_binding`: -0.41 KB, 118,571 bytes), → 128.3 KB
 * (issue 22: key-bound sessions, +9.69 KB, 128,262 bytes. twiggy over unstripped builds of
 * both commits: of +25 KB of code, `shell/dpop.rs` is 8.0 KB — WebCrypto key generation,
 * signing and digest, and IndexedDB, through web-sys, each call an awaited future — web-sys's
 * bindings 2.9 KB, the relay call's credential and nonce retry 2.7 KB, `background/keys.rs`
 * 1.5 KB, the socket proofs 1.4 KB, drops and thread-locals of the new state 3.9 KB; the
 * proof's JSON is written out, not serialised, which kept serde out of it), → 129.4 KB (the
 * review's fixes: a pairing's key slot named by its retry secret's SHA-256, a key write
 * awaited to its commit, a refused Disconnect kept while the key is here, the upgrade's key
 * found after a lost answer: +1.10 KB, 129,358 bytes), → 130.65 KB (issue 23: how a binding
 * was made, `via`, sent with each pairing: +0.21 KB, 129,520 bytes; the panel's Activity read
 * at the relay and passed on undecoded (the worker has no code for its shape), Disconnect all,
 * the gate Rename and Pause share taking reads too (never of a paused binding, whose tokens
 * a read could refresh), and the two commands in the flat decoder: +0.99 KB, 130,510 bytes;
 * after the review, Disconnect all going on past a binding already gone or one that fails:
 * +0.11 KB, 130,619 bytes; an idle revocation heard: the refusal's `revokedBy` and
 * `idleSeconds` decoded and kept as `idle:<seconds>`, the socket's `binding_idle` close
 * answered with a refresh: +0.36 KB, 130,983 bytes).
 * → 131.0 KB. Ratchet down from here.
 *
 * The panel: 180 KB → 190.3 KB (issue
 * 23: the Activity view with its entries in words, "Last used", Disconnect all: +11.8 KB,
 * 190,106 bytes, measured part by part: the list, its words and its decoding 3.9 KB, the
 * Activity button and the read behind it 4.4 KB, "Last used" 2.0 KB, Disconnect all 1.5 KB
 * as one button that asks first (2.5 KB as two views); a Leptos `LocalResource` for the read
 * cost 13 KB more and was replaced by a signal filled by a task); after the review, the
 * confirming button armed as Approve is, so a double-click only asks: +0.70 KB, 190,807 bytes;
 * the second review's fixes, +2.60 KB, 193,406 bytes (part by part on a first cut of
 * 193,473 bytes): an idle
 * revocation in words ("Expired after 90 days without use") 0.93 KB, of it 0.38 KB for
 * `Intl.NumberFormat`'s units (plurals in every language without a catalogue entry each);
 * a late Activity read not overwriting a newer one and Cancel handing the focus back
 * 0.63 KB; app-chosen codes shown only in a code's shape, neutral words for an unknown
 * `via`/`by`, each list named for its app 1.1 KB; then a needs-repair code shown only in
 * a code's shape and the stored form read without a parse of its own: −0.07 KB).
 * → 197.5 KB (issue 24: consent clicks that can't be stolen, +3.65 KB, 197,054 bytes: the
 * guard's rules, a page listener handing focus, visibility, pointer and key events to each
 * armed button, its place looked at every frame, Approve's and a code prompt's Deny's
 * `aria-disabled` and status line. The first cut was +5.1 KB (198,533 bytes): four typed
 * window listeners and two typed handlers per button and each guard in a `StoredValue`,
 * every call into it a closure of its own; one listener for the page, one way into the
 * guard (`Seen`) and the guards kept beside the listener's list: −1.5 KB; after the
 * red-team read, a monotonic clock, the mouse's coming into the page timed and one timer at
 * a time per button: +0.24 KB, 197,294 bytes; a screen reader's click told apart by its
 * pressure, the pointer's place forgotten when another window takes the focus: +0.14 KB,
 * 197,429 bytes).
 */
const BUDGETS = [
  { file: "pkg/background_bg.wasm", measure: "gzip", limit: 131_000, target: 60_000 },
  { file: "pkg/panel_bg.wasm", measure: "gzip", limit: 197_500 },
  { file: "../latch-extension.zip", measure: "raw", limit: 400_000 },
];

function* files(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (/\.(wasm|js)$/.test(name)) yield p;
  }
}

const sizes = new Map();
for (const p of [...files(DIST), ZIP]) {
  const bytes = readFileSync(p);
  sizes.set(relative(DIST, p), { raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length });
}

const kb = (n) => `${(n / 1000).toFixed(1)} KB`;
console.log("extension sizes (raw / gzip -9):");
for (const [file, s] of sizes) console.log(`  ${file.padEnd(26)} ${String(s.raw).padStart(8)} / ${String(s.gzip).padStart(8)}`);

let failed = false;
console.log("budgets:");
for (const b of BUDGETS) {
  const size = sizes.get(b.file)?.[b.measure];
  if (size === undefined) throw new Error(`${b.file} not built: run tests/support/build.sh`);
  const ok = size <= b.limit;
  failed ||= !ok;
  const goal = b.target === undefined ? "" : size <= b.target ? `, target ${kb(b.target)} met` : `, target ${kb(b.target)} not yet met`;
  console.log(`  ${ok ? "ok  " : "OVER"} ${b.file.padEnd(26)} ${b.measure} ${kb(size)} (limit ${kb(b.limit)}${goal})`);
}
if (failed) {
  console.error("size budget exceeded");
  process.exit(1);
}
