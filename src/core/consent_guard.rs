//! When a click on a consent button counts (SECURITY.md, "Consent clicks"): the rules that
//! keep a click or key press the user aimed at something else from approving a pairing.
//!
//! The panel feeds a [`ConsentGuard`] what its button sees (the pointer's positions, presses,
//! the button's place on the page, the window coming back) with the time, and asks it
//! whether a click counts. Each kind of press waits for what could have put the button in
//! its way:
//! - every press: the button armed [`CONSENT_ARM_DELAY_MS`] ago, after it appeared, moved on
//!   the page (a prompt that slid under the pointer is a new prompt) or the page was shown;
//! - a mouse press: also the pointer in the page for that long (a window that vanished from
//!   above the panel leaves the pointer there without moving: double-clickjacking), and
//!   moved since the button (re-)armed (a resting pointer clicks nothing);
//! - a key press (and a click nothing pressed for: a screen reader's activation): also the
//!   window focused for that long, and the key's keydown fresh, not an auto-repeat, and
//!   while armed (a key held on another page: keyjacking).
//!
//! The window's focus does not hold up a mouse press: a click into the panel brings the
//! focus itself, in either order with its `pointerdown` depending on the platform, and would
//! otherwise always be lost. The pointer's own rules cover a window coming back under it.

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
    /// The button is at this place in the page's viewport.
    Placed(Point),
    /// The mouse pointer is here in the page.
    Pointer(Point),
    /// The mouse pointer left the page.
    PointerLeft,
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
    /// A pointer's press that met its rules.
    Pointer,
    /// A fresh key press that met its rules.
    Key,
    /// Began too early, or first seen repeating: its click counts for nothing.
    Stale,
}

/// One consent button's arming state. Events and time in, one answer out: does this click
/// count?
#[derive(Clone, Debug)]
pub struct ConsentGuard {
    /// Armed for every press from here: the button appeared, moved, or the page was shown.
    ready_at: EpochMs,
    /// Armed for keys from here: the window got the focus.
    keys_ready_at: EpochMs,
    /// Armed for the mouse from here: the pointer came into the page.
    pointer_ready_at: EpochMs,
    /// Where the pointer was at the last (re)arming, or first seen after it.
    reference: Option<Point>,
    /// Where the pointer is; `None` while it is not in the page.
    last_pointer: Option<Point>,
    /// The pointer has been somewhere other than `reference` since the last (re)arming.
    moved: bool,
    /// Where the button was in the viewport the last time it was looked at.
    placed: Option<Point>,
    press: Press,
}

impl ConsentGuard {
    /// A button that appeared at `now`, armed [`CONSENT_ARM_DELAY_MS`] later; `pointer`:
    /// where the mouse is in the page, if the page knows.
    pub fn new(now: EpochMs, pointer: Option<Point>) -> Self {
        Self {
            ready_at: now + CONSENT_ARM_DELAY_MS,
            keys_ready_at: now,
            pointer_ready_at: now,
            reference: pointer,
            last_pointer: pointer,
            moved: false,
            placed: None,
            press: Press::None,
        }
    }

    /// One thing the page saw, at `now`. True only for a [`Seen::Click`] that counts.
    pub fn handle(&mut self, now: EpochMs, seen: Seen) -> bool {
        match seen {
            Seen::Focus => self.focused(now),
            Seen::Visibility => self.rearm(now),
            Seen::Placed(place) => self.placed_at(now, place),
            Seen::Pointer(at) => self.pointer_at(now, at),
            Seen::PointerLeft => self.pointer_left(),
            Seen::PointerDown { at, mouse } => self.pointer_down(now, at, mouse),
            Seen::KeyDown { repeat } => self.key_down(now, repeat),
            Seen::Click => return self.click(now),
        }
        false
    }

    /// The button moved or the page was shown: everything seen before no longer counts, and
    /// every press waits the whole delay again.
    pub fn rearm(&mut self, now: EpochMs) {
        self.ready_at = now + CONSENT_ARM_DELAY_MS;
        self.reference = self.last_pointer;
        self.moved = false;
        if self.press != Press::None {
            self.press = Press::Stale;
        }
    }

    /// The window got the focus (back): keys wait the whole delay again, and a key press
    /// begun before counts for nothing.
    pub fn focused(&mut self, now: EpochMs) {
        self.keys_ready_at = now + CONSENT_ARM_DELAY_MS;
        if self.press == Press::Key {
            self.press = Press::Stale;
        }
    }

    /// Whether the button shows armed: every kind of press may count from now.
    pub fn is_armed(&self, now: EpochMs) -> bool {
        now >= self.ready_at()
    }

    /// When the button shows armed (a timer's target).
    pub fn ready_at(&self) -> EpochMs {
        self.ready_at.max(self.keys_ready_at).max(self.pointer_ready_at)
    }

    /// The button is at `place` in the viewport. A button that moved under the pointer is a
    /// new button: it re-arms. The first place seen is where it appeared.
    pub fn placed_at(&mut self, now: EpochMs, place: Point) {
        if self.placed.is_some_and(|p| p != place) {
            self.rearm(now);
        }
        self.placed = Some(place);
    }

    /// The mouse pointer is at `at` inside the page. Come into the page just now, it may be
    /// where a vanished window left it: the mouse waits the whole delay from here.
    pub fn pointer_at(&mut self, now: EpochMs, at: Point) {
        if self.last_pointer.is_none() {
            self.pointer_ready_at = now + CONSENT_ARM_DELAY_MS;
        }
        match self.reference {
            None => self.reference = Some(at),
            Some(r) if r != at => self.moved = true,
            Some(_) => {}
        }
        self.last_pointer = Some(at);
    }

    /// The mouse pointer left the page: when it is next seen, it came back.
    pub fn pointer_left(&mut self) {
        self.reference = None;
        self.last_pointer = None;
        self.moved = false;
    }

    /// A pointer pressed the button. A mouse's press counts once the pointer has been in the
    /// page for the delay and has moved since the last arming; a touch or pen has no resting
    /// place, so its press counts when the button is armed.
    pub fn pointer_down(&mut self, now: EpochMs, at: Point, mouse: bool) {
        let counts = if mouse {
            self.pointer_at(now, at);
            now >= self.ready_at && now >= self.pointer_ready_at && self.moved
        } else {
            now >= self.ready_at
        };
        self.press = if counts { Press::Pointer } else { Press::Stale };
    }

    /// An activating key (Enter, Space) went down on the button; `repeat` as the event says.
    /// A repeat never starts a press: the key went down before, maybe in another window.
    pub fn key_down(&mut self, now: EpochMs, repeat: bool) {
        if repeat {
            if self.press == Press::None {
                self.press = Press::Stale;
            }
        } else {
            let counts = now >= self.ready_at && now >= self.keys_ready_at;
            self.press = if counts { Press::Key } else { Press::Stale };
        }
    }

    /// The button was clicked: does it count? One press, one click: the press is used up.
    /// A click nothing pressed for is judged as a key's would be.
    pub fn click(&mut self, now: EpochMs) -> bool {
        let counts = match self.press {
            Press::Pointer | Press::Key => true,
            Press::Stale => false,
            Press::None => now >= self.ready_at && now >= self.keys_ready_at,
        };
        self.press = Press::None;
        counts
    }
}

#[cfg(test)]
mod tests;
