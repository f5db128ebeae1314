//! The side panel (Leptos CSR). It renders [`PanelState`] from the background and sends
//! commands; every decision (parking, redeem, revoke) is the background's.

mod activity;
mod api;
mod arming;
mod code_pairing;
mod connect;
mod connected;
mod i18n;
mod pending;

use std::future::Future;

use leptos::prelude::*;
use wasm_bindgen::prelude::*;

use latch_wire::panel::{PanelReply, PanelRequest, PanelState};

use crate::core::shown_names::with_shown_names;

#[wasm_bindgen(start)]
pub fn start() {
    // The page is in the language Chrome shows (screen readers pick their voice by it).
    if let Some(root) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.document_element()) {
        let _ = root.set_attribute("lang", &i18n::language());
    }
    let panel = Panel {
        state: RwSignal::new(PanelState::default()),
        notice: RwSignal::new(None),
        info: RwSignal::new(None),
        order: StoredValue::new(Order::default()),
    };
    // Listening before the first request: a change that lands while the page mounts (the
    // offer's description, usually) still brings a fresh read. Chrome delivers it as a
    // task of its own, after this function and the mount have run.
    api::on_storage_changed(move || panel.refresh());
    // Where the mouse is, from the start: a consent button that appears under a pointer
    // already in the page is not one that appeared with it.
    arming::watch_the_page();
    // The first state request leaves before the page is built, so the worker (often just
    // woken by the offer) answers while Leptos mounts (BENCHMARKS.md, "Continue → prompt
    // on screen").
    let first = panel.send(&PanelRequest::State);
    leptos::mount::mount_to_body(move || {
        leptos::task::spawn_local(async move {
            first.await;
        });
        app(panel)
    });
}

/// Shared handles of the panel: the last state from the background and the notice line.
#[derive(Clone, Copy)]
pub struct Panel {
    pub state: RwSignal<PanelState>,
    pub notice: RwSignal<Option<String>>,
    /// A confirmation ("Sent … to Acme.").
    pub info: RwSignal<Option<String>>,
    /// Requests sent and the newest one whose state is shown: the worker may answer two
    /// requests out of order, and an older state must not replace a newer one.
    order: StoredValue<Order>,
}

#[derive(Clone, Copy, Default)]
struct Order {
    sent: u64,
    shown: u64,
}

impl Panel {
    /// Sends a command; adopts the state the background answers with and shows any error.
    pub fn run(self, req: PanelRequest) {
        self.run_then(req, |info| info);
    }

    /// [`Panel::run`], wording a confirmation from the reply's `info` with `confirm`.
    pub fn run_then(self, req: PanelRequest, confirm: impl FnOnce(String) -> String + 'static) {
        self.run_and(req, confirm, |_| ());
    }

    /// [`Panel::run_then`], then `done(ok)` (a form stays open with its text on an error).
    pub fn run_and(
        self,
        req: PanelRequest,
        confirm: impl FnOnce(String) -> String + 'static,
        done: impl FnOnce(bool) + 'static,
    ) {
        let reply = self.send(&req);
        leptos::task::spawn_local(async move {
            match reply.await {
                Some(reply) => {
                    self.notice.set(reply.error.as_deref().map(api::explain));
                    self.info.set(reply.info.map(confirm));
                    done(reply.ok);
                }
                None => {
                    self.notice.set(Some(api::explain("no_background")));
                    done(false);
                }
            }
        });
    }

    fn refresh(self) {
        let reply = self.send(&PanelRequest::State);
        leptos::task::spawn_local(async move {
            reply.await;
        });
    }

    /// Sends `req` now; its reply's state is shown unless a newer request's already is.
    fn send(self, req: &PanelRequest) -> impl Future<Output = Option<PanelReply>> + 'static {
        let reply = api::send(req);
        let n = self.order.with_value(|o| o.sent) + 1;
        self.order.update_value(|o| o.sent = n);
        async move {
            let mut reply = reply.await?;
            if let Some(s) = reply.state.take() {
                if self.order.with_value(|o| o.shown) < n {
                    self.order.update_value(|o| o.shown = n);
                    self.state.set(with_shown_names(s));
                }
            }
            Some(reply)
        }
    }
}

/// The panel's page.
fn app(panel: Panel) -> impl IntoView {
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
