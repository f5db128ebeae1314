//! The side panel (Leptos CSR). It renders [`PanelState`] from the background and sends
//! commands; every decision (parking, redeem, revoke) is the background's.

mod api;
mod code_pairing;
mod connect;
mod connected;
mod i18n;
mod pending;

use leptos::prelude::*;
use wasm_bindgen::prelude::*;

use crate::core::wire::{PanelRequest, PanelState};

#[wasm_bindgen(start)]
pub fn start() {
    // The page is in the language Chrome shows (screen readers pick their voice by it).
    if let Some(root) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.document_element()) {
        let _ = root.set_attribute("lang", &i18n::language());
    }
    leptos::mount::mount_to_body(App);
}

/// Shared handles of the panel: the last state from the background and the notice line.
#[derive(Clone, Copy)]
pub struct Panel {
    pub state: RwSignal<PanelState>,
    pub notice: RwSignal<Option<String>>,
    /// A confirmation ("Sent … to Acme.").
    pub info: RwSignal<Option<String>>,
}

impl Panel {
    /// Sends a command; adopts the state the background answers with and shows any error.
    pub fn run(self, req: PanelRequest) {
        self.run_then(req, |info| info);
    }

    /// [`Panel::run`], wording a confirmation from the reply's `info` with `confirm`.
    pub fn run_then(self, req: PanelRequest, confirm: impl FnOnce(String) -> String + 'static) {
        leptos::task::spawn_local(async move {
            match api::send(&req).await {
                Some(reply) => {
                    if let Some(s) = reply.state {
                        self.state.set(s.with_shown_names());
                    }
                    self.notice.set(reply.error.as_deref().map(api::explain));
                    self.info.set(reply.info.map(confirm));
                }
                None => self.notice.set(Some(api::explain("no_background"))),
            }
        });
    }

    fn refresh(self) {
        leptos::task::spawn_local(async move {
            if let Some(s) = api::send(&PanelRequest::State).await.and_then(|r| r.state) {
                self.state.set(s.with_shown_names());
            }
        });
    }
}

#[component]
fn App() -> impl IntoView {
    let panel =
        Panel { state: RwSignal::new(PanelState::default()), notice: RwSignal::new(None), info: RwSignal::new(None) };
    panel.refresh();
    api::on_storage_changed(move || panel.refresh());
    view! {
        <main>
            <header><h1 class="brand">{i18n::t("extName")}</h1></header>
            <p class="notice" role="alert" hidden=move || panel.notice.get().is_none()>
                {move || panel.notice.get().unwrap_or_default()}
            </p>
            <p class="info" role="status" hidden=move || panel.info.get().is_none()>
                {move || panel.info.get().unwrap_or_default()}
            </p>
            <pending::PendingApprovals panel=panel />
            <connect::ConnectApp panel=panel />
            <code_pairing::CodePairing panel=panel />
            <connected::ConnectedApps panel=panel />
        </main>
    }
}
