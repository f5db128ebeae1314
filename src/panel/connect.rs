//! "Connect an app": paste a pairing token; it goes through the same describe → prompt →
//! Approve gates as the one-click path.

use leptos::prelude::*;

use latch_wire::panel::PanelRequest;

use super::i18n::t;
use super::Panel;

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
        panel.run(PanelRequest::Connect { pairing_token: pasted });
    };
    view! {
        <section aria-labelledby="connect-heading">
            <h2 id="connect-heading" class="section">{t("connect_heading")}</h2>
            <form on:submit=submit>
                <label for="pairing-token">{t("pairing_token_label")}</label>
                <div class="row">
                    <input id="pairing-token" type="text" autocomplete="off" spellcheck="false"
                        placeholder="lpt_…"
                        prop:value=move || token.get()
                        on:input=move |ev| token.set(event_target_value(&ev)) />
                    <button type="submit">{t("connect_button")}</button>
                </div>
            </form>
        </section>
    }
}
