//! Pending approvals: the consent prompt. Approve (and a code prompt's Deny, which would
//! throw away the code the user typed) counts a click only as [`Arming`] allows: not in the
//! first moment after the prompt appears, comes back or moves, and not from a resting
//! pointer or a key held since before (core/consent_guard.rs).

use std::time::Duration;

use leptos::prelude::*;

use latch_wire::panel::{PanelRequest, PendingView, PromptVia};

use super::arming::{armed_button, Arming};
use super::i18n::{t, t_around, t_with};
use super::Panel;
/// How often a prompt still checking its app with the relay asks the worker again.
const CHECK_AGAIN: Duration = Duration::from_secs(2);

#[component]
pub fn PendingApprovals(panel: Panel) -> impl IntoView {
    view! {
        <section aria-labelledby="pending-heading">
            <h2 id="pending-heading" class="section">{t("pending_heading")}</h2>
            <Show
                when=move || !panel.state.with(|s| s.pending.is_empty())
                fallback=|| view! { <p class="empty">{t("pending_empty")}</p> }
            >
                <For
                    each=move || panel.state.get().pending
                    key=|p| (p.offer_id.clone(), p.app_name.clone())
                    children=move |p| view! { <Prompt panel=panel offer=p /> }
                />
            </Show>
        </section>
    }
}

/// The line under the prompt that says who opened it (PROTOCOL §4): the verified opener,
/// or, where there is none, the caution for the prompt's path.
fn opener_line(offer: &PendingView, name: &str) -> String {
    match (offer.via, &offer.opener, &offer.code) {
        (PromptVia::OneClick, Some(origin), _) => t_with("prompt_opened_from", &[origin]),
        (PromptVia::OneClick, None, _) => t_with("prompt_caution", &[name]),
        (PromptVia::PastedToken, _, _) => t_with("prompt_pasted", &[name]),
        (PromptVia::Code, _, code) => t_with("prompt_code", &[code.as_deref().unwrap_or_default(), name]),
    }
}

/// The commands behind Approve and Deny: a code prompt answers the relay's challenge, the
/// others a parked offer.
fn commands(offer: &PendingView) -> (PanelRequest, PanelRequest) {
    let offer_id = offer.offer_id.clone();
    match offer.via {
        PromptVia::Code => {
            (PanelRequest::ApproveCode { offer_id: offer_id.clone() }, PanelRequest::DenyCode { offer_id })
        }
        _ => (PanelRequest::Approve { offer_id: offer_id.clone() }, PanelRequest::Deny { offer_id }),
    }
}

#[component]
fn Prompt(panel: Panel, offer: PendingView) -> impl IntoView {
    let (approve, deny) = commands(&offer);
    let deny_again = deny.clone();
    let heading_id = format!("prompt-{}", offer.offer_id);
    let labelled_by = heading_id.clone();
    // The text around the name keeps its own spaces ("Allow ", " to run…").
    let (before, after) = t_around("prompt_heading");
    let Some(name) = offer.app_name.clone() else {
        // Asks again while the relay's description is missing: an attempt that found no
        // relay wrote nothing that would bring a fresh read, and each read retries it.
        if let Ok(every) = set_interval_with_handle(move || panel.refresh(), CHECK_AGAIN) {
            on_cleanup(move || every.clear());
        }
        return view! {
            <article class="card prompt" aria-busy="true">
                <p>{t("prompt_checking")}</p>
                <button type="button" class="secondary" on:click=move |_| panel.run(deny.clone())>{t("deny")}</button>
            </article>
        }
        .into_any();
    };
    let opener = opener_line(&offer, &name);
    let verified = offer.opener.is_some();
    let approving = Arming::new();
    // A stray Deny on a code prompt loses the code the user typed; elsewhere it loses a click.
    let denying = (offer.via == PromptVia::Code).then(Arming::new);
    let deny_armed = move || denying.is_none_or(|a| a.armed.get());
    let site = offer.app_origin.clone().map(|o| view! { " · " {t("prompt_site")} " " <code>{o}</code> });
    view! {
        <article class="card prompt" aria-labelledby=labelled_by>
            <h3 id=heading_id>{before}<span class="verified-name">{name}</span>{after}</h3>
            <p class="meta">
                {t("prompt_app_id")} " " <code>{offer.tenant_id.unwrap_or_default()}</code>
                " · " {t("prompt_user")} " " <code>{offer.user_id.unwrap_or_default()}</code>
                {site}
            </p>
            <p class=if verified { "opener verified" } else { "opener caution" }>{opener}</p>
            <div class="actions">
                {armed_button(panel, approving, "", t("approve"), approve)}
                {deny_button(panel, denying, deny_again)}
            </div>
            <p class="visually-hidden" role="status">
                {move || if approving.armed.get() && deny_armed() { String::new() } else { t("prompt_arming") }}
            </p>
        </article>
    }
    .into_any()
}

/// Deny: armed like Approve when `arming` is given (code prompts), else at once.
fn deny_button(panel: Panel, arming: Option<Arming>, deny: PanelRequest) -> AnyView {
    match arming {
        Some(a) => armed_button(panel, a, "secondary", t("deny"), deny),
        None => view! {
            <button type="button" class="secondary" on:click=move |_| panel.run(deny.clone())>{t("deny")}</button>
        }
        .into_any(),
    }
}
