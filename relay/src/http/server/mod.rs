//! The HTTP/1.1 listener under the routes. `axum::serve` installs no timer, so a client that
//! sends half a request (or nothing) held its connection forever; this one is hyper's own
//! connection builder with:
//! - an idle watchdog per connection (the header-read timeout): a connection with no
//!   request begun or finished, and none in flight, for a whole period closes, so
//!   silent, slow-header and idle keep-alive connections end between one and two periods
//!   after their last sign of life, and so does one whose client stops reading answers.
//!   Not hyper's `header_read_timeout`: that arms and cancels a timer in tokio's wheel for
//!   every request head, ~2,000 instructions per `GET /api/me` (callgrind: BENCHMARKS.md,
//!   "Relay hardening"); the watchdog costs a few atomic counts per request and one timer
//!   per period;
//! - a cap on open client connections, counted until the descriptor is closed, upgraded
//!   WebSockets included, and a share of it per client address (trusted proxies exempt),
//!   so one client can't hold them all. At the cap the relay stops accepting (new clients wait in the
//!   kernel's backlog) and says so once per episode in the log, instead of failing
//!   `accept` with EMFILE for everyone, `/healthz` included;
//! - the peer address in each request (`ConnectInfo`), as `into_make_service_with_connect_info`.
//!
//! The request timeout (its body included) is `http/edge.rs`'s `ApiShape`, in `app()`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::Service;

mod activity;
mod slots;

use activity::Activity;
use slots::{Counted, PerAddress, Slot};

/// Limits of the listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// Open client connections at most (HTTP and WebSocket).
    pub max_connections: usize,
    /// The idle watchdog's period: a connection that neither begins nor finishes a
    /// request for a whole period, with none in flight, closes (a client that sends
    /// nothing, half a request head, or nothing more on a kept-alive connection).
    pub header_read_timeout: Duration,
    /// Open connections per client address (an IPv4 address or an IPv6 /64), so one client
    /// can't take the whole cap; trusted proxies are exempt (all their clients share their
    /// address). 0: no per-address cap.
    pub per_address: usize,
    /// Proxies exempt from `per_address`.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// Descriptors kept free beside client connections: the database pool, the PostgreSQL
/// listener, the SQLite files, the metrics listener, logs.
pub const RESERVED_DESCRIPTORS: usize = 256;

impl ServerLimits {
    /// `max_connections` 0 means: as many as the process's descriptor limit allows after
    /// [`RESERVED_DESCRIPTORS`]. A configured cap above that is lowered to it (and logged).
    pub fn fitted(
        max_connections: usize,
        header_read_timeout: Duration,
        per_address: usize,
        trusted_proxies: Vec<std::net::IpAddr>,
    ) -> Self {
        let room = descriptor_limit().map(|n| n.saturating_sub(RESERVED_DESCRIPTORS).max(16));
        let max_connections = match (max_connections, room) {
            (0, Some(room)) => room,
            (0, None) => 10_000,
            (want, Some(room)) if want > room => {
                tracing::warn!(
                    wanted = want,
                    allowed = room,
                    "--max-connections is above what the descriptor limit allows; lowered (raise `ulimit -n`)"
                );
                room
            }
            (want, _) => want,
        };
        // One address never takes more than a quarter of the cap, whatever was configured.
        let per_address = if per_address == 0 { 0 } else { per_address.min((max_connections / 4).max(1)) };
        Self { max_connections, header_read_timeout, per_address, trusted_proxies }
    }
}

/// The soft limit on open descriptors (`RLIMIT_NOFILE`), if finite.
fn descriptor_limit() -> Option<usize> {
    let (soft, _hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).ok()?;
    (soft != rlimit::INFINITY).then(|| usize::try_from(soft).unwrap_or(usize::MAX))
}

/// Serves `app` on `listener` until `stop` resolves; then stops accepting, asks every open
/// connection to finish its request in flight and close, and returns once all are closed
/// (WebSockets end on the relay's own shutdown signal). The caller bounds the wait.
pub async fn serve(listener: TcpListener, app: Router, limits: ServerLimits, stop: impl Future<Output = ()>) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let at_cap_logged = Arc::new(AtomicBool::new(false));
    let per_address = Arc::new(PerAddress::default());
    let accept = async {
        loop {
            let slot = match slots.clone().try_acquire_owned() {
                Ok(slot) => slot,
                Err(_) => {
                    if !at_cap_logged.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            max_connections = limits.max_connections,
                            "connection cap reached: new connections wait until one closes (--max-connections)"
                        );
                    }
                    slots.clone().acquire_owned().await.expect("the semaphore is never closed")
                }
            };
            if slots.available_permits() > limits.max_connections / 10 {
                at_cap_logged.store(false, Ordering::Relaxed);
            }
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // EMFILE/ENFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let exempt = limits.per_address == 0 || limits.trusted_proxies.contains(&peer.ip().to_canonical());
            let address = if exempt {
                None
            } else {
                match per_address.take(crate::limits::address_key(peer.ip()), limits.per_address) {
                    Some(held) => Some(held),
                    None => {
                        // Over its share: closed at once, before a byte is read.
                        tracing::debug!("connection refused: too many from one address");
                        continue;
                    }
                }
            };
            let _ = stream.set_nodelay(true);
            let slot = Slot { _global: slot, _address: address };
            tokio::spawn(connection(stream, peer, slot, app.clone(), limits.header_read_timeout, stopping.clone()));
        }
    };
    tokio::select! {
        () = accept => {}
        () = stop => {}
    }
    drop(listener);
    stopping_tx.send_replace(true);
    // Every slot back means every connection (and upgraded socket) closed.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    slot: Slot,
    app: Router,
    idle_period: Duration,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let io = TokioIo::new(Counted { stream, _slot: slot });
    let activity = Arc::new(Activity::default());
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let busy = activity.begin();
            let answer = app.clone().call(req);
            async move { Ok::<_, Infallible>(busy.until_written(answer.await?)) }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, service).with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        biased;
        // Also ends when the connection becomes a WebSocket: the upgraded socket owns the
        // stream from then on, with limits of its own (routes/session.rs).
        _ = conn.as_mut() => return,
        () = activity.idle(idle_period) => {
            tracing::debug!("connection closed: idle, or too slow to send a request");
            return;
        }
        _ = stopping.wait_for(|s| *s) => {}
    }
    conn.as_mut().graceful_shutdown();
    // hyper closes an idle connection at once, but one holding half a request head waits
    // for the rest: the watchdog still bounds it, so a shutdown never waits on a
    // slow-header client.
    tokio::select! {
        _ = conn.as_mut() => {}
        () = activity.idle(idle_period) => {}
    }
}
