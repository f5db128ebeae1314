// What the extension benchmarks share: the plain-JS baseline extension and its floor
// variants, quantiles, and the service workers' running state over CDP.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchBrowser, sleep, EXTENSION_DIR, ROOT } from "../e2e/harness.mjs";

/**
 * What the baseline's worker does before its plain-JS handler runs (`prelude.js`):
 * - plain: nothing;
 * - emptyWasm: fetch and instantiate the smallest valid wasm module (8 bytes), the floor
 *   for any worker that runs its handler in wasm;
 * - latchWasm: fetch and instantiate Latch's own background wasm through its
 *   wasm-bindgen `init`, as Latch's shim does, and call nothing in it.
 */
export const WORKER_PRELUDES = {
  plain: "export const ready = Promise.resolve();\n",
  emptyWasm:
    'export const ready = WebAssembly.instantiateStreaming(fetch(chrome.runtime.getURL("empty.wasm")));\n',
  latchWasm:
    'import init from "./pkg/background.js";\n' +
    'export const ready = init({ module_or_path: chrome.runtime.getURL("pkg/background_bg.wasm") });\n',
};

/**
 * What the baseline's panel does before it renders (`panel-prelude.js`):
 * - plain: nothing;
 * - latchWasm: fetch, compile and instantiate Latch's panel wasm with every import
 *   stubbed, and call nothing in it (its wasm-bindgen `init` would run the Leptos app:
 *   `#[wasm_bindgen(start)]`). The floor for a panel that renders from wasm.
 */
export const PANEL_PRELUDES = {
  plain: "export const ready = Promise.resolve();\n",
  latchWasm: `async function load() {
  const module = await WebAssembly.compileStreaming(fetch("pkg/panel_bg.wasm"));
  const imports = {};
  for (const i of WebAssembly.Module.imports(module)) {
    if (i.kind !== "function") throw new Error(\`unexpected \${i.kind} import \${i.module}.\${i.name}\`);
    (imports[i.module] ??= {})[i.name] = () => {};
  }
  return WebAssembly.instantiate(module, imports);
}
export const ready = load();
`,
};

/**
 * The baseline: Latch's manifest (same permissions, origins, locales, CSS) with its worker
 * and panel swapped for tests/bench/baseline-extension. `name` tells the variants apart
 * (the manifest's name; without a key Chrome derives each one's id).
 */
export function baselineExtension(name, { worker = "plain", panel = "plain" } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "latch-baseline-"));
  for (const d of ["_locales", "icons", "pkg"]) cpSync(join(EXTENSION_DIR, d), join(dir, d), { recursive: true });
  for (const f of ["managed_schema.json", "panel.css"]) cpSync(join(EXTENSION_DIR, f), join(dir, f)); // the manifest names the schema
  writeFileSync(join(dir, "empty.wasm"), Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]));
  writeFileSync(join(dir, "prelude.js"), WORKER_PRELUDES[worker]);
  writeFileSync(join(dir, "panel-prelude.js"), PANEL_PRELUDES[panel]);
  // An inert page of the extension, for reading its storage (the panel would talk to the worker).
  writeFileSync(join(dir, "bench.html"), '<!doctype html><meta charset="utf-8"><title>bench</title>\n');
  for (const f of ["background.js", "panel.html", "panel.js"]) cpSync(join(ROOT, "tests/bench/baseline-extension", f), join(dir, f));
  if (panel === "latchWasm") {
    // The same head start Latch's panel.html gives its wasm: fetched while the page parses.
    const html = readFileSync(join(dir, "panel.html"), "utf8").replace(
      '<link rel="stylesheet" href="panel.css">',
      '<link rel="stylesheet" href="panel.css">\n<link rel="preload" href="pkg/panel_bg.wasm" as="fetch" type="application/wasm" crossorigin>',
    );
    writeFileSync(join(dir, "panel.html"), html);
  }
  writeManifest(dir, EXTENSION_DIR, name);
  return dir;
}

/**
 * A copy of another built extension (`LATCH_BENCH_COMPARE`: e.g. an older commit's
 * dist/extension) to load beside this one, named `name`.
 */
export function compareExtension(src, name) {
  const dir = mkdtempSync(join(tmpdir(), "latch-compare-"));
  cpSync(src, dir, { recursive: true });
  writeManifest(dir, src, name);
  return dir;
}

/** `from`'s manifest into `dir`, without its key (two extensions can't share an id), named `name`. */
function writeManifest(dir, from, name) {
  const manifest = JSON.parse(readFileSync(join(from, "manifest.json"), "utf8"));
  delete manifest.key;
  manifest.name = name;
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest, null, 2));
}

/**
 * Chromium with Latch and `dirs` loaded. If it does not come up, the relay and demo app
 * still stop (a stray demo app on the app port would answer the next suite's requests).
 */
export async function launchBeside(stack, dirs) {
  try {
    return await launchBrowser({ alsoLoad: dirs });
  } catch (e) {
    await stack.stop();
    throw e;
  }
}

/** Extension ids by manifest name, from the running workers (the variants have no key). */
export async function idsByName(context) {
  const names = new Map();
  for (const w of context.serviceWorkers()) names.set(await w.evaluate(() => chrome.runtime.getManifest().name), new URL(w.url()).host);
  return (name) => {
    const id = names.get(name);
    if (!id) throw new Error(`extension ${name} not loaded: ${[...names.keys()]}`);
    return id;
  };
}

export const quantile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};
export const fmt = (x) => x.toFixed(2).padStart(7);

/** Running state of every service worker, from CDP's ServiceWorker domain. */
export async function watchWorkers(context, page) {
  const cdp = await context.newCDPSession(page);
  const versions = new Map();
  cdp.on("ServiceWorker.workerVersionUpdated", ({ versions: vs }) => {
    for (const v of vs) versions.set(v.versionId, v);
  });
  await cdp.send("ServiceWorker.enable");
  const statusOf = (id) => [...versions.values()].filter((v) => v.scriptURL.startsWith(`chrome-extension://${id}/`)).map((v) => v.runningStatus);
  return {
    async stopAll(ids) {
      await cdp.send("ServiceWorker.stopAllWorkers");
      const end = Date.now() + 5000;
      while (!ids.every((id) => statusOf(id).every((s) => s === "stopped"))) {
        if (Date.now() > end) throw new Error(`workers did not stop: ${ids.map(statusOf)}`);
        await sleep(5);
      }
    },
    running: (id) => statusOf(id).includes("running"),
  };
}
