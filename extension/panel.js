// Side-panel shim: loads the Leptos wasm, which mounts itself (#[wasm_bindgen(start)]).
import init from "./pkg/panel.js";

init({ module_or_path: "pkg/panel_bg.wasm" });
