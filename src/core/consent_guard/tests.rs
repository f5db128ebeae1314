use latch_wire::testing::ms;
use proptest::prelude::*;

use super::*;

const T0: u64 = 1_800_000_000_000;
const D: u64 = CONSENT_ARM_DELAY_MS;
const ARMED: u64 = T0 + D;

/// A guard whose button appeared at T0 at (10, 100), with the mouse resting in the page at
/// (50, 110) since before.
fn shown() -> ConsentGuard {
    let mut g = ConsentGuard::new(ms(T0), Some((50, 110)));
    g.placed_at(ms(T0), (10, 100));
    g
}

/// A person's click: the pointer moves onto the button at `(x, y)`, presses, clicks.
fn click_at(g: &mut ConsentGuard, now: u64, (x, y): Point) -> bool {
    g.pointer_at(ms(now), (x - 1, y));
    g.pointer_down(ms(now), (x, y), true);
    g.click(ms(now))
}

fn deliberate_click(g: &mut ConsentGuard, now: u64) -> bool {
    click_at(g, now, (61, 112))
}

/// A click where the pointer is, without a move (`at`: where that is).
fn click_in_place(g: &mut ConsentGuard, now: u64, at: Point) -> bool {
    g.pointer_down(ms(now), at, true);
    g.click(ms(now))
}

#[test]
fn nothing_counts_before_the_delay_and_a_deliberate_click_after_it_does() {
    let mut g = shown();
    assert!(!g.is_armed(ms(ARMED - 1)));
    assert!(!deliberate_click(&mut g, ARMED - 1), "a click 1 ms early");
    assert!(g.is_armed(ms(ARMED)));
    assert_eq!(g.ready_at(), ms(ARMED));
    assert!(deliberate_click(&mut g, ARMED));
}

#[test]
fn a_press_that_began_before_arming_does_not_count_when_released_after() {
    let mut g = shown();
    g.pointer_at(ms(ARMED - 20), (60, 112));
    g.pointer_down(ms(ARMED - 10), (60, 112), true);
    assert!(!g.click(ms(ARMED + 200)), "mouse down while disarmed, up while armed");
    g.key_down(ms(ARMED - 10), false);
    assert!(!g.click(ms(ARMED + 200)), "Space down while disarmed, up while armed");
}

#[test]
fn a_mouse_resting_where_it_was_counts_for_nothing() {
    let mut g = shown();
    assert!(!click_in_place(&mut g, ARMED + 1_000, (50, 110)), "never moved since the prompt appeared");
    g.rearm(ms(ARMED + 5_000));
    g.pointer_at(ms(ARMED + 5_100), (50, 110));
    assert!(!click_in_place(&mut g, ARMED + 6_000, (50, 110)), "no movement since the re-arming");
    // A touch has no resting place: its press counts once armed.
    g.pointer_down(ms(ARMED + 6_000), (50, 110), false);
    assert!(g.click(ms(ARMED + 6_000)));
}

#[test]
fn a_pointer_that_appears_in_the_page_waits_the_delay_whatever_it_clicks_after() {
    // Double-clickjacking: a window over the panel closes on the first click; the pointer,
    // last seen leaving the panel, is suddenly there. The second click, a third, a shake of
    // a pixel and a click: none counts within the delay of its coming back.
    let mut g = shown();
    g.pointer_at(ms(ARMED + 100), (60, 112));
    g.pointer_left();
    let back = ARMED + 5_000;
    assert!(!click_in_place(&mut g, back, (61, 112)), "the double-click's second click");
    assert!(!click_in_place(&mut g, back + 120, (61, 112)), "a triple-click's third");
    g.pointer_at(ms(back + 200), (62, 112));
    assert!(!click_in_place(&mut g, back + 250, (62, 112)), "a pixel's shake, then a click");
    assert!(!g.is_armed(ms(back + D - 1)), "the button shows it is waiting");
    assert!(deliberate_click(&mut g, back + D), "after the delay, moved: counts");
    // A guard made while the mouse is nowhere in the page waits for it the same way.
    let mut g = ConsentGuard::new(ms(T0), None);
    g.pointer_at(ms(ARMED + 1_000), (60, 112));
    assert!(!click_at(&mut g, ARMED + 1_100, (70, 112)));
    assert!(click_at(&mut g, ARMED + 1_000 + D, (80, 112)));
}

