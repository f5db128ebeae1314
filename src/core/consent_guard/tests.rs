use latch_wire::testing::ms;
use proptest::prelude::*;

use super::*;

const T0: u64 = 1_800_000_000_000;
const ARMED: u64 = T0 + CONSENT_ARM_DELAY_MS;

/// A guard whose button appeared at T0 at (10, 100), with the pointer resting at (50, 110).
fn shown() -> ConsentGuard {
    let mut g = ConsentGuard::new(ms(T0));
    g.placed_at(ms(T0), (10, 100));
    g.pointer_at((50, 110));
    g
}

/// A person's click: the pointer moves onto the button at `(x, y)`, presses, clicks.
fn click_at(g: &mut ConsentGuard, now: u64, (x, y): Point) -> bool {
    g.pointer_at((x - 1, y));
    g.pointer_down(ms(now), (x, y), true);
    g.click(ms(now))
}

fn deliberate_click(g: &mut ConsentGuard, now: u64) -> bool {
    click_at(g, now, (61, 112))
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
    g.pointer_at((60, 112));
    g.pointer_down(ms(ARMED - 10), (60, 112), true);
    assert!(!g.click(ms(ARMED + 200)), "mouse down while disarmed, up while armed");
    g.key_down(ms(ARMED - 10), false);
    assert!(!g.click(ms(ARMED + 200)), "Space down while disarmed, up while armed");
}

#[test]
fn a_mouse_resting_where_it_was_counts_for_nothing() {
    // The double-click pattern: the panel never saw the pointer before; the second click of
    // a double-click lands where the vanished window left it.
    let mut g = ConsentGuard::new(ms(T0));
    g.pointer_down(ms(ARMED + 1_000), (61, 112), true);
    assert!(!g.click(ms(ARMED + 1_000)));
    // The pointer was seen resting at (50, 110) when the guard re-armed; a press there later.
    let mut g = shown();
    g.rearm(ms(ARMED + 5_000));
    g.pointer_down(ms(ARMED + 6_000), (50, 110), true);
    assert!(!g.click(ms(ARMED + 6_000)), "no movement since the re-arming");
    // A touch has no resting place: its press counts once armed.
    g.pointer_down(ms(ARMED + 6_000), (50, 110), false);
    assert!(g.click(ms(ARMED + 6_000)));
}

#[test]
fn movement_counts_only_since_the_pointer_came_back_into_the_page() {
    let mut g = shown();
    g.pointer_at((60, 112));
    g.pointer_left();
    // Back, at one place (a window closed above the panel): no movement yet.
    g.pointer_down(ms(ARMED + 1_000), (20, 30), true);
    assert!(!g.click(ms(ARMED + 1_000)));
    g.pointer_at((22, 30));
    g.pointer_down(ms(ARMED + 1_100), (22, 30), true);
    assert!(g.click(ms(ARMED + 1_100)));
}

#[test]
fn the_focus_coming_back_rearms_unless_a_click_into_the_page_brought_it() {
    // Alt+Tab back, pointer resting on Approve: disarmed, and then not a click without a move.
    let mut g = shown();
    g.focused(ms(ARMED + 1_000));
    assert!(!g.is_armed(ms(ARMED + 1_000)));
    g.pointer_down(ms(ARMED + 2_000), (50, 110), true);
    assert!(!g.click(ms(ARMED + 2_000)));
    // The user clicks into the panel from the page: the click that brings the focus counts.
    let mut g = shown();
    g.pointer_at((60, 112));
    g.pointer_down(ms(ARMED + 1_000), (61, 112), true);
    g.page_pointer(true);
    g.focused(ms(ARMED + 1_000));
    g.page_pointer(false);
    assert!(g.click(ms(ARMED + 1_000)));
    // The second click of a double-click brings the focus too, and still counts for nothing.
    let mut g = shown();
    g.pointer_left();
    g.pointer_down(ms(ARMED + 1_000), (61, 112), true);
    g.page_pointer(true);
    g.focused(ms(ARMED + 1_000));
    assert!(!g.click(ms(ARMED + 1_000)));
}

#[test]
fn a_button_that_moved_is_a_new_button() {
    let mut g = shown();
    g.pointer_at((60, 112));
    g.placed_at(ms(ARMED + 1_000), (10, 100));
    assert!(g.is_armed(ms(ARMED + 1_000)), "the same place is no change");
    g.placed_at(ms(ARMED + 1_000), (10, 40));
    assert!(!g.is_armed(ms(ARMED + 1_000)), "moved up into the pointer's way");
    // The pointer stays still: after the delay a click still doesn't count.
    g.pointer_down(ms(ARMED + 3_000), (60, 112), true);
    assert!(!g.click(ms(ARMED + 3_000)));
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
    assert!(!g.click(ms(ARMED + 2_000)), "pressed before the window came back");
    assert!(!g.click(ms(ARMED + 20 + CONSENT_ARM_DELAY_MS - 1)), "activation while disarmed");
    assert!(g.click(ms(ARMED + 20 + CONSENT_ARM_DELAY_MS)), "assistive technology's activation");
}

