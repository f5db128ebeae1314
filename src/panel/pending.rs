//! Pending approvals: the consent prompt. Approve stays disabled for a moment after the
//! prompt appears, so a click aimed at the connect page can't land on it.

use std::time::Duration;

use leptos::prelude::*;

use super::i18n::{t, t_around};
use super::Panel;
use crate::core::wire::{PanelRequest, PendingView};

const ARM_DELAY: Duration = Duration::from_millis(500);

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

#[component]
fn Prompt(panel: Panel, offer: PendingView) -> impl IntoView {
    let armed = RwSignal::new(false);
    set_timeout(move || armed.set(true), ARM_DELAY);
    let id = offer.offer_id.clone();
    let deny_id = id.clone();
    let heading_id = format!("prompt-{id}");
    let labelled_by = heading_id.clone();
    // The text around the name keeps its own spaces ("Allow ", " to run…").
    let (before, after) = t_around("prompt_heading");
    match offer.app_name {
        None => view! {
            <article class="card prompt" aria-busy="true">
                <p>{t("prompt_checking")}</p>
                <button type="button" class="secondary" on:click=move |_| panel.run(PanelRequest::Deny { offer_id: deny_id.clone() })>{t("deny")}</button>
            </article>
        }
        .into_any(),
        Some(name) => view! {
            <article class="card prompt" aria-labelledby=labelled_by>
                <h3 id=heading_id>{before}<span class="verified-name">{name}</span>{after}</h3>
                <p class="meta">
                    {t("prompt_app_id")} " " <code>{offer.tenant_id.unwrap_or_default()}</code>
                    " · " {t("prompt_user")} " " <code>{offer.user_id.unwrap_or_default()}</code>
                </p>
                <div class="actions">
                    <button type="button" disabled=move || !armed.get()
                        on:click=move |_| panel.run(PanelRequest::Approve { offer_id: id.clone() })>{t("approve")}</button>
                    <button type="button" class="secondary"
                        on:click=move |_| panel.run(PanelRequest::Deny { offer_id: deny_id.clone() })>{t("deny")}</button>
                </div>
            </article>
        }
        .into_any(),
    }
}
