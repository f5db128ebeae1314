use latch_wire::socket::{PingResult, CLOSE_REFUSED, CLOSE_REPLACED, CLOSE_TOKEN_EXPIRED};
use latch_wire::EpochMs;
use proptest::prelude::*;

use super::*;
use crate::core::backoff::CAP_MS;
use crate::core::session::REPLACED_RECONNECT_MS;

const T0: EpochMs = EpochMs::from_ms(1_800_000_000_000);

fn paired(id: &str) -> Paired {
    Paired { binding_id: id.into(), app_name: format!("App {id}"), needs_repair: false, paused: false }
}

fn opens(actions: &[Action]) -> Vec<(String, Conn)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Open { binding_id, conn } => Some((binding_id.clone(), *conn)),
            _ => None,
        })
        .collect()
}

fn sent(actions: &[Action]) -> Vec<(Conn, ClientFrame)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { conn, frame } => Some((*conn, frame.clone())),
            _ => None,
        })
        .collect()
}

fn wake(actions: &[Action]) -> Option<EpochMs> {
    actions.iter().find_map(|a| match a {
        Action::WakeAt(t) => Some(*t),
        _ => None,
    })
}

/// The wake-up the core asked for comes at `now` (or, with none asked, a stray one).
fn woken(links: &mut Links, now: EpochMs) -> Vec<Action> {
    let at = links.wake_at.unwrap_or(now);
    links.handle(Event::Woken { at, paired: None }, now)
}

fn hello() -> ServerFrame {
    ServerFrame::Hello { protocol: latch_wire::socket::PROTOCOL_VERSION, nonce: Some("n_hello".into()) }
}

fn ack() -> ServerFrame {
    ServerFrame::AuthAck { binding_id: "b1".into(), scopes: vec![], nonce: Some("n_ack".into()) }
}

/// A socket for `b1` through the whole handshake; returns its number.
fn authenticated(links: &mut Links, now: EpochMs) -> Conn {
    let open = opens(&links.handle(Event::Sync(vec![paired("b1")]), now));
    let conn = open[0].1;
    links.handle(Event::Opened { conn }, now);
    links.handle(Event::Frame { conn, frame: hello() }, now);
    let auth = links.handle(Event::AuthToken { conn, token: Some("at_1".into()), proof: String::new() }, now);
    assert_eq!(sent(&auth), [(conn, ClientFrame::Auth { access_token: "at_1".into(), proof: String::new() })]);
    links.handle(Event::Frame { conn, frame: ack() }, now);
    conn
}

#[test]
fn the_handshake_is_hello_hello_auth_then_ack() {
    let mut links = Links::new(1);
    let first = links.handle(Event::Sync(vec![paired("b1")]), T0);
    let [(b, conn)] = &opens(&first)[..] else { panic!("{first:?}") };
    let (b, conn) = (b.clone(), *conn);
    assert_eq!(b, "b1");
    let opened = links.handle(Event::Opened { conn }, T0);
    assert_eq!(opened, [Action::Send { conn, frame: ClientFrame::Hello }, Action::WakeAt(T0 + KEEPALIVE_MS)]);
    assert_eq!(
        links.handle(Event::Frame { conn, frame: hello() }, T0),
        [Action::Authenticate { binding_id: "b1".into(), conn, nonce: Some("n_hello".into()) }]
    );
    // A second hello asks nothing more.
    assert!(links.handle(Event::Frame { conn, frame: hello() }, T0).is_empty());
}

