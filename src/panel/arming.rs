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
const PAGE_EVENTS: [&str; 7] =
    ["focus", "blur", "visibilitychange", "pointermove", "pointerout", "pointerdown", "keydown"];

/// What the page keeps for its armed buttons. The guards live here, not in reactive
/// storage: one lookup serves every event.
struct Page {
    /// The buttons on the page now, each with its guard and the moment its pending timer is
    /// set for; gone when their component is.
    buttons: Vec<(Arming, ConsentGuard, Option<EpochMs>)>,
    last_id: u32,
    /// Where the mouse is in the page; `None` while it is elsewhere. A new button starts
    /// from it: a pointer already here has not just appeared.
    pointer: Option<Point>,
}

thread_local! {
    /// `None` until the first armed button installs the page listener.
    static PAGE: RefCell<Option<Page>> = const { RefCell::new(None) };
}

/// A monotonic clock (`performance.now()`): a step of the wall clock neither skips the
/// delay nor stretches it. Only ever compared with itself.
fn now() -> EpochMs {
    EpochMs::from_js(window().performance().map_or_else(js_sys::Date::now, |p| p.now()))
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
    /// Arms from now; re-arms when the page is shown again or the button moves. Call inside
    /// the component that shows the button: it stops listening when that component goes.
    pub fn new() -> Self {
        watch_the_page();
        let arming = PAGE.with(|page| {
            let mut page = page.borrow_mut();
            let page = page.as_mut().expect("watch_the_page made it");
            page.last_id += 1;
            let arming = Self { id: page.last_id, armed: RwSignal::new(false), button: NodeRef::new() };
            page.buttons.push((arming, ConsentGuard::new(now(), page.pointer), None));
            arming
        });
        let id = arming.id;
        on_cleanup(move || {
            PAGE.with(|page| {
                if let Some(page) = page.borrow_mut().as_mut() {
                    page.buttons.retain(|(a, _, _)| a.id != id);
                }
            })
        });
        arming.sync(false);
        arming.watch_place();
        arming
    }

    /// Hands `seen` to the guard and shows its state; true for a click that counts.
    fn feed(self, seen: Seen) -> bool {
        self.step(Some(seen), false)
    }

    /// Shows the guard's state, and comes back when it arms (one timer at a time).
    fn sync(self, timer_fired: bool) {
        self.step(None, timer_fired);
    }

    /// The one way to the guard: hands it `seen` (if any) now, and answers whether that
    /// counted, whether the button is armed, and when a timer must show it armed (none if
    /// one is set for that moment already; `timer_fired`: the one set has gone off). `None`
    /// once the button is gone.
    fn guard(self, seen: Option<Seen>, timer_fired: bool) -> Option<(bool, bool, Option<EpochMs>)> {
        let t = now();
        PAGE.with(|page| {
            let mut page = page.borrow_mut();
            let (_, g, timer) = page.as_mut()?.buttons.iter_mut().find(|(a, _, _)| a.id == self.id)?;
            let counts = seen.is_some_and(|s| g.handle(t, s));
            if timer_fired {
                *timer = None;
            }
            let armed = g.is_armed(t);
            let wake = (!armed && *timer != Some(g.ready_at())).then(|| g.ready_at());
            if wake.is_some() {
                *timer = wake;
            }
            Some((counts, armed, wake))
        })
    }

    /// [`Arming::feed`] and [`Arming::sync`] in one lookup of the guard (every pointer move
    /// comes through here).
    fn step(self, seen: Option<Seen>, timer_fired: bool) -> bool {
        let Some((counts, armed, wake)) = self.guard(seen, timer_fired) else {
            return false; // the button is gone
        };
        if self.armed.try_get_untracked() != Some(armed) {
            self.armed.try_set(armed);
        }
        if let Some(at) = wake {
            set_timeout(move || self.sync(true), Duration::from_millis(now().ms_until(at) + 1));
        }
        counts
    }

    /// Where the button is in the viewport now: one that moved under a resting pointer
    /// (the list reflowed, the page scrolled) re-arms. The guard decides.
    fn check_place(self) {
        let Some(button) = self.button.try_get_untracked().flatten() else { return };
        let rect = button.get_bounding_client_rect();
        self.feed(Seen::Placed((rect.left() as i32, rect.top() as i32)));
    }

    /// Looks every frame: a list that reflowed under a resting pointer shows the button
    /// disarmed from the frame it moved in. Ends when the button's component does.
    fn watch_place(self) {
        request_animation_frame(move || {
            if self.guard(None, false).is_some() {
                self.check_place();
                self.watch_place();
            }
        });
    }

    /// One of the page's events (`PAGE_EVENTS`), as this button sees it. `mouse`: a mouse
    /// pointer's event (a touch or pen has no resting place to track).
    fn page_event(self, e: &Event, mouse: bool) {
        let on_button = self
            .button
            .try_get_untracked()
            .flatten()
            .is_some_and(|b| e.target().is_some_and(|t| b.contains(t.dyn_ref())));
        let pointer = e.unchecked_ref::<MouseEvent>();
        match e.type_().as_str() {
            "focus" => self.feed(Seen::Focus),
            // Another window took the focus, maybe one over the panel: where the mouse next
            // shows up is where that window may have left it.
            "blur" => self.feed(Seen::PointerLeft),
            "visibilitychange" => self.feed(Seen::Visibility),
            "pointermove" => mouse && self.feed(Seen::Pointer(at(pointer))),
            // Chrome's accessibility click (a screen reader's activation, voice control) comes
            // as a mouse `pointerdown` with pressure 0, which no real button press has: it is
            // judged as the click nothing pressed for that follows it.
            "pointerdown" if mouse && e.unchecked_ref::<web_sys::PointerEvent>().pressure() == 0.0 => false,
            "pointerdown" => {
                on_button && {
                    self.check_place(); // a move between the last frame and this press
                    self.feed(Seen::PointerDown { at: at(pointer), mouse })
                }
            }
            "keydown" => {
                let key = e.unchecked_ref::<KeyboardEvent>();
                on_button && matches!(key.key().as_str(), "Enter" | " ") && {
                    self.check_place();
                    self.feed(Seen::KeyDown { repeat: key.repeat() })
                }
            }
            // `pointerout` with nowhere in the page to go: the mouse left the page.
            _ => mouse && pointer.related_target().is_none() && self.feed(Seen::PointerLeft),
        };
    }

    /// Whether this click counts. A script's click (untrusted) never does.
    fn counts(self, e: &MouseEvent) -> bool {
        self.check_place();
        e.is_trusted() && self.feed(Seen::Click)
    }
}

