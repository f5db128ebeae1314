//! Request ids for requests that arrive without one: a random per-process prefix and a
//! counter. Unique across instances and restarts like a UUID, but without a random draw
//! (a `getrandom` system call) on every request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::http::{HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};

#[derive(Clone)]
pub struct SequentialRequestId {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
}

impl Default for SequentialRequestId {
    fn default() -> Self {
        Self { prefix: crate::secrets::new_id("").into(), next: Arc::default() }
    }
}

impl MakeRequestId for SequentialRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.prefix)).ok().map(RequestId::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_within_and_across_processes() {
        let req = Request::new(());
        let mut a = SequentialRequestId::default();
        let mut b = SequentialRequestId::default();
        let id = |m: &mut SequentialRequestId| m.make_request_id(&req).unwrap().header_value().clone();
        let (a1, a2, b1) = (id(&mut a), id(&mut a), id(&mut b));
        assert_ne!(a1, a2);
        assert_ne!(a1, b1, "each process draws its own prefix");
        assert_eq!(a1.len(), 18, "16 hex digits, a dash, the counter: {a1:?}");
    }
}
