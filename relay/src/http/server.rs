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
//! The request timeout (its body included) is `routes/edge.rs`'s `ApiShape`, in `app()`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::Service;

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

/// What a connection's requests are doing, for its idle watchdog: how many began and how
/// many finished (answered; a large answer once hyper took its last piece).
#[derive(Default)]
struct Activity {
    begun: AtomicU64,
    finished: AtomicU64,
}

impl Activity {
    fn begin(self: &Arc<Self>) -> Busy {
        self.begun.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }

    /// Resolves once a whole `period` passed in which no request began or finished and
    /// none was in flight. The first period starts now: a client that sends nothing is
    /// closed after one.
    async fn idle(&self, period: Duration) {
        let mut seen = (0, 0);
        loop {
            tokio::time::sleep(period).await;
            let now = (self.begun.load(Ordering::Relaxed), self.finished.load(Ordering::Relaxed));
            if now == seen && now.0 == now.1 {
                return;
            }
            seen = now;
        }
    }
}

/// A request in flight; finished when dropped (answered, abandoned, or the last piece of
/// its large answer taken).
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::Relaxed);
    }
}

/// Answers up to this size count as finished once handed to hyper: the kernel's socket
/// buffer takes them at once.
const SMALL_ANSWER_BYTES: u64 = 16 * 1024;

/// A larger answer is handed to hyper in pieces of this size. hyper asks for the next
/// piece only once its write buffer (~400 KiB) has room, so the answer stays in flight
/// until all but its last ~half MiB went out; a client must take that last part within
/// one idle period (10 s by default: ≥ ~50 KB/s) or the connection closes, as a
/// WebSocket's does after a blocked send.
const ANSWER_PIECE_BYTES: usize = 64 * 1024;

impl Busy {
    fn until_written(self, res: axum::response::Response) -> axum::response::Response {
        if http_body::Body::size_hint(res.body()).exact().is_some_and(|n| n <= SMALL_ANSWER_BYTES) {
            return res;
        }
        res.map(|body| axum::body::Body::new(BusyBody { body, rest: Bytes::new(), _busy: self }))
    }
}

/// A response body handed out in pieces that keeps its request in flight until dropped
/// (hyper drops a body as soon as it took the last piece).
struct BusyBody {
    body: axum::body::Body,
    /// What is left of a data frame larger than a piece.
    rest: Bytes,
    _busy: Busy,
}

impl http_body::Body for BusyBody {
    type Data = Bytes;
    type Error = axum::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        if self.rest.is_empty() {
            match std::task::ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => self.rest = data,
                    Err(other) => return Poll::Ready(Some(Ok(other))),
                },
                done => return Poll::Ready(done),
            }
        }
        let n = self.rest.len().min(ANSWER_PIECE_BYTES);
        Poll::Ready(Some(Ok(http_body::Frame::data(self.rest.split_to(n)))))
    }
    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.body.is_end_stream()
    }
    fn size_hint(&self) -> http_body::SizeHint {
        let inner = self.body.size_hint();
        let rest = self.rest.len() as u64;
        match inner.exact() {
            Some(n) => http_body::SizeHint::with_exact(n + rest),
            None => {
                let mut hint = http_body::SizeHint::new();
                hint.set_lower(inner.lower() + rest);
                if let Some(upper) = inner.upper() {
                    hint.set_upper(upper + rest);
                }
                hint
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::response::Response;

    fn finished(a: &Activity) -> u64 {
        a.finished.load(Ordering::Relaxed)
    }

    #[tokio::test]
    async fn a_large_answer_goes_out_in_pieces_and_stays_in_flight_until_the_last() {
        use http_body_util::BodyExt;
        let activity = Arc::new(Activity::default());
        let small = activity.begin().until_written(Response::new(Body::from(vec![b'x'; 100])));
        assert_eq!(finished(&activity), 1, "a small answer is finished once handed over");
        let large = activity.begin().until_written(Response::new(Body::from(vec![b'x'; 100_000])));
        let mut body = large.into_body();
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some(100_000), "its length is kept");
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first.len(), ANSWER_PIECE_BYTES);
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some(100_000 - ANSWER_PIECE_BYTES as u64));
        assert!(!http_body::Body::is_end_stream(&body));
        assert_eq!(finished(&activity), 1, "still being written");
        let last = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first.len() + last.len(), 100_000);
        assert!(http_body::Body::is_end_stream(&body));
        assert!(body.frame().await.is_none());
        drop(body);
        assert_eq!(finished(&activity), 2, "finished once hyper drops the body");
        let streamed = activity.begin().until_written(Response::new(Body::from_stream(futures_util::stream::empty::<
            Result<Bytes, std::io::Error>,
        >())));
        assert_eq!(finished(&activity), 2, "an answer of unknown length is in flight until its body is gone");
        drop(streamed);
        assert_eq!((activity.begun.load(Ordering::Relaxed), finished(&activity)), (3, 3));
        drop(small);
    }

    #[tokio::test]
    async fn the_watchdog_waits_out_a_request_in_flight_then_one_whole_idle_period() {
        let period = Duration::from_millis(100);
        let activity = Arc::new(Activity::default());
        let busy = activity.begin();
        let idle = tokio::spawn({
            let activity = activity.clone();
            async move { activity.idle(period).await }
        });
        tokio::time::sleep(period * 4).await;
        assert!(!idle.is_finished(), "closed with a request in flight");
        let done = tokio::time::Instant::now();
        drop(busy);
        tokio::time::timeout(period * 4, idle).await.expect("closed once idle").unwrap();
        assert!(done.elapsed() >= period, "closed {:?} after the request finished", done.elapsed());
    }

    #[tokio::test]
    async fn a_connection_that_never_sends_a_request_is_idle_after_one_period() {
        let period = Duration::from_millis(100);
        let started = tokio::time::Instant::now();
        Activity::default().idle(period).await;
        assert!(started.elapsed() < period * 2, "{:?}", started.elapsed());
    }
}
