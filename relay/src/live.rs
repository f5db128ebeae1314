//! Live extension sessions (one WebSocket per binding) and the errands waiting for their
//! answers, in this process; `routing.rs` reaches sockets held by other instances.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::{oneshot, watch, Notify};

use crate::db::Db;
use crate::store;

/// An errand on its way to an extension.
#[derive(Debug, Clone)]
pub struct Errand {
    pub id: String,
    pub kind: String,
    pub params: Value,
}

/// What came back: `Ok(result)` or `Err(error)` as the extension reported it.
pub type ErrandOutcome = Result<Value, Value>;

/// At most this many errands wait for one socket; more are refused (the app retries).
const INBOX_LIMIT: usize = 16;

/// What wakes a socket's session, besides frames from the extension.
#[derive(Debug)]
pub enum Wake {
    /// The relay is shutting down: close with 1001.
    Leave,
    /// A revocation was announced somewhere: is this socket's binding still active?
    Recheck,
    /// An errand to send to the extension.
    Errand(Box<Errand>),
}

/// One socket's inbox: waiting errands, two flags and one `Notify`. An idle session waits
/// on this and on its socket only, about 100 bytes where a tokio channel and two watch
/// receivers with their futures took about 1 KiB (10,000 idle sockets, BENCHMARKS.md).
#[derive(Default)]
pub struct Inbox {
    errands: Mutex<VecDeque<Box<Errand>>>,
    leave: AtomicBool,
    recheck: AtomicBool,
    wake: Notify,
}

impl Inbox {
    fn push(&self, errand: Box<Errand>) -> bool {
        let mut errands = self.errands.lock().unwrap_or_else(|e| e.into_inner());
        if errands.len() >= INBOX_LIMIT {
            return false;
        }
        errands.push_back(errand);
        drop(errands);
        self.wake.notify_one();
        true
    }

    fn raise(&self, flag: &AtomicBool) {
        flag.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// The next thing to act on, leaving first. Cancel-safe: what is taken is returned in
    /// the same poll, and a notification whose waiter is dropped stays stored (`Notify`).
    pub async fn next(&self) -> Wake {
        loop {
            if self.leave.swap(false, Ordering::AcqRel) {
                return Wake::Leave;
            }
            if self.recheck.swap(false, Ordering::AcqRel) {
                return Wake::Recheck;
            }
            if let Some(errand) = self.errands.lock().unwrap_or_else(|e| e.into_inner()).pop_front() {
                return Wake::Errand(errand);
            }
            self.wake.notified().await;
        }
    }
}

#[derive(Default)]
pub struct Live {
    sockets: Mutex<HashMap<String, (u64, Arc<Inbox>)>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<ErrandOutcome>>>,
    next_conn: AtomicU64,
}

impl Live {
    /// Registers the socket of `binding_id` (a newer one replaces an older one); returns
    /// its connection number and its inbox.
    pub fn connect(&self, binding_id: &str) -> (u64, Arc<Inbox>) {
        let inbox = Arc::new(Inbox::default());
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        self.sockets.lock().unwrap_or_else(|e| e.into_inner()).insert(binding_id.to_owned(), (conn, inbox.clone()));
        (conn, inbox)
    }

    /// Forgets the socket, unless a newer one already replaced it.
    pub fn disconnect(&self, binding_id: &str, conn: u64) {
        let mut sockets = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        if sockets.get(binding_id).is_some_and(|(c, _)| *c == conn) {
            sockets.remove(binding_id);
        }
    }

    /// Sockets connected to this instance.
    pub fn count(&self) -> usize {
        self.sockets.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_online(&self, binding_id: &str) -> bool {
        self.sockets.lock().unwrap_or_else(|e| e.into_inner()).contains_key(binding_id)
    }

    /// Hands an errand to the binding's socket and returns the receiver of its answer.
    pub fn send(&self, binding_id: &str, errand: Errand) -> Option<oneshot::Receiver<ErrandOutcome>> {
        let inbox = self.sockets.lock().unwrap_or_else(|e| e.into_inner()).get(binding_id).map(|(_, i)| i.clone())?;
        let (done, rx) = oneshot::channel();
        let id = errand.id.clone();
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), done);
        if !inbox.push(Box::new(errand)) {
            self.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            return None;
        }
        Some(rx)
    }

