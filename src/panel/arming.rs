//! A consent button wired to its [`ConsentGuard`]: the page's events in, the guard's answer
//! out. Every rule is the guard's (core/consent_guard.rs); this only reports what happened.

use std::time::Duration;

use leptos::ev;
use leptos::html::Button;
use leptos::prelude::*;
use web_sys::{KeyboardEvent, MouseEvent, PointerEvent};

use latch_wire::EpochMs;

use crate::core::consent_guard::{ConsentGuard, Point};

fn now() -> EpochMs {
    EpochMs::from_js(js_sys::Date::now())
}

/// One armed button. `Copy`: handlers take it by value.
#[derive(Clone, Copy)]
pub(super) struct Arming {
    guard: StoredValue<ConsentGuard>,
    /// What the button shows: armed, or disarmed (looks disabled, `aria-disabled`).
    pub armed: RwSignal<bool>,
    pub button: NodeRef<Button>,
}

impl Arming {
    /// Arms from now; re-arms when the window comes back or the button moves. Call inside
    /// the component that shows the button: the listeners end with it.
    pub fn new() -> Self {
        let arming = Self {
            guard: StoredValue::new(ConsentGuard::new(now())),
            armed: RwSignal::new(false),
            button: NodeRef::new(),
        };
        let focus = window_event_listener(ev::focus, move |_| arming.rearm());
        let visibility = window_event_listener(ev::visibilitychange, move |_| arming.rearm());
        let pointer = window_event_listener(ev::pointermove, move |e| {
            arming.guard.try_update_value(|g| g.pointer_at(at(&e)));
        });
        let left = window_event_listener(ev::pointerout, move |e| {
            if e.related_target().is_none() {
                arming.guard.try_update_value(|g| g.pointer_left());
            }
        });
        on_cleanup(move || {
            focus.remove();
            visibility.remove();
            pointer.remove();
            left.remove();
        });
        arming.sync();
        arming.watch_place();
        arming
    }

    fn rearm(self) {
        self.guard.try_update_value(|g| g.rearm(now()));
        self.sync();
    }

    /// Shows the guard's state, and comes back when it arms.
    fn sync(self) {
        let t = now();
        let Some((armed, ready_at)) = self.guard.try_with_value(|g| (g.is_armed(t), g.ready_at())) else {
            return; // the button is gone
        };
        if self.armed.try_get_untracked() != Some(armed) {
            self.armed.try_set(armed);
        }
        if !armed {
            set_timeout(move || self.sync(), Duration::from_millis(t.ms_until(ready_at) + 1));
        }
    }

    /// Where the button is on the page now; a move re-arms it (the guard decides).
    fn check_place(self) {
        let Some(button) = self.button.try_get_untracked().flatten() else { return };
        let rect = button.get_bounding_client_rect();
        let window = window();
        let place = (
            (rect.left() + window.scroll_x().unwrap_or(0.0)).round() as i32,
            (rect.top() + window.scroll_y().unwrap_or(0.0)).round() as i32,
        );
        self.guard.try_update_value(|g| g.placed_at(now(), place));
        self.sync();
    }

    /// Looks every frame: a list that reflowed under a resting pointer shows the button
    /// disarmed from the frame it moved in. Ends when the button's component does.
    fn watch_place(self) {
        request_animation_frame(move || {
            if self.guard.try_with_value(|_| ()).is_some() {
                self.check_place();
                self.watch_place();
            }
        });
    }

    pub fn pointer_down(self, e: PointerEvent) {
        self.check_place(); // a move between the last frame and this press
        let mouse = e.pointer_type() == "mouse";
        self.guard.try_update_value(|g| g.pointer_down(now(), at(&e), mouse));
    }

    pub fn key_down(self, e: KeyboardEvent) {
        if matches!(e.key().as_str(), "Enter" | " ") {
            self.check_place();
            self.guard.try_update_value(|g| g.key_down(now(), e.repeat()));
        }
    }

    /// Whether this click counts. A script's click (untrusted) never does.
    pub fn counts(self, e: &MouseEvent) -> bool {
        self.check_place();
        e.is_trusted() && self.guard.try_update_value(|g| g.click(now())).unwrap_or(false)
    }
}

fn at(e: &MouseEvent) -> Point {
    (e.client_x(), e.client_y())
}

/// A button whose clicks run `action` only when `arming` counts them. Disarmed, it looks
/// disabled and says so to assistive technology (`aria-disabled`), with its name unchanged
/// and still focusable, so a keyboard user's place is kept.
pub(super) fn armed_button(
    arming: Arming,
    class: &'static str,
    label: String,
    action: impl Fn() + 'static,
) -> impl IntoView {
    view! {
        <button type="button" class=class node_ref=arming.button
            aria-disabled=move || (!arming.armed.get()).then_some("true")
            on:pointerdown=move |e| arming.pointer_down(e)
            on:keydown=move |e| arming.key_down(e)
            on:click=move |e| if arming.counts(&e) { action() }>{label}</button>
    }
}