#[test]
fn the_focus_coming_back_holds_up_keys_but_not_the_click_that_brought_it() {
    // Alt+Tab back, Approve focused: Enter in the first moment counts for nothing.
    let mut g = shown();
    g.focused(ms(ARMED + 1_000));
    assert!(!g.is_armed(ms(ARMED + 1_000)));
    g.key_down(ms(ARMED + 1_100), false);
    assert!(!g.click(ms(ARMED + 1_100)));
    assert!(!g.click(ms(ARMED + 1_200)), "a screen reader's activation waits too");
    g.key_down(ms(ARMED + 1_000 + D), false);
    assert!(g.click(ms(ARMED + 1_000 + D)));
    // A key pressed before the focus came back is used up by it.
    g.key_down(ms(ARMED + 9_000), false);
    g.focused(ms(ARMED + 9_010));
    assert!(!g.click(ms(ARMED + 9_020)));
    // The user clicks into the panel from the page: the focus comes with the click, before
    // or after its press. The click counts either way.
    let mut g = shown();
    g.focused(ms(ARMED + 1_000));
    assert!(deliberate_click(&mut g, ARMED + 1_000), "focus, then the press");
    let mut g = shown();
    g.pointer_at(ms(ARMED + 1_000), (60, 112));
    g.pointer_down(ms(ARMED + 1_000), (61, 112), true);
    g.focused(ms(ARMED + 1_000));
    assert!(g.click(ms(ARMED + 1_000)), "the press, then focus");
}

#[test]
fn a_button_that_moved_is_a_new_button() {
    let mut g = shown();
    g.pointer_at(ms(ARMED), (60, 112));
    g.placed_at(ms(ARMED + 1_000), (10, 100));
    assert!(g.is_armed(ms(ARMED + 1_000)), "the same place is no change");
    g.placed_at(ms(ARMED + 1_000), (10, 40));
    assert!(!g.is_armed(ms(ARMED + 1_000)), "moved up into the pointer's way");
    // The pointer stays still: after the delay a click still doesn't count.
    assert!(!click_in_place(&mut g, ARMED + 3_000, (60, 112)));
    assert!(click_at(&mut g, ARMED + 3_000, (71, 50)), "moved onto it: counts");
}

#[test]
fn keys_count_only_when_their_press_began_while_armed() {
    let mut g = shown();
    // Enter held since before the page: the button only ever sees repeats.
    for t in [ARMED + 10, ARMED + 40, ARMED + 70] {
        g.key_down(ms(t), true);
        assert!(!g.click(ms(t)), "a repeat at {t}");
    }
    // Pressed afresh while armed: one press, one click; its own repeats add nothing.
    g.key_down(ms(ARMED + 500), false);
    assert!(g.click(ms(ARMED + 500)));
    g.key_down(ms(ARMED + 530), true);
    assert!(!g.click(ms(ARMED + 530)), "the held key's repeat");
    // Space: down while armed, repeats, up → one click that counts.
    g.key_down(ms(ARMED + 900), false);
    g.key_down(ms(ARMED + 930), true);
    assert!(g.click(ms(ARMED + 960)));
}

#[test]
fn a_rearming_makes_a_press_in_flight_stale_and_a_click_nothing_pressed_for_counts_when_armed() {
    let mut g = shown();
    g.key_down(ms(ARMED + 10), false);
    g.rearm(ms(ARMED + 20));
    assert!(!g.click(ms(ARMED + 2_000)), "pressed before the button re-armed");
    assert!(!g.click(ms(ARMED + 20 + D - 1)), "activation while disarmed");
    assert!(g.click(ms(ARMED + 20 + D)), "assistive technology's activation");
}

#[test]
fn every_event_but_a_click_answers_false() {
    let mut g = shown();
    for seen in [
        Seen::Focus,
        Seen::Visibility,
        Seen::Placed((1, 1)),
        Seen::Pointer((2, 2)),
        Seen::PointerLeft,
        Seen::PointerDown { at: (3, 3), mouse: false },
        Seen::KeyDown { repeat: false },
    ] {
        assert!(!g.handle(ms(ARMED + 60_000), seen), "{seen:?}");
    }
}

/// What a page can throw at the button.
#[derive(Clone, Debug)]
enum Event {
    Seen(Seen),
    Wait(u64),
}