    /// An `errand_result` arrived. Only the socket the errand went to may answer it.
    pub fn complete(&self, errand_id: &str, outcome: ErrandOutcome) {
        if let Some(done) = self.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(errand_id) {
            let _ = done.send(outcome);
        }
    }

    /// Forgets an errand whose caller gave up.
    pub fn abandon(&self, errand_id: &str) {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(errand_id);
    }

    /// The bindings with a socket here.
    fn binding_ids(&self) -> Vec<String> {
        self.sockets.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect()
    }

    fn raise_all(&self, flag: fn(&Inbox) -> &AtomicBool) {
        for (_, inbox) in self.sockets.lock().unwrap_or_else(|e| e.into_inner()).values() {
            inbox.raise(flag(inbox));
        }
    }

    fn raise_for(&self, binding_ids: &[String], flag: fn(&Inbox) -> &AtomicBool) {
        let sockets = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        for (_, inbox) in binding_ids.iter().filter_map(|id| sockets.get(id)) {
            inbox.raise(flag(inbox));
        }
    }
}

/// Fans the revocation and shutdown signals out to the sockets' inboxes: one waiter in
/// the process instead of two per socket. A revocation asks the database once which of
/// this instance's bindings are revoked and wakes only their sockets (not 10,000 sockets
/// each reading its binding). Bumps during that read coalesce into one more round; a
/// socket registers before its binding is checked (`session.rs`), so none slips between.
/// Ends when the signals' senders are dropped.
pub async fn forward_signals(
    live: Arc<Live>,
    db: Db,
    mut revocations: watch::Receiver<u64>,
    mut stopping: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            changed = revocations.changed() => match changed {
                Ok(()) => match store::revoked_among(&db, &live.binding_ids()).await {
                    Ok(revoked) => live.raise_for(&revoked, |i| &i.recheck),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot tell which sockets lost their binding; all re-check");
                        live.raise_all(|i| &i.recheck);
                    }
                },
                Err(_) => return,
            },
            changed = stopping.changed() => match changed {
                Ok(()) if *stopping.borrow_and_update() => live.raise_all(|i| &i.leave),
                Ok(()) => {}
                Err(_) => return,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errand(id: &str) -> Errand {
        Errand { id: id.into(), kind: "ping".into(), params: Value::Null }
    }

    #[tokio::test]
    async fn a_full_inbox_refuses_and_forgets_the_waiter() {
        let live = Live::default();
        let (_, inbox) = live.connect("bnd_1");
        for i in 0..INBOX_LIMIT {
            assert!(live.send("bnd_1", errand(&format!("e{i}"))).is_some());
        }
        assert!(live.send("bnd_1", errand("over")).is_none());
        assert!(!live.waiting.lock().unwrap().contains_key("over"));
        assert!(matches!(inbox.next().await, Wake::Errand(e) if e.id == "e0"), "errands leave in order");
    }

    #[tokio::test]
    async fn leaving_comes_before_rechecks_and_errands() {
        let live = Live::default();
        let (_, inbox) = live.connect("bnd_1");
        let (_, other) = live.connect("bnd_2");
        let _answer = live.send("bnd_1", errand("e1")).expect("socket is online");
        live.raise_for(&["bnd_1".into(), "bnd_gone".into()], |i| &i.recheck);
        live.raise_all(|i| &i.leave);
        assert!(matches!(inbox.next().await, Wake::Leave));
        assert!(matches!(inbox.next().await, Wake::Recheck));
        assert!(matches!(inbox.next().await, Wake::Errand(e) if e.id == "e1"));
        assert!(matches!(other.next().await, Wake::Leave));
        assert!(!other.recheck.load(Ordering::Acquire), "only the named binding re-checks");
    }

    #[tokio::test]
    async fn a_waiting_session_is_woken_by_an_errand() {
        let live = Arc::new(Live::default());
        let (_, inbox) = live.connect("bnd_1");
        let waiting = tokio::spawn(async move { matches!(inbox.next().await, Wake::Errand(_)) });
        tokio::task::yield_now().await;
        let _answer = live.send("bnd_1", errand("e1")).expect("socket is online");
        assert!(tokio::time::timeout(std::time::Duration::from_secs(2), waiting).await.expect("woken").expect("task"));
    }
}
