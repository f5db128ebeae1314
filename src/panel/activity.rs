//! A connected app's **Activity** (PROTOCOL §11): what the relay logged for this binding,
//! newest first (the last 50), and the row's "Last used …" (the newest errand or capture).
//! Read from the relay when the row is shown; nothing of it is stored in the extension.

use leptos::prelude::*;

use latch_wire::panel::ActivityItem;

use super::i18n::{t, t_with};
use crate::core::shown_names::shown_code;

/// What the row shows: the relay's log, or why it couldn't be read (`None`: not yet read).
pub type Log = RwSignal<Option<Result<Vec<ActivityItem>, String>>>;

/// `ms` as the language's date and time.
fn when(at: latch_wire::EpochMs) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at.as_js()));
    date.to_locale_string(&super::i18n::language(), &wasm_bindgen::JsValue::UNDEFINED).into()
}

/// "Last used …", once the log says when.
#[component]
pub fn LastUsed(log: Log) -> impl IntoView {
    let last = move || log.get().and_then(|r| r.ok()).and_then(|items| items.iter().find(|i| i.is_use()).map(|i| i.at));
    move || last().map(|at| view! { " · " {t_with("last_used", &[&when(at)])} })
}

/// The list under "Activity", named for its app among the other rows' lists.
#[component]
pub fn ActivityList(log: Log, id: String, app_name: String) -> impl IntoView {
    view! {
        <div class="activity" id=id role="region" aria-label=t_with("activity_region", &[&app_name])>
            {move || match log.get() {
                None => view! { <p class="meta">{t("activity_loading")}</p> }.into_any(),
                Some(Err(why)) => view! { <p class="meta" role="status">{why}</p> }.into_any(),
                Some(Ok(items)) if items.is_empty() => view! { <p class="meta">{t("activity_empty")}</p> }.into_any(),
                Some(Ok(items)) => view! {
                    <ol class="activity-items">
                        {items.into_iter().map(|item| view! {
                            <li data-event=item.event.clone()>
                                <time>{when(item.at)}</time> " " {describe(&item)}
                            </li>
                        }).collect_view()}
                    </ol>
                }.into_any(),
            }}
        </div>
    }
}

/// One entry in words; an unknown type (a newer relay's) by its name, in a code's shape
/// only. What the app chose (an errand's kind, its error) is shown only as a code.
fn describe(item: &ActivityItem) -> String {
    let code = |v: &Option<String>| v.as_deref().and_then(shown_code).map(str::to_owned);
    match item.event.as_str() {
        "paired" => t_with(
            "activity_paired",
            &[&t(match item.via.as_deref() {
                Some("one_click") => "via_one_click",
                Some("pasted_token") => "via_pasted_token",
                Some("code") => "via_code",
                Some("managed") => "via_managed",
                _ => "via_other",
            })],
        ),
        "refreshed" => t_with("activity_refreshed", &[&item.count.unwrap_or(1).to_string()]),
        "refresh_reuse_detected" => t("activity_reuse"),
        "paused" => t("activity_paused"),
        "resumed" => t("activity_resumed"),
        "errand" => {
            let kind = code(&item.kind).unwrap_or_else(|| t("activity_unnamed_task"));
            if item.ok == Some(true) {
                t_with("activity_errand_ok", &[&kind, &item.duration_ms.unwrap_or(0).to_string()])
            } else {
                t_with(
                    "activity_errand_failed",
                    &[&kind, &code(&item.error).unwrap_or_else(|| t("activity_no_reason"))],
                )
            }
        }
        "capture" => t_with("activity_capture", &[&item.bytes.unwrap_or(0).div_ceil(1024).to_string()]),
        "revoked" => t(match item.by.as_deref() {
            Some("user") => "activity_revoked_user",
            Some("app") => "activity_revoked_app",
            Some("reuse") => "activity_revoked_reuse",
            Some("idle") => "activity_revoked_idle",
            Some("owner") => "activity_revoked_owner",
            _ => "activity_revoked_other",
        }),
        other => shown_code(other).unwrap_or_default().to_owned(),
    }
}
