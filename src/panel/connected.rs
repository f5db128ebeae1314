//! "Connected apps": one row per binding with Disconnect (an organization's binding has
//! none), and why the organization's policy did not connect this browser, if it didn't.

use leptos::prelude::*;

use super::{api, Panel};
use crate::core::managed::Outcome;
use crate::core::wire::{BindingView, PanelRequest};

#[component]
pub fn ConnectedApps(panel: Panel) -> impl IntoView {
    let policy_problem = move || {
        panel.state.with(|s| s.managed.clone()).filter(|m| m.outcome != Outcome::Enrolled).and_then(|m| m.error)
    };
    view! {
        <section aria-labelledby="connected-heading">
            <h2 id="connected-heading" class="section">"Connected apps"</h2>
            {move || policy_problem().map(|code| view! {
                <div class="card policy-problem" role="alert">
                    <strong>"Your organization's Latch policy did not connect this browser. "</strong>
                    {api::explain_policy(&code)}
                </div>
            })}
            <Show
                when=move || !panel.state.with(|s| s.bindings.is_empty())
                fallback=|| view! { <p class="empty">"No apps are connected yet. Use Connect Latch on an app's site, or paste a pairing token above."</p> }
            >
                <ul class="bindings">
                    <For
                        each=move || panel.state.get().bindings
                        key=|b| b.binding_id.clone()
                        children=move |b| view! { <Row panel=panel binding=b /> }
                    />
                </ul>
            </Show>
        </section>
    }
}

#[component]
fn Row(panel: Panel, binding: BindingView) -> impl IntoView {
    let id = binding.binding_id.clone();
    let paired = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(binding.paired_at as f64))
        .to_locale_date_string("en-US", &wasm_bindgen::JsValue::UNDEFINED);
    view! {
        <li class="card binding" data-binding-id=binding.binding_id.clone()>
            <div>
                <div class="verified-name">{binding.app_name.clone()}</div>
                <div class="meta">"User " <code>{binding.user_id.clone()}</code> " · Paired " {String::from(paired)}</div>
                {binding.needs_repair.clone().map(|why| view! {
                    <div class="needs-repair" role="status">
                        "Needs pairing again: the relay refused to renew this connection (" {why} "). Disconnect it, then connect the app again."
                    </div>
                })}
            </div>
            <div class="actions">
                {binding.needs_repair.is_none().then(|| {
                    let id = binding.binding_id.clone();
                    let name = binding.app_name.clone();
                    let send = move |_| {
                        let name = name.clone();
                        panel.run_then(PanelRequest::Capture { binding_id: id.clone() }, move |title| {
                            format!("Sent “{title}” to {name}.")
                        })
                    };
                    view! {
                        <button type="button" on:click=send>
                            {format!("Send this page to {}", binding.app_name)}
                        </button>
                    }
                })}
                {if binding.managed {
                    view! { <span class="managed">"Managed by your organization"</span> }.into_any()
                } else {
                    view! {
                        <button type="button" class="secondary"
                            on:click=move |_| panel.run(PanelRequest::Disconnect { binding_id: id.clone() })>"Disconnect"</button>
                    }.into_any()
                }}
            </div>
        </li>
    }
}
