//! "Connected apps": one row per binding with Pause/Resume, Disconnect (an organization's
//! binding has neither), Rename (this browser's name for that app), "Last used" and its
//! Activity; Disconnect all; and why the organization's policy did not connect this
//! browser, if it didn't.

use std::time::Duration;

use leptos::prelude::*;

use latch_wire::consent::CONSENT_ARM_DELAY_MS;
use latch_wire::panel::{BindingView, PanelRequest};
use latch_wire::stored::ManagedOutcome;

use crate::core::repair::{self, Repair, Span};
use crate::core::shown_names::shown_code;

use super::activity::{ActivityList, LastUsed, Log};
use super::i18n::{t, t_with};
use super::{api, Panel};

#[component]
pub fn ConnectedApps(panel: Panel) -> impl IntoView {
    let policy_problem = move || {
        panel.state.with(|s| s.managed.clone()).filter(|m| m.outcome != ManagedOutcome::Enrolled).and_then(|m| m.error)
    };
    view! {
        <section aria-labelledby="connected-heading">
            <h2 id="connected-heading" class="section">{t("connected_heading")}</h2>
            {move || policy_problem().map(|code| view! {
                <div class="card policy-problem" role="alert">
                    <strong>{t("policy_problem")} " "</strong>
                    {api::explain_policy(&code)}
                </div>
            })}
            <Show
                when=move || !panel.state.with(|s| s.bindings.is_empty())
                fallback=|| view! { <p class="empty">{t("connected_empty")}</p> }
            >
                <ul class="bindings">
                    <For
                        each=move || panel.state.get().bindings
                        // A row shows its binding as it was when made: one whose name,
                        // repair or pause state changed is made again.
                        key=|b| (b.binding_id.clone(), b.device_name.clone(), b.needs_repair.clone(), b.paused)
                        children=move |b| view! { <Row panel=panel binding=b /> }
                    />
                </ul>
                <DisconnectAll panel=panel />
            </Show>
        </section>
    }
}

/// "Disconnect all", with a second click to confirm, while two or more apps can be
/// disconnected (the organization's can't).
#[component]
fn DisconnectAll(panel: Panel) -> impl IntoView {
    let count = move || panel.state.with(|s| s.bindings.iter().filter(|b| !b.managed).count());
    let confirming = RwSignal::new(false);
    let armed = RwSignal::new(false);
    // One button: the first click asks, and the button, now "Yes, disconnect all", arms as
    // Approve does (disabled for the same delay), so the second click of a double-click
    // does nothing; nor does any click past the first of a multi-click.
    // Cancel hides itself: the focus goes back to the button that asked, not to the page;
    // on the next frame, once that button is no longer disabled (it is while it arms).
    let main = NodeRef::<leptos::html::Button>::new();
    let cancel = move |_| {
        confirming.set(false);
        request_animation_frame(move || {
            if let Some(button) = main.get_untracked() {
                let _ = button.focus();
            }
        });
    };
    let click = move |ev: leptos::ev::MouseEvent| {
        if !confirming.get_untracked() {
            armed.set(false);
            confirming.set(true);
            set_timeout(move || armed.set(true), Duration::from_millis(CONSENT_ARM_DELAY_MS));
        } else if armed.get_untracked() && ev.detail() <= 1 {
            confirming.set(false);
            panel.run(PanelRequest::DisconnectAll);
        }
    };
    view! {
        <div class="disconnect-all" hidden=move || count() < 2>
            <p role="alert" hidden=move || !confirming.get()>
                {move || t_with("disconnect_all_confirm", &[&count().to_string()])}
            </p>
            <button type="button" class="secondary" node_ref=main on:click=click disabled=move || confirming.get() && !armed.get()>
                {move || t(if confirming.get() { "disconnect_all_yes" } else { "disconnect_all" })}
            </button>
            " "
            <button type="button" class="secondary" hidden=move || !confirming.get() on:click=cancel>{t("rename_cancel")}</button>
        </div>
    }
}