#[test]
fn errands_are_answered_on_their_socket_with_the_apps_name() {
    let mut links = Links::new(1);
    let conn = authenticated(&mut links, T0);
    let ping = ServerFrame::Errand { id: "e1".into(), kind: "ping".into(), params: Default::default() };
    let reply = links.handle(Event::Frame { conn, frame: ping }, T0 + 1);
    let pong = PingResult { pong: true, app_name: "App b1".into() };
    assert_eq!(
        sent(&reply),
        [(conn, ClientFrame::ErrandResult { id: "e1".into(), ok: true, result: Some(pong), error: None })]
    );
    let other = ServerFrame::Errand { id: "e2".into(), kind: "capture".into(), params: Default::default() };
    let reply = links.handle(Event::Frame { conn, frame: other }, T0 + 2);
    let refused = ClientFrame::ErrandResult {
        id: "e2".into(),
        ok: false,
        result: None,
        error: Some("unsupported_errand".into()),
    };
    assert_eq!(sent(&reply), [(conn, refused)]);
}

#[test]
fn a_fresh_token_goes_out_as_reauth_only_on_an_authenticated_socket() {
    let mut links = Links::new(1);
    let open = opens(&links.handle(Event::Sync(vec![paired("b1")]), T0));
    let conn = open[0].1;
    links.handle(Event::Opened { conn }, T0);
    let early = links
        .handle(Event::Refreshed { binding_id: "b1".into(), access_token: "at_2".into(), proof: String::new() }, T0);
    assert!(sent(&early).is_empty(), "not authenticated yet: the handshake sends its own token");
    links.handle(Event::Frame { conn, frame: hello() }, T0);
    links.handle(Event::AuthToken { conn, token: Some("at_1".into()), proof: String::new() }, T0);
    links.handle(Event::Frame { conn, frame: ack() }, T0);
    let later = links.handle(
        Event::Refreshed { binding_id: "b1".into(), access_token: "at_3".into(), proof: String::new() },
        T0 + 5,
    );
    assert_eq!(sent(&later), [(conn, ClientFrame::Auth { access_token: "at_3".into(), proof: String::new() })]);
}

#[test]
fn each_close_leads_to_its_own_next_step() {
    let mut links = Links::new(7);
    let conn = authenticated(&mut links, T0);
    let revoked = links.handle(Event::Closed { conn, code: CLOSE_REFUSED, reason: "binding_revoked".into() }, T0);
    assert_eq!(revoked, [Action::Forget { binding_id: "b1".into() }]);
    assert!(opens(&woken(&mut links, T0 + REPLACED_RECONNECT_MS)).is_empty(), "a revoked binding stays gone");

    // Paused at the relay: marked, and no reconnect on the next wake-up.
    let mut links = Links::new(7);
    let conn = authenticated(&mut links, T0);
    let paused = links.handle(Event::Closed { conn, code: CLOSE_REFUSED, reason: "binding_paused".into() }, T0);
    assert_eq!(paused, [Action::MarkPaused { binding_id: "b1".into() }]);
    assert!(opens(&woken(&mut links, T0 + CAP_MS)).is_empty());

    let mut links = Links::new(7);
    let conn = authenticated(&mut links, T0);
    let replaced = links.handle(Event::Closed { conn, code: CLOSE_REPLACED, reason: "replaced".into() }, T0);
    assert!(replaced.is_empty(), "the keepalive's wake-up is already due earlier: {replaced:?}");
    assert_eq!(wake(&woken(&mut links, T0 + KEEPALIVE_MS)), Some(T0 + REPLACED_RECONNECT_MS));
    assert!(opens(&woken(&mut links, T0 + REPLACED_RECONNECT_MS - 1)).is_empty());
    assert_eq!(opens(&woken(&mut links, T0 + REPLACED_RECONNECT_MS)).len(), 1);

    let mut links = Links::new(7);
    let conn = authenticated(&mut links, T0);
    let expired =
        links.handle(Event::Closed { conn, code: CLOSE_TOKEN_EXPIRED, reason: "access_token_expired".into() }, T0);
    assert_eq!(expired, [Action::RefreshThenReport { binding_id: "b1".into() }]);
    let after = links.handle(Event::RefreshEnded { binding_id: "b1".into(), ok: true }, T0 + 10);
    assert_eq!(opens(&after).len(), 1, "reconnects at once with the fresh token");
}

