//! A connection's requests as its idle watchdog sees them: how many began and finished,
//! with a large answer in flight until hyper took its last piece.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;

/// What a connection's requests are doing, for its idle watchdog: how many began and how
/// many finished (answered; a large answer once hyper took its last piece).
#[derive(Default)]
pub(super) struct Activity {
    begun: AtomicU64,
    finished: AtomicU64,
}

impl Activity {
    pub(super) fn begin(self: &Arc<Self>) -> Busy {
        self.begun.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }

    /// Resolves once a whole `period` passed in which no request began or finished and
    /// none was in flight. The first period starts now: a client that sends nothing is
    /// closed after one.
    pub(super) async fn idle(&self, period: Duration) {
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
pub(super) struct Busy(Arc<Activity>);

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
    pub(super) fn until_written(self, res: axum::response::Response) -> axum::response::Response {
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
