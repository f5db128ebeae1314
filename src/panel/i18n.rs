//! Every visible string of the panel comes from the extension's message catalogue
//! (`extension/_locales/*/messages.json`) through `chrome.i18n`; Chrome picks the locale.
//! The keys used here are checked against both catalogues by `tests::every_key_is_in_every_catalogue`.

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["chrome", "i18n"], js_name = getMessage)]
    fn get_message(name: &str, substitutions: &js_sys::Array) -> String;
    #[wasm_bindgen(js_namespace = ["chrome", "i18n"], js_name = getUILanguage)]
    fn ui_language() -> String;
}

/// The message `key` with `$1`, `$2`… replaced by `args`.
pub fn t_with(key: &str, args: &[&str]) -> String {
    let subs = js_sys::Array::new();
    for a in args {
        subs.push(&JsValue::from_str(a));
    }
    get_message(key, &subs)
}

/// The message `key`.
pub fn t(key: &str) -> String {
    t_with(key, &[])
}

/// The message `key` around one value shown apart (the verified app name): the text before
/// and after it, wherever the language puts it.
pub fn t_around(key: &str) -> (String, String) {
    const MARK: &str = "\u{E000}";
    let text = t_with(key, &[MARK]);
    match text.split_once(MARK) {
        Some((before, after)) => (before.to_owned(), after.to_owned()),
        None => (text, String::new()),
    }
}

/// The language Chrome shows the UI in (`en`, `de`…), for `<html lang>` and dates.
pub fn language() -> String {
    ui_language()
}