/// Installs the page's listener once (the panel calls this at start, so the mouse is known
/// before the first prompt).
pub(super) fn watch_the_page() {
    let first = PAGE.with(|page| {
        let mut page = page.borrow_mut();
        let first = page.is_none();
        page.get_or_insert_with(|| Page { buttons: Vec::new(), last_id: 0, pointer: None });
        first
    });
    if first {
        listen_to_the_page();
    }
}

/// One listener for the page's life: keeps where the mouse is, then hands each event to
/// every live button.
fn listen_to_the_page() {
    let on_event = Closure::<dyn Fn(Event)>::new(|e: Event| {
        let mouse = e.dyn_ref::<web_sys::PointerEvent>().is_some_and(|p| p.pointer_type() == "mouse");
        let kind = e.type_();
        let live: Vec<Arming> = PAGE.with(|page| {
            let mut page = page.borrow_mut();
            let Some(page) = page.as_mut() else { return Vec::new() };
            if mouse && kind == "pointermove" {
                page.pointer = Some(at(e.unchecked_ref()));
            } else if kind == "blur"
                || mouse && kind == "pointerout" && e.unchecked_ref::<MouseEvent>().related_target().is_none()
            {
                page.pointer = None;
            }
            page.buttons.iter().map(|(a, _, _)| *a).collect()
        });
        for arming in live {
            arming.page_event(&e, mouse);
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