#[component]
fn Row(panel: Panel, binding: BindingView) -> impl IntoView {
    let id = binding.binding_id.clone();
    let paired = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(binding.paired_at.as_js()))
        .to_locale_date_string(&super::i18n::language(), &wasm_bindgen::JsValue::UNDEFINED);
    let activity_open = RwSignal::new(false);
    // Read from the relay when the row is shown and again each time Activity opens; not for
    // a binding needing pairing again (it can't), nor a paused one (a read could refresh its
    // tokens, which a pause keeps as they are). A plain signal filled by a task: a
    // `LocalResource` here cost the panel 13 KB of gzip.
    let log: Log = RwSignal::new(None);
    let readable = binding.needs_repair.is_none() && !binding.paused;
    if readable {
        let id = binding.binding_id.clone();
        // Reads may answer out of order: only the newest one asked is shown.
        let asked = StoredValue::new(0u32);
        Effect::new(move |shown_before: Option<()>| {
            if activity_open.get() || shown_before.is_none() {
                let id = id.clone();
                asked.update_value(|n| *n += 1);
                let this_read = asked.get_value();
                leptos::task::spawn_local(async move {
                    let answer = api::activity(&id).await;
                    if asked.get_value() == this_read {
                        log.set(Some(answer));
                    }
                });
            }
        });
    }
    let activity_id = format!("activity-{}", binding.binding_id);
    let activity_app = binding.app_name.clone();
    view! {
        <li class="card binding" data-binding-id=binding.binding_id.clone()>
            <div>
                <div class="verified-name">{binding.app_name.clone()}</div>
                <div class="meta">
                    {t("connected_user")} " " <code>{binding.user_id.clone()}</code> " · " {t("connected_paired")} " " {String::from(paired)}
                    {readable.then(|| view! { <LastUsed log=log /> })}
                    " "
                    {readable.then(|| view! {
                        <button type="button" class="link" aria-expanded=move || activity_open.get().to_string()
                            on:click=move |_| activity_open.update(|open| *open = !*open)>{t("activity_button")}</button>
                    })}
                </div>
                <Show when=move || activity_open.get()>
                    <ActivityList log=log id=activity_id.clone() app_name=activity_app.clone() />
                </Show>
                {binding.needs_repair.as_deref().map(|why| view! {
                    <div class="needs-repair" role="status">{repair_text(why, binding.managed)}</div>
                })}
                {(binding.paused && binding.needs_repair.is_none()).then(|| view! {
                    <div class="paused" role="status">{t_with("paused_status", &[&binding.app_name])}</div>
                })}
                // Renaming a paused binding would refresh its token: resume first.
                {(binding.needs_repair.is_none() && !binding.paused).then(|| view! { <DeviceName panel=panel binding=binding.clone() /> })}
            </div>
            <div class="actions">
                {(binding.needs_repair.is_none() && !binding.paused).then(|| {
                    let id = binding.binding_id.clone();
                    let name = binding.app_name.clone();
                    let send = move |_| {
                        let name = name.clone();
                        panel.run_then(PanelRequest::Capture { binding_id: id.clone() }, move |title| {
                            t_with("sent_page", &[&title, &name])
                        })
                    };
                    view! {
                        <button type="button" on:click=send>
                            {t_with("send_page", &[&binding.app_name])}
                        </button>
                    }
                })}
                {(binding.needs_repair.is_none() && !binding.managed).then(|| {
                    let id = binding.binding_id.clone();
                    let paused = binding.paused;
                    // One request at a time: a double click would spend the change budget twice.
                    let busy = RwSignal::new(false);
                    let toggle = move |_| {
                        if busy.get_untracked() {
                            return;
                        }
                        busy.set(true);
                        let binding_id = id.clone();
                        let req = if paused { PanelRequest::Resume { binding_id } } else { PanelRequest::Pause { binding_id } };
                        panel.run_and(req, |info| info, move |_| busy.set(false));
                    };
                    view! {
                        <button type="button" class="secondary" prop:disabled=move || busy.get() on:click=toggle>
                            {t(if paused { "resume" } else { "pause" })}
                        </button>
                    }
                })}
                {if binding.managed {
                    view! { <span class="managed">{t("managed_label")}</span> }.into_any()
                } else {
                    view! {
                        <button type="button" class="secondary"
                            on:click=move |_| panel.run(PanelRequest::Disconnect { binding_id: id.clone() })>{t("disconnect")}</button>
                    }.into_any()
                }}
            </div>
        </li>
    }
}

