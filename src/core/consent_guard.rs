//! When a click on a consent button counts (SECURITY.md, "Consent clicks"): the rules that
//! keep a click or key press the user aimed at something else from approving a pairing.
//!
//! The panel feeds a [`ConsentGuard`] what its button sees (the pointer's positions, presses,
//! the button's place on the page, the window coming back) with the time, and asks it
//! whether a click counts. Three attacks it stops:
//! - **keyjacking**: a key held since before the button armed (on the page that opened the
//!   popup, say) auto-repeats into it; only a key press that began while it was armed counts;
//! - **a prompt sliding under a resting pointer**: a prompt that moves (the one above it
//!   went) is a new prompt: it re-arms, and a mouse click counts only after the pointer
//!   moved inside the page since then;
//! - **double-clickjacking**: a window closed on the first click of a double-click leaves
//!   the second to land on the panel: the window coming back re-arms, and the pointer has
//!   not moved inside the panel since it came back into it.

use latch_wire::consent::CONSENT_ARM_DELAY_MS;
use latch_wire::EpochMs;

/// A pointer position in the page (CSS pixels, as `clientX`/`clientY` give them).
pub type Point = (i32, i32);

/// What the page saw, as the panel hands it over ([`ConsentGuard::handle`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// The window got the focus.
    Focus,
    /// The page was hidden or shown.
    Visibility,
    /// The button is at this place on the page (document coordinates).
    Placed(Point),
    /// The pointer is here in the page.
    Pointer(Point),
    /// The pointer left the page.
    PointerLeft,
    /// A pointer went down (`true`) or up (`false`) anywhere in the page.
    PagePointer(bool),
    /// A pointer pressed the button here; `mouse`: not a touch or pen.
    PointerDown { at: Point, mouse: bool },
    /// Enter or Space went down on the button.
    KeyDown { repeat: bool },
    /// The button was clicked.
    Click,
}

/// The press in progress on the button: what its click will be judged by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Press {
    /// None seen: a click nothing pressed for (assistive technology's activation).
    None,
    /// Began while the button was armed (and, for a mouse, after the pointer moved).
    Counts,
    /// Began before the button armed, or first seen repeating: its click counts for nothing.
    Stale,
}

/// One consent button's arming state. Events and time in, one answer out: does this click
/// count?
#[derive(Clone, Debug)]
pub struct ConsentGuard {
    ready_at: EpochMs,
    /// Where the pointer was at the last (re)arming, or first seen after it.
    reference: Option<Point>,
    last_pointer: Option<Point>,
    /// The pointer has been at a place other than `reference` since the last (re)arming.
    moved: bool,
    /// Where the button was on the page the last time it was looked at.
    placed: Option<Point>,
    press: Press,
    /// A pointer is pressed somewhere in the page (between `pointerdown` and `pointerup`).
    page_pressed: bool,
}

impl ConsentGuard {
    /// A button that appeared at `now`: armed [`CONSENT_ARM_DELAY_MS`] later.
    pub fn new(now: EpochMs) -> Self {
        Self {
            ready_at: now + CONSENT_ARM_DELAY_MS,
            reference: None,
            last_pointer: None,
            moved: false,
            placed: None,
            press: Press::None,
            page_pressed: false,
        }
    }

    /// One thing the page saw, at `now`. True only for a [`Seen::Click`] that counts.
    pub fn handle(&mut self, now: EpochMs, seen: Seen) -> bool {
        match seen {
            Seen::Focus => self.focused(now),
            Seen::Visibility => {
                self.page_pressed = false;
                self.rearm(now);
            }
            Seen::Placed(place) => self.placed_at(now, place),
            Seen::Pointer(at) => self.pointer_at(at),
            Seen::PointerLeft => self.pointer_left(),
            Seen::PagePointer(pressed) => self.page_pointer(pressed),
            Seen::PointerDown { at, mouse } => self.pointer_down(now, at, mouse),
            Seen::KeyDown { repeat } => self.key_down(now, repeat),
            Seen::Click => return self.click(now),
        }
        false
    }

    /// The window came back (focus, visibility) or the button moved: everything it saw
    /// before no longer counts, and it waits the whole delay again.
    pub fn rearm(&mut self, now: EpochMs) {
        self.ready_at = now + CONSENT_ARM_DELAY_MS;
        self.reference = self.last_pointer;
        self.moved = false;
        if self.press != Press::None {
            self.press = Press::Stale;
        }
    }

    /// The window got the focus. Coming back by the keyboard or by another window closing,
    /// it re-arms. A click into the panel brings the focus too (after its `pointerdown`):
    /// that press is judged by the rules already (armed, and the pointer moved inside the
    /// page first), and re-arming under it would eat every first click on Approve.
    pub fn focused(&mut self, now: EpochMs) {
        if !self.page_pressed {
            self.rearm(now);
        }
    }

    /// A pointer went down (`true`) or up (`false`) anywhere in the page.
    pub fn page_pointer(&mut self, pressed: bool) {
        self.page_pressed = pressed;
    }

    /// Whether a click would count by time alone (what the button shows: armed or not).
    pub fn is_armed(&self, now: EpochMs) -> bool {
        now >= self.ready_at
    }

    /// When the button arms (a timer's target for the panel to show it armed).
    pub fn ready_at(&self) -> EpochMs {
        self.ready_at
    }

    /// The button is at `place` on the page (document coordinates). A button that moved is
    /// a new button under the pointer: it re-arms. The first place seen is where it appeared.
    pub fn placed_at(&mut self, now: EpochMs, place: Point) {
        if self.placed.is_some_and(|p| p != place) {
            self.rearm(now);
        }
        self.placed = Some(place);
    }

    /// The pointer is at `at` inside the page.
    pub fn pointer_at(&mut self, at: Point) {
        match self.reference {
            None => self.reference = Some(at),
            Some(r) if r != at => self.moved = true,
            Some(_) => {}
        }
        self.last_pointer = Some(at);
    }

    /// The pointer left the page: when it is next seen, it may be where a vanished window
    /// left it, so only movement after that counts.
    pub fn pointer_left(&mut self) {
        self.reference = None;
        self.last_pointer = None;
        self.moved = false;
    }

    /// A pointer pressed the button. A mouse's press counts only once the pointer has moved
    /// since the last arming (a resting pointer is where a vanished window left it); a touch
    /// or pen has no resting place, so its press counts when it began while armed.
    pub fn pointer_down(&mut self, now: EpochMs, at: Point, mouse: bool) {
        self.pointer_at(at);
        let counts = self.is_armed(now) && (self.moved || !mouse);
        self.press = if counts { Press::Counts } else { Press::Stale };
    }

    /// An activating key (Enter, Space) went down on the button; `repeat` as the event says.
    /// A repeat never starts a press: the key went down before, maybe in another window.
    pub fn key_down(&mut self, now: EpochMs, repeat: bool) {
        if repeat {
            if self.press == Press::None {
                self.press = Press::Stale;
            }
        } else {
            self.press = if self.is_armed(now) { Press::Counts } else { Press::Stale };
        }
    }

    /// The button was clicked: does it count? One press, one click: the press is used up.
    pub fn click(&mut self, now: EpochMs) -> bool {
        let counts = self.is_armed(now) && self.press != Press::Stale;
        self.press = Press::None;
        counts
    }
}

#[cfg(test)]
mod tests;