#[test]
fn a_token_that_cannot_be_had_closes_and_backs_off() {
    let mut links = Links::new(3);
    let conn = opens(&links.handle(Event::Sync(vec![paired("b1")]), T0))[0].1;
    links.handle(Event::Opened { conn }, T0);
    links.handle(Event::Frame { conn, frame: hello() }, T0);
    let out = links.handle(Event::AuthToken { conn, token: None, proof: String::new() }, T0);
    assert_eq!(out[0], Action::Close { conn });
    let at = wake(&out).expect("a reconnect is scheduled");
    assert!((T0 + MIN_RECONNECT_MS..=T0 + 1_000).contains(&at), "{}", at.ms_since(T0));
}

#[test]
fn a_removed_binding_loses_its_socket_and_a_repairing_one_gets_none() {
    let mut links = Links::new(1);
    let conn = authenticated(&mut links, T0);
    assert_eq!(links.handle(Event::Sync(vec![]), T0)[0], Action::Close { conn });
    let repair = Paired { needs_repair: true, ..paired("b1") };
    assert!(opens(&links.handle(Event::Sync(vec![repair]), T0)).is_empty());
    let conn = opens(&links.handle(Event::Sync(vec![paired("b1")]), T0))[0].1;
    assert_eq!(links.handle(Event::Disconnect { binding_id: "b1".into() }, T0), [Action::Close { conn }]);
    assert!(opens(&woken(&mut links, T0 + CAP_MS)).is_empty());
    // A Sync read before storage dropped it does not bring it back; one after, with the
    // binding gone from storage, forgets that it was removed.
    assert!(opens(&links.handle(Event::Sync(vec![paired("b1")]), T0 + 1)).is_empty());
    links.handle(Event::Sync(vec![]), T0 + 2);
    assert_eq!(opens(&links.handle(Event::Sync(vec![paired("b1")]), T0 + 3)).len(), 1);
}

/// Found by the socket property test at 20,000 cases: an `auth_ack` that came while the
/// token was still being found (no `auth` sent) counted as the answer, and the next refresh
/// re-authenticated a socket the relay had never authenticated.
#[test]
fn an_auth_ack_before_any_auth_is_not_an_answer() {
    let mut links = Links::new(1);
    let conn = opens(&links.handle(Event::Sync(vec![paired("b1")]), T0))[0].1;
    links.handle(Event::Opened { conn }, T0);
    links.handle(Event::Frame { conn, frame: hello() }, T0);
    links.handle(Event::Frame { conn, frame: ack() }, T0);
    let refreshed =
        links.handle(Event::Refreshed { binding_id: "b1".into(), access_token: "t2".into(), proof: String::new() }, T0);
    assert!(sent(&refreshed).is_empty(), "{refreshed:?}");
    // The token found afterwards goes out as the socket's one `auth`, and its ack counts.
    let out = links.handle(Event::AuthToken { conn, token: Some("t1".into()), proof: String::new() }, T0);
    assert!(matches!(sent(&out)[..], [(c, ClientFrame::Auth { .. })] if c == conn));
    links.handle(Event::Frame { conn, frame: ack() }, T0);
    let refreshed =
        links.handle(Event::Refreshed { binding_id: "b1".into(), access_token: "t3".into(), proof: String::new() }, T0);
    assert_eq!(sent(&refreshed).len(), 1);
}

#[test]
fn pausing_closes_the_socket_and_stops_reconnecting_until_resumed() {
    let mut links = Links::new(1);
    let conn = authenticated(&mut links, T0);
    let paused = Paired { paused: true, ..paired("b1") };
    assert_eq!(links.handle(Event::Sync(vec![paused.clone()]), T0), [Action::Close { conn }]);
    // Its close arriving later, a wake-up, another read: nothing reopens it.
    assert!(opens(&links.handle(Event::Closed { conn, code: 1000, reason: String::new() }, T0 + 1)).is_empty());
    assert!(opens(&woken(&mut links, T0 + CAP_MS)).is_empty());
    assert!(opens(&links.handle(Event::Sync(vec![paused]), T0 + CAP_MS + 1)).is_empty());
    assert_eq!(links.earliest_deadline(), None, "nothing due while paused");
    // Resumed: a socket at once, no backoff left from before.
    assert_eq!(opens(&links.handle(Event::Sync(vec![paired("b1")]), T0 + CAP_MS + 2)).len(), 1);
}