/// Why a row needs pairing again, in words: "expired after 90 days without use" for a
/// binding the relay revoked as idle, else the relay's refusal. An organization's
/// connection has no Disconnect: its repair is the admin's.
fn repair_text(stored: &str, managed: bool) -> String {
    match repair::read(stored) {
        Repair::Idle(span) => {
            let span = span.map_or_else(|| t("idle_long"), span_text);
            t_with(if managed { "expired_idle_managed" } else { "expired_idle" }, &[&span])
        }
        Repair::Refused(code) => {
            let code = shown_code(code).unwrap_or("unknown");
            t_with(if managed { "needs_repair_managed" } else { "needs_repair" }, &[code])
        }
    }
}

/// "90 days", "9 seconds" in the panel's language (`Intl.NumberFormat`, unit style).
fn span_text(span: Span) -> String {
    let options = js_sys::Object::new();
    let set = |k: &str, v: &str| js_sys::Reflect::set(&options, &k.into(), &v.into());
    let _ = (set("style", "unit"), set("unit", span.unit), set("unitDisplay", "long"));
    let locales = js_sys::Array::of1(&super::i18n::language().into());
    let format = js_sys::Intl::NumberFormat::new(&locales, &options).format();
    format
        .call1(&wasm_bindgen::JsValue::UNDEFINED, &(span.count as f64).into())
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_else(|| format!("{} {}", span.count, span.unit))
}

/// "Shown to the app as …" with Rename: an inline form that stays open, with the text as
/// typed, when the relay refuses the name.
#[component]
fn DeviceName(panel: Panel, binding: BindingView) -> impl IntoView {
    let editing = RwSignal::new(false);
    let draft = RwSignal::new(String::new());
    // One rename at a time: a double submit would spend the binding's change budget twice.
    let saving = RwSignal::new(false);
    // The organization's binding keeps the name it enrolled with.
    let renamable = !binding.managed;
    let current = binding.device_name.clone().unwrap_or_default();
    let input_id = format!("device-name-{}", binding.binding_id);
    let start = {
        let current = current.clone();
        move |_| {
            draft.set(current.clone());
            editing.set(true);
        }
    };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if saving.get_untracked() {
            return;
        }
        saving.set(true);
        let req = PanelRequest::Rename { binding_id: binding.binding_id.clone(), device_name: draft.get_untracked() };
        let app = binding.app_name.clone();
        let confirm = move |name: String| t_with("renamed", &[&name, &app]);
        panel.run_and(req, confirm, move |ok| {
            saving.set(false);
            editing.set(!ok);
        });
    };
    view! {
        <Show
            when=move || editing.get()
            fallback=move || view! {
                <div class="meta device-name">
                    // A binding stored before names were kept: the relay has one, the
                    // extension doesn't; Rename still sets it.
                    {(!current.is_empty()).then(|| view! {
                        {t("device_name_label")} " " <span class="device">{current.clone()}</span> " "
                    })}
                    {renamable.then(|| view! {
                        <button type="button" class="link" on:click=start.clone()>{t("rename")}</button>
                    })}
                </div>
            }
        >
            <form class="rename" on:submit=save.clone()>
                <label for=input_id.clone()>{t("rename_label")}</label>
                <div class="row">
                    <input id=input_id.clone() type="text" autocomplete="off"
                        prop:value=move || draft.get()
                        on:input=move |ev| draft.set(event_target_value(&ev)) />
                    <button type="submit" prop:disabled=move || saving.get()>{t("rename_save")}</button>
                    <button type="button" class="secondary" on:click=move |_| editing.set(false)>{t("rename_cancel")}</button>
                </div>
            </form>
        </Show>
    }
}
