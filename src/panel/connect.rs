//! "Connect an app": paste a pairing token, or the connect link an app's page shows when its
//! popup was blocked (`core::pasted`); it goes through the same describe → prompt → Approve
//! gates as the one-click path.

use leptos::prelude::*;

use latch_wire::panel::PanelRequest;

use super::i18n::t;
use super::Panel;
use crate::config::CONNECT_ORIGIN;
use crate::core::pasted::pasted_token;

#[component]
pub fn ConnectApp(panel: Panel) -> impl IntoView {
    let token = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let pasted = token.get_untracked();
        if pasted.trim().is_empty() {
            panel.notice.set(Some(t("connect_empty")));
            return;
        }
        token.set(String::new());
        // Read here, not in the worker: its wasm budget had no room for the parser (+0.23 KB
        // gzip at best), the panel's has; the worker checks the token's shape either way.
        let pairing_token = pasted_token(&pasted, CONNECT_ORIGIN).to_owned();
        panel.run(PanelRequest::Connect { pairing_token });
    };
    view! {
        <section aria-labelledby="connect-heading">
            <h2 id="connect-heading" class="section">{t("connect_heading")}</h2>
            <form on:submit=submit>
                <label for="pairing-token">{t("pairing_token_label")}</label>
                <div class="row">
                    <input id="pairing-token" type="text" autocomplete="off" spellcheck="false"
                        placeholder="lpt_…" aria-describedby="pairing-token-hint"
                        prop:value=move || token.get()
                        on:input=move |ev| token.set(event_target_value(&ev)) />
                    <button type="submit">{t("connect_button")}</button>
                </div>
                <p id="pairing-token-hint" class="meta">{t("pairing_token_hint")}</p>
            </form>
        </section>
    }
}