/// What a page can throw at the button.
#[derive(Clone, Debug)]
enum Event {
    Rearm,
    Focused,
    PagePointer(bool),
    Left,
    Placed(Point),
    Pointer(Point),
    PointerDown(Point, bool),
    KeyDown(bool),
    Click,
    Wait(u64),
}

fn event() -> impl Strategy<Value = Event> {
    let point = (0..4i32, 0..4i32);
    prop_oneof![
        Just(Event::Rearm),
        Just(Event::Focused),
        any::<bool>().prop_map(Event::PagePointer),
        Just(Event::Left),
        point.clone().prop_map(Event::Placed),
        point.clone().prop_map(Event::Pointer),
        (point, any::<bool>()).prop_map(|(p, m)| Event::PointerDown(p, m)),
        any::<bool>().prop_map(Event::KeyDown),
        Just(Event::Click),
        (0..800u64).prop_map(Event::Wait),
    ]
}

/// The rules, restated on the event history rather than the guard's fields.
#[derive(Default)]
struct Model {
    last_arming: u64,
    pointers_since_arming: Vec<Point>,
    pointer_before_arming: Option<Point>,
    /// The press in flight: (began at, began after arming at, by a mouse, repeat, moved then).
    press: Option<(u64, u64, Option<bool>, bool, bool)>,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Whatever the order of events: a click counts only when the button has been armed for
    /// the delay since its last (re)arming, and the press behind it (if any) began after
    /// that arming completed, by a fresh key or by a mouse that had moved since the arming.
    #[test]
    fn a_click_counts_only_for_a_press_begun_while_armed(events in proptest::collection::vec(event(), 0..40)) {
        let mut now = T0;
        let mut g = ConsentGuard::new(ms(now));
        let mut m = Model { last_arming: T0, ..Model::default() };
        let mut placed: Option<Point> = None;
        let mut last_pointer: Option<Point> = None;
        let mut page_pressed = false;
        for e in events {
            match e {
                Event::Wait(d) => now += d,
                Event::PagePointer(down) => {
                    g.handle(ms(now), Seen::PagePointer(down));
                    page_pressed = down;
                }
                Event::Focused | Event::Rearm => {
                    if matches!(e, Event::Focused) {
                        g.handle(ms(now), Seen::Focus);
                        if page_pressed {
                            continue;
                        }
                    } else {
                        g.handle(ms(now), Seen::Visibility);
                        page_pressed = false;
                    }
                    m.last_arming = now;
                    m.pointer_before_arming = last_pointer;
                    m.pointers_since_arming.clear();
                    if let Some(p) = m.press.as_mut() { p.3 = true; p.4 = false; }
                }
                Event::Left => {
                    g.handle(ms(now), Seen::PointerLeft);
                    last_pointer = None;
                    m.pointer_before_arming = None;
                    m.pointers_since_arming.clear();
                }
                Event::Placed(p) => {
                    g.handle(ms(now), Seen::Placed(p));
                    if placed.is_some_and(|q| q != p) {
                        m.last_arming = now;
                        m.pointer_before_arming = last_pointer;
                        m.pointers_since_arming.clear();
                        if let Some(p) = m.press.as_mut() { p.3 = true; p.4 = false; }
                    }
                    placed = Some(p);
                }
                Event::Pointer(p) => {
                    g.handle(ms(now), Seen::Pointer(p));
                    m.pointers_since_arming.push(p);
                    last_pointer = Some(p);
                }
                Event::PointerDown(p, mouse) => {
                    g.handle(ms(now), Seen::PointerDown { at: p, mouse });
                    m.pointers_since_arming.push(p);
                    last_pointer = Some(p);
                    let reference = m.pointer_before_arming.or(m.pointers_since_arming.first().copied());
                    let moved = m.pointers_since_arming.iter().any(|q| Some(*q) != reference);
                    m.press = Some((now, m.last_arming, Some(mouse), false, moved));
                }
                Event::KeyDown(repeat) => {
                    g.handle(ms(now), Seen::KeyDown { repeat });
                    if !repeat || m.press.is_none() {
                        m.press = Some((now, m.last_arming, None, repeat, false));
                    }
                }
                Event::Click => {
                    let armed = now >= m.last_arming + CONSENT_ARM_DELAY_MS;
                    let press = m.press.take();
                    let expected = armed && match press {
                        None => true,
                        Some((_, _, _, true, _)) => false,
                        Some((began, arming, by, false, moved)) => {
                            began >= arming + CONSENT_ARM_DELAY_MS && arming == m.last_arming
                                && match by { Some(true) => moved, _ => true }
                        }
                    };
                    prop_assert_eq!(g.handle(ms(now), Seen::Click), expected);
                }
            }
        }
    }
}
