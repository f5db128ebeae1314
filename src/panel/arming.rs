//! A consent button wired to its [`ConsentGuard`]: the page's events in, the guard's answer
//! out. Every rule is the guard's (core/consent_guard.rs); this only reports what happened.
//!
//! Shaped for the panel's size budget: one listener on the window for the page's life hands
//! every event to each live button, and every event reaches the guard through one call
//! ([`Arming::feed`]), so the button's view carries one handler and the generic code is
//! instantiated once.

use std::cell::RefCell;
use std::time::Duration;

use leptos::html::Button;
use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Event, KeyboardEvent, MouseEvent};

use latch_wire::panel::PanelRequest;
use latch_wire::EpochMs;

use crate::core::consent_guard::{ConsentGuard, Point, Seen};

use super::Panel;

/// The page's events every armed button hears.
const PAGE_EVENTS: [&str; 8] =
    ["focus", "visibilitychange", "pointermove", "pointerout", "pointerdown", "pointerup", "pointercancel", "keydown"];

/// The buttons on the page now with their guards, each under a number of its own (gone
/// when its component is), and the last number given; `None` until the page listener is
/// installed. The guards live here, not in reactive storage: one lookup serves every event.
type Live = Option<(Vec<(Arming, ConsentGuard)>, u32)>;

thread_local! {
    static LIVE: RefCell<Live> = const { RefCell::new(None) };
}

fn now() -> EpochMs {
    EpochMs::from_js(js_sys::Date::now())
}

/// One armed button. `Copy`: handlers take it by value.
#[derive(Clone, Copy)]
pub(super) struct Arming {
    id: u32,
    /// What the button shows: armed, or disarmed (looks disabled, `aria-disabled`).
    pub armed: RwSignal<bool>,
    button: NodeRef<Button>,
}

impl Arming {
    /// Arms from now; re-arms when the window comes back or the button moves. Call inside
    /// the component that shows the button: it stops listening when that component goes.
    pub fn new() -> Self {
        let arming = LIVE.with(|live| {
            let mut live = live.borrow_mut();
            let (buttons, last) = live.get_or_insert_with(|| {
                listen_to_the_page();
                (Vec::new(), 0)
            });
            *last += 1;
            let arming = Self { id: *last, armed: RwSignal::new(false), button: NodeRef::new() };
            buttons.push((arming, ConsentGuard::new(now())));
            arming
        });
        let id = arming.id;
        on_cleanup(move || {
            LIVE.with(|live| {
                if let Some((buttons, _)) = live.borrow_mut().as_mut() {
                    buttons.retain(|(a, _)| a.id != id);
                }
            })
        });
        arming.sync();
        arming.watch_place();
        arming
    }

    /// Hands `seen` to the guard; true for a click that counts. Shows a re-arming at once.
    fn feed(self, seen: Seen) -> bool {
        let counts = self.guard(Some(seen)).is_some_and(|(counts, _, _)| counts);
        if matches!(seen, Seen::Focus | Seen::Visibility | Seen::Placed(_)) {
            self.sync();
        }
        counts
    }

    /// The one way to the guard: hands it `seen` (if any) now, and answers whether that
    /// counted, whether the button is armed and when it arms; `None` once the button is gone.
    fn guard(self, seen: Option<Seen>) -> Option<(bool, bool, EpochMs)> {
        let t = now();
        LIVE.with(|live| {
            let mut live = live.borrow_mut();
            let (_, g) = live.as_mut()?.0.iter_mut().find(|(a, _)| a.id == self.id)?;
            let counts = seen.is_some_and(|s| g.handle(t, s));
            Some((counts, g.is_armed(t), g.ready_at()))
        })
    }

    /// Shows the guard's state, and comes back when it arms.
    fn sync(self) {
        let t = now();
        let Some((_, armed, ready_at)) = self.guard(None) else {
            return; // the button is gone
        };
        if self.armed.try_get_untracked() != Some(armed) {
            self.armed.try_set(armed);
        }
        if !armed {
            set_timeout(move || self.sync(), Duration::from_millis(t.ms_until(ready_at) + 1));
        }
    }

