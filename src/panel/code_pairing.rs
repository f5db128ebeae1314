//! "Pair with a code": the fallback when the one-click path can't run. Shows the code as
//! `XXXX-XXXX` with a live countdown, and what the poller is doing.

use std::time::Duration;

use leptos::prelude::*;

use latch_wire::panel::{ChallengeView, PanelRequest, ViewState};
use latch_wire::EpochMs;

use super::i18n::{t, t_with};
use super::Panel;
use crate::core::challenge::web_page_host;
use crate::shell::now_ms;

/// `m:ss` until `at`.
fn countdown(at: EpochMs, now: EpochMs) -> String {
    let s = now.ms_until(at).div_ceil(1000);
    format!("{}:{:02}", s / 60, s % 60)
}

#[component]
pub fn CodePairing(panel: Panel) -> impl IntoView {
    let now = RwSignal::new(now_ms());
    let _ = set_interval_with_handle(move || now.set(now_ms()), Duration::from_millis(500));
    let view_state = move || panel.state.with(|s| s.challenge.clone());
    let start = move |_| panel.run(PanelRequest::PairCode);
    view! {
        <section aria-labelledby="code-heading">
            <h2 id="code-heading" class="section">{t("code_heading")}</h2>
            {move || match view_state() {
                Some(v) if is_running(&v) => running(panel, v, now).into_any(),
                Some(v) => view! {
                    <p class="meta" role="status">{ended_message(&v)}</p>
                    <button type="button" class="secondary" on:click=start>{again_label(&v)}</button>
                }.into_any(),
                None => view! {
                    <p class="meta">{t("code_intro")}</p>
                    <button type="button" class="secondary" on:click=start>{t("code_start")}</button>
                }.into_any(),
            }}
        </section>
    }
}

fn is_running(v: &ChallengeView) -> bool {
    matches!(
        v.state,
        ViewState::Requesting
            | ViewState::Pending
            | ViewState::WaitingForRelay
            | ViewState::AwaitingConfirmation
            | ViewState::Confirming
    )
}

fn running(panel: Panel, v: ChallengeView, now: RwSignal<EpochMs>) -> impl IntoView {
    let status = match v.state {
        ViewState::Requesting if v.reissued => t("code_reissued"),
        ViewState::Requesting => t("code_requesting"),
        ViewState::WaitingForRelay => String::new(),
        ViewState::AwaitingConfirmation => {
            let name = v.prompt.as_ref().map(|p| p.requester.app_name.clone()).unwrap_or_default();
            t_with("code_awaiting", &[&name])
        }
        ViewState::Confirming => t("code_confirming"),
        _ => t("code_enter"),
    };
    let retry_at = v.retry_at;
    let expires_at = v.expires_at;
    let code_shown = v.code.clone().filter(|_| v.state != ViewState::Requesting);
    // The app's own page for this code, while the code waits for an app (the worker keeps
    // only http(s) pages: core::challenge).
    let page = v.url.clone().filter(|_| matches!(v.state, ViewState::Pending | ViewState::WaitingForRelay));
    view! {
        <div class="card code-card">
            {code_shown.map(|c| view! {
                <p class="code">{c}</p>
                <p class="meta">{t("code_expires_in")} " " <span class="countdown">{move || countdown(expires_at.unwrap_or_default(), now.get())}</span></p>
            })}
            {page.map(|href| {
                // Where the link leads, said in its text: on a relay where one app set a
                // page, every user's code links it (the prompt still names who approves).
                let host = web_page_host(&href).unwrap_or_default().to_owned();
                view! {
                    <p class="meta"><a href=href target="_blank" rel="noopener noreferrer">{t_with("code_open_page", &[&host])}</a></p>
                }
            })}
            <p class="meta" role="status">
                {status}
                {retry_at.map(|at| view! {
                    {t("code_waiting_relay")} " "
                    <span class="countdown">{move || countdown(at, now.get())}</span>
                })}
            </p>
            // After Approve the binding may already exist: nothing left to cancel.
            {(v.state != ViewState::Confirming).then(|| view! {
                <button type="button" class="secondary" on:click=move |_| panel.run(PanelRequest::CancelCode)>{t("cancel")}</button>
            })}
        </div>
    }
}

fn ended_message(v: &ChallengeView) -> String {
    match v.state {
        ViewState::Approved => t("code_approved"),
        ViewState::Denied => t("code_denied"),
        ViewState::Expired => t("code_expired"),
        ViewState::Failed => failed_message(v.error.as_deref()),
        _ => String::new(),
    }
}

/// A sentence for the reasons a person can act on (the catalogue's `err_<code>`), else the
/// code itself in the generic sentence.
fn failed_message(error: Option<&str>) -> String {
    let Some(code) = error else {
        return t_with("code_failed", &[&t("code_failed_unknown")]);
    };
    let sentence = t(&format!("err_{code}"));
    if sentence.is_empty() {
        t_with("code_failed", &[code])
    } else {
        sentence
    }
}

fn again_label(v: &ChallengeView) -> String {
    match v.state {
        ViewState::Expired | ViewState::Failed => t("code_new"),
        _ => t("code_start"),
    }
}
