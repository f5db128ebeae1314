//! The HTTP/1.1 listener under the routes. `axum::serve` installs no timer, so a client that
//! sends half a request (or nothing) held its connection forever; this one is hyper's own
//! connection builder with:
//! - a header-read timeout (also the idle keep-alive limit: hyper starts it whenever it
//!   waits for a request head), so silent and slow-header connections close;
//! - a cap on open client connections, counted until the descriptor is closed, upgraded
//!   WebSockets included, and a share of it per client address (trusted proxies exempt),
//!   so one client can't hold them all. At the cap the relay stops accepting (new clients wait in the
//!   kernel's backlog) and says so once per episode in the log, instead of failing
//!   `accept` with EMFILE for everyone, `/healthz` included;
//! - the peer address in each request (`ConnectInfo`), as `into_make_service_with_connect_info`.
//!
//! Request and body timeouts are tower-http layers in `app()`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::Service;

/// Limits of the listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// Open client connections at most (HTTP and WebSocket).
    pub max_connections: usize,
    /// Time a client has to send a request's headers, and to start its next request on a
    /// kept-alive connection.
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
    header_read_timeout: Duration,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let io = TokioIo::new(Counted { stream, _slot: slot });
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        app.clone().call(req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = stopping.wait_for(|s| *s) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// A client's TCP stream holding its connection slot: the slot is free again only when the
/// descriptor closes, after an upgrade too (the upgraded socket owns this stream).
struct Counted {
    stream: TcpStream,
    _slot: Slot,
}

/// A connection's place under the global cap and under its address's share.
struct Slot {
    _global: OwnedSemaphorePermit,
    _address: Option<AddressHeld>,
}

/// Open connections per address key. O(1) per connect and close under a short lock.
#[derive(Default)]
struct PerAddress(std::sync::Mutex<std::collections::HashMap<String, usize>>);

impl PerAddress {
    /// One more connection for `key`, unless it already holds `max`.
    fn take(self: &Arc<Self>, key: String, max: usize) -> Option<AddressHeld> {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(key.clone()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(AddressHeld { table: self.clone(), key })
    }
}

/// Gives its address's place back when the connection's descriptor closes.
struct AddressHeld {
    table: Arc<PerAddress>,
    key: String,
}

impl Drop for AddressHeld {
    fn drop(&mut self) {
        let mut open = self.table.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