#[test]
fn a_binding_that_needs_repair_gives_up_its_open_socket() {
    let mut links = Links::new(1);
    let conn = authenticated(&mut links, T0);
    let repair = Paired { needs_repair: true, ..paired("b1") };
    assert_eq!(links.handle(Event::Sync(vec![repair]), T0), [Action::Close { conn }]);
}

#[test]
fn a_revoked_binding_is_not_reopened_by_a_stale_read() {
    let mut links = Links::new(1);
    let conn = authenticated(&mut links, T0);
    links.handle(Event::Closed { conn, code: CLOSE_REFUSED, reason: "binding_revoked".into() }, T0);
    assert!(opens(&links.handle(Event::Sync(vec![paired("b1")]), T0 + 1)).is_empty(), "storage not updated yet");
    let woke = links.handle(Event::Woken { at: T0 + 5, paired: Some(vec![paired("b1")]) }, T0 + 5);
    assert!(opens(&woke).is_empty());
}

#[test]
fn a_storage_read_that_failed_closes_nothing() {
    let mut links = Links::new(1);
    let conn = authenticated(&mut links, T0);
    let at = links.wake_at.expect("the keepalive's wake-up");
    let out = links.handle(Event::Woken { at, paired: None }, at);
    assert!(!out.contains(&Action::Close { conn }), "{out:?}");
    assert_eq!(sent(&out), [(conn, ClientFrame::Ping)]);
}

#[test]
fn an_early_wake_up_asks_again_and_stray_ones_ask_nothing() {
    let mut links = Links::new(1);
    authenticated(&mut links, T0);
    let at = links.wake_at.expect("the keepalive's wake-up");
    // The timer came before the clock reached it (a clock set back, timers' own clock).
    let early = links.handle(Event::Woken { at, paired: None }, at - 10);
    assert_eq!(wake(&early), Some(at), "the chain must not end");
    // A stray timer (one asked for before a newer, earlier one) asks for nothing more.
    let stray = links.handle(Event::Woken { at: at + 999, paired: None }, at - 5);
    assert_eq!(wake(&stray), None);
}

#[test]
fn an_idle_socket_pings_every_twenty_seconds() {
    let mut links = Links::new(1);
    let conn = authenticated(&mut links, T0);
    assert!(sent(&woken(&mut links, T0 + KEEPALIVE_MS - 1)).is_empty());
    let out = woken(&mut links, T0 + KEEPALIVE_MS);
    assert_eq!(sent(&out), [(conn, ClientFrame::Ping)]);
    assert_eq!(wake(&out), Some(T0 + 2 * KEEPALIVE_MS));
}

mod properties;

#[test]
fn each_auth_proves_the_relay_s_latest_nonce() {
    let mut links = Links::new(1);
    assert_eq!(links.nonce_of("b1"), None);
    let conn = authenticated(&mut links, T0);
    assert_eq!(links.nonce_of("b1").as_deref(), Some("n_ack"), "a renewal proves the ack's nonce");
    let renewed = links
        .handle(Event::Refreshed { binding_id: "b1".into(), access_token: "at_2".into(), proof: "p_2".into() }, T0);
    assert_eq!(sent(&renewed), [(conn, ClientFrame::Auth { access_token: "at_2".into(), proof: "p_2".into() })]);
    let next = ServerFrame::AuthAck { binding_id: "b1".into(), scopes: vec![], nonce: Some("n_next".into()) };
    links.handle(Event::Frame { conn, frame: next }, T0);
    assert_eq!(links.nonce_of("b1").as_deref(), Some("n_next"), "and the next renewal the next ack's");
}
