//! What one worker does in a loop: a bare hello, a whole one-click pairing (mint +
//! describe + redeem, each with a fresh token), a refresh (rotating its own token), or
//! `/api/me`. Closed loop (next op as soon as one ends) or paced (ops scheduled at a fixed
//! rate; latency counted from the scheduled time, so falling behind shows).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use crate::dpop::Prover;
use crate::http::{Answer, Conn};
use crate::stats::Samples;

#[derive(Clone)]
pub enum Op {
    Hello,
    Pairing {
        api_key: Arc<str>,
    },
    Refresh,
    Me {
        access_token: Arc<str>,
    },
    /// The key-bound phases' ceiling: one proof signed here, verified there.
    Verify,
    /// A key-bound binding's refresh; each worker's own binding and key.
    RefreshBound,
    /// A key-bound token's `/api/me`, a fresh proof each time.
    MeBound {
        access_token: Arc<str>,
        prover: Arc<Prover>,
    },
}

#[derive(Default)]
pub struct Recorded {
    /// Whole operations (a pairing is three requests).
    pub ops: Samples,
    /// Redeem requests alone.
    pub redeems: Samples,
}

impl Recorded {
    pub fn merge(&mut self, other: Recorded) {
        self.ops.merge(other.ops);
        self.redeems.merge(other.redeems);
    }
}

/// Distinct user ids across all workers.
static NEXT_USER: AtomicU64 = AtomicU64::new(0);

fn expect(a: &Answer, status: StatusCode) -> Option<Value> {
    (a.status == status).then(|| serde_json::from_slice(&a.body).unwrap_or(Value::Null))
}

/// One pairing bound to `prover`'s key; the grant.
pub async fn pair_bound(conn: &mut Conn, api_key: &str, prover: &Prover) -> Option<Value> {
    let user = NEXT_USER.fetch_add(1, Ordering::Relaxed);
    let body = json!({"userId": format!("user-{user}")}).to_string();
    let minted = conn.call(Method::POST, "/pairing-tokens", Some(api_key), Some(body)).await.ok()?;
    let token = expect(&minted, StatusCode::CREATED)?["pairingToken"].as_str()?.to_owned();
    let body = json!({"pairingToken": token, "deviceName": "Bench"}).to_string();
    let proof = prover.proof("POST", &conn.url("/pairing-tokens/redeem"), None);
    let redeemed = conn.call_with(Method::POST, "/pairing-tokens/redeem", None, Some(&proof), Some(body)).await.ok()?;
    let grant = expect(&redeemed, StatusCode::OK)?;
    (grant["tokenType"] == "DPoP").then_some(grant)
}

/// One pairing; `Some((grant, redeem µs))` or `None` on any unexpected answer.
pub async fn pair(conn: &mut Conn, api_key: &str) -> Option<(Value, u32)> {
    let user = NEXT_USER.fetch_add(1, Ordering::Relaxed);
    let body = json!({"userId": format!("user-{user}")}).to_string();
    let minted = conn.call(Method::POST, "/pairing-tokens", Some(api_key), Some(body)).await.ok()?;
    let token = expect(&minted, StatusCode::CREATED)?["pairingToken"].as_str()?.to_owned();
    let body = json!({"pairingToken": token}).to_string();
    let described = conn.call(Method::POST, "/pairing-tokens/describe", None, Some(body)).await.ok()?;
    expect(&described, StatusCode::OK)?;
    let body = json!({"pairingToken": token, "deviceName": "Bench"}).to_string();
    let redeemed = conn.call(Method::POST, "/pairing-tokens/redeem", None, Some(body)).await.ok()?;
    Some((expect(&redeemed, StatusCode::OK)?, redeemed.micros))
}

pub struct Schedule {
    /// Samples from ops that start before this are warm-up, not recorded.
    pub record_from: Instant,
    pub until: Instant,
    /// Paced: this worker's first slot and the time between its slots.
    pub pace: Option<(Instant, Duration)>,
}

/// `refresh_token`: the worker's own, with the key it is bound to for `RefreshBound`.
pub async fn run(
    addr: String,
    op: Op,
    mut refresh_token: Option<String>,
    own_key: Option<Arc<Prover>>,
    s: Schedule,
) -> Recorded {
    let mut out = Recorded::default();
    let Ok(mut conn) = Conn::open(&addr).await else {
        out.ops.errors += 1;
        return out;
    };
    let mut slot = s.pace.map(|(first, _)| first);
    loop {
        let started = match (slot, s.pace) {
            (Some(at), Some((_, every))) => {
                tokio::time::sleep_until(at.into()).await;
                slot = Some(at + every);
                at
            }
            _ => Instant::now(),
        };
        if started >= s.until {
            break;
        }
        let redeem = match &op {
            Op::Hello => {
                let ok = conn.call(Method::GET, "/hello", None, None).await.is_ok_and(|a| a.status == StatusCode::OK);
                ok.then_some(None)
            }
            Op::Pairing { api_key } => pair(&mut conn, api_key).await.map(|(_, micros)| Some(micros)),
            Op::Me { access_token } => {
                let a = conn.call(Method::GET, "/api/me", Some(access_token), None).await;
                a.is_ok_and(|a| a.status == StatusCode::OK).then_some(None)
            }
            Op::Verify => {
                let proof = own_key.as_ref().expect("a key").proof("GET", &conn.url("/verify"), None);
                let a = conn.call_with(Method::GET, "/verify", None, Some(&proof), None).await;
                a.is_ok_and(|a| a.status == StatusCode::OK).then_some(None)
            }
            Op::MeBound { access_token, prover } => {
                let proof = prover.proof("GET", &conn.url("/api/me"), Some(access_token));
                let auth = format!("DPoP {access_token}");
                let a = conn.call_with(Method::GET, "/api/me", Some(&auth), Some(&proof), None).await;
                a.is_ok_and(|a| a.status == StatusCode::OK).then_some(None)
            }
            Op::Refresh | Op::RefreshBound => {
                let body = json!({"refreshToken": refresh_token}).to_string();
                let proof = match (&op, &own_key) {
                    (Op::RefreshBound, Some(key)) => Some(key.proof("POST", &conn.url("/api/auth/refresh"), None)),
                    _ => None,
                };
                let a = conn.call_with(Method::POST, "/api/auth/refresh", None, proof.as_deref(), Some(body)).await;
                let next = a
                    .ok()
                    .and_then(|a| expect(&a, StatusCode::OK))
                    .and_then(|v| Some(v["refreshToken"].as_str()?.to_owned()));
                next.map(|t| {
                    refresh_token = Some(t);
                    None
                })
            }
        };
        let recording = started >= s.record_from;
        match redeem {
            Some(redeem) if recording => {
                out.ops.micros.push(started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                out.redeems.micros.extend(redeem);
            }
            Some(_) => {}
            None if recording => out.ops.errors += 1,
            None => {}
        }
    }
    out
}