    /// Where the button is on the page now (a move re-arms it: the guard decides).
    fn check_place(self) {
        let Some(button) = self.button.try_get_untracked().flatten() else { return };
        let rect = button.get_bounding_client_rect();
        let window = window();
        let place = (
            (rect.left() + window.scroll_x().unwrap_or(0.0)) as i32,
            (rect.top() + window.scroll_y().unwrap_or(0.0)) as i32,
        );
        self.feed(Seen::Placed(place));
    }

    /// Looks every frame: a list that reflowed under a resting pointer shows the button
    /// disarmed from the frame it moved in. Ends when the button's component does.
    fn watch_place(self) {
        request_animation_frame(move || {
            if self.guard(None).is_some() {
                self.check_place();
                self.watch_place();
            }
        });
    }

    /// One of the page's events (`PAGE_EVENTS`), as this button sees it.
    fn page_event(self, e: &Event) {
        let on_button = self
            .button
            .try_get_untracked()
            .flatten()
            .is_some_and(|b| e.target().is_some_and(|t| b.contains(t.dyn_ref())));
        let pointer = e.unchecked_ref::<MouseEvent>();
        match e.type_().as_str() {
            "focus" => self.feed(Seen::Focus),
            "visibilitychange" => self.feed(Seen::Visibility),
            "pointermove" => self.feed(Seen::Pointer(at(pointer))),
            "pointerdown" => {
                if on_button {
                    self.check_place(); // a move between the last frame and this press
                    let mouse = e.unchecked_ref::<web_sys::PointerEvent>().pointer_type() == "mouse";
                    self.feed(Seen::PointerDown { at: at(pointer), mouse });
                }
                self.feed(Seen::PagePointer(true))
            }
            "pointerup" | "pointercancel" => self.feed(Seen::PagePointer(false)),
            "keydown" => {
                let key = e.unchecked_ref::<KeyboardEvent>();
                on_button && matches!(key.key().as_str(), "Enter" | " ") && {
                    self.check_place();
                    self.feed(Seen::KeyDown { repeat: key.repeat() })
                }
            }
            // `pointerout` with nowhere in the page to go: it left the page.
            _ => pointer.related_target().is_none() && self.feed(Seen::PointerLeft),
        };
    }

    /// Whether this click counts. A script's click (untrusted) never does.
    fn counts(self, e: &MouseEvent) -> bool {
        self.check_place();
        e.is_trusted() && self.feed(Seen::Click)
    }
}

/// One listener for the page's life, handing each event to every live button.
fn listen_to_the_page() {
    let on_event = Closure::<dyn Fn(Event)>::new(|e: Event| {
        let live: Vec<Arming> =
            LIVE.with(|l| l.borrow().as_ref().map(|(b, _)| b.iter().map(|(a, _)| *a).collect()).unwrap_or_default());
        for arming in live {
            arming.page_event(&e);
        }
    });
    let window = window();
    for name in PAGE_EVENTS {
        let _ = window.add_event_listener_with_callback(name, on_event.as_ref().unchecked_ref());
    }
    // The panel lives as long as its page: the listener never needs removing.
    on_event.forget();
}

fn at(e: &MouseEvent) -> Point {
    (e.client_x(), e.client_y())
}

/// A button that sends `req` when `arming` counts its click. Disarmed, it looks disabled and
/// says so to assistive technology (`aria-disabled`), with its name unchanged and still
/// focusable, so a keyboard user's place is kept.
pub(super) fn armed_button(
    panel: Panel,
    arming: Arming,
    class: &'static str,
    label: String,
    req: PanelRequest,
) -> AnyView {
    view! {
        <button type="button" class=class node_ref=arming.button
            aria-disabled=move || (!arming.armed.get()).to_string()
            on:click=move |e| if arming.counts(&e) { panel.run(req.clone()) }>{label}</button>
    }
    .into_any()
}