fn event() -> impl Strategy<Value = Event> {
    let point = || (0..4i32, 0..4i32);
    prop_oneof![
        Just(Event::Seen(Seen::Focus)),
        Just(Event::Seen(Seen::Visibility)),
        point().prop_map(|p| Event::Seen(Seen::Placed(p))),
        point().prop_map(|p| Event::Seen(Seen::Pointer(p))),
        Just(Event::Seen(Seen::PointerLeft)),
        (point(), any::<bool>()).prop_map(|(at, mouse)| Event::Seen(Seen::PointerDown { at, mouse })),
        any::<bool>().prop_map(|repeat| Event::Seen(Seen::KeyDown { repeat })),
        Just(Event::Seen(Seen::Click)),
        (0..800u64).prop_map(Event::Wait),
    ]
}

/// The rules restated on the history: when each thing last happened, and the pointer's
/// positions since the last arming.
struct Model {
    armed_from: u64,
    focused_at: Option<u64>,
    pointer_came_at: Option<u64>,
    pointer_in_page: bool,
    /// The pointer's positions since the last arming (or its coming back), the first being
    /// where it was then.
    positions: Vec<Point>,
    placed: Option<Point>,
    /// The press since the last click: began at, by (Some(mouse) | None for a key), whether
    /// it met its rules then, and whether a re-arming (or, for a key, the focus) came after.
    press: Option<(bool, bool)>,
}

impl Model {
    fn arming(&mut self, now: u64, last: Option<Point>) {
        self.armed_from = now;
        self.positions = last.into_iter().collect();
        if let Some(p) = self.press.as_mut() {
            p.0 = false;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    /// Whatever the order of events: a click counts only for a press that met its kind's
    /// rules when it began and that no re-arming overtook (or, with no press, once armed
    /// for keys), and no button shows armed before every kind of press may count.
    #[test]
    fn a_click_counts_only_for_a_press_begun_within_its_rules(events in proptest::collection::vec(event(), 0..40)) {
        let mut now = T0;
        let mut g = ConsentGuard::new(ms(now), None);
        let mut m = Model {
            armed_from: T0, focused_at: None, pointer_came_at: None, pointer_in_page: false,
            positions: Vec::new(), placed: None, press: None,
        };
        let mut last: Option<Point> = None;
        for e in events {
            let Event::Seen(seen) = e else {
                if let Event::Wait(d) = e { now += d; }
                continue;
            };
            let see_pointer = |m: &mut Model, last: &mut Option<Point>, p: Point| {
                if !m.pointer_in_page {
                    m.pointer_in_page = true;
                    m.pointer_came_at = Some(now);
                }
                m.positions.push(p);
                *last = Some(p);
            };
            let mouse_ready = |m: &Model| {
                now >= m.armed_from + D && m.pointer_came_at.is_none_or(|t| now >= t + D)
                    && m.positions.first().is_some_and(|first| m.positions.iter().any(|p| p != first))
            };
            let keys_ready = |m: &Model| now >= m.armed_from + D && m.focused_at.is_none_or(|t| now >= t + D);
            let answer = g.handle(ms(now), seen);
            match seen {
                Seen::Focus => {
                    m.focused_at = Some(now);
                    if let Some(p) = m.press.as_mut() { if p.1 { p.0 = false; } }
                }
                Seen::Visibility => m.arming(now, last),
                Seen::Placed(p) => {
                    if m.placed.is_some_and(|q| q != p) { m.arming(now, last); }
                    m.placed = Some(p);
                }
                Seen::Pointer(p) => see_pointer(&mut m, &mut last, p),
                Seen::PointerLeft => {
                    m.pointer_in_page = false;
                    m.positions.clear();
                    last = None;
                }
                Seen::PointerDown { at, mouse: true } => {
                    see_pointer(&mut m, &mut last, at);
                    m.press = Some((mouse_ready(&m), false));
                }
                Seen::PointerDown { mouse: false, .. } => m.press = Some((now >= m.armed_from + D, false)),
                Seen::KeyDown { repeat: false } => m.press = Some((keys_ready(&m), true)),
                Seen::KeyDown { repeat: true } => {
                    if m.press.is_none() { m.press = Some((false, true)); }
                }
                Seen::Click => {
                    let expected = match m.press.take() {
                        Some((met, _)) => met,
                        None => keys_ready(&m),
                    };
                    prop_assert_eq!(answer, expected);
                }
            }
            if seen != Seen::Click {
                prop_assert!(!answer);
            }
            // Shown armed only when a key, the mouse (once it moved) and a touch may all count.
            if g.is_armed(ms(now)) {
                prop_assert!(keys_ready(&m));
                prop_assert!(m.pointer_came_at.is_none_or(|t| now >= t + D));
            }
        }
    }
}
