//! Sockets extension sockets (one WebSocket per binding) and the errands waiting for their
//! answers, in this process; `errands.rs` reaches sockets held by other instances. Also the
//! count of sockets still authenticating, per client address.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::{oneshot, watch, Notify};

use crate::db::{self, Db};

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
    /// A newer socket of the same binding took over: close with 4409 `replaced`.
    Replaced,
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
    replaced: AtomicBool,
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
            if self.replaced.swap(false, Ordering::AcqRel) {
                return Wake::Replaced;
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

/// Whether an `errand_result` was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    Accepted,
    /// No errand of that id waits (answered, timed out, or never sent).
    Unknown,
    /// The errand went to another socket: this one may not answer it.
    OtherSocket,
}

/// A socket of this binding that a newer one displaced; see [`Sockets::connect`].
pub struct Displaced {
    conn: u64,
    inbox: Arc<Inbox>,
}

#[derive(Default)]
pub struct Sockets {
    sockets: Mutex<HashMap<String, (u64, Arc<Inbox>)>>,
    /// Errands waiting for an answer: the connection they were sent to and the waiter.
    waiting: Mutex<HashMap<String, (u64, oneshot::Sender<ErrandOutcome>)>>,
    next_conn: AtomicU64,
    /// Sockets that have not finished authenticating, by client address.
    unauthenticated: Mutex<HashMap<String, usize>>,
}

/// One socket still authenticating, counted against its client address until dropped.
pub struct Unauthenticated {
    live: Arc<Sockets>,
    addr: String,
}

impl Drop for Unauthenticated {
    fn drop(&mut self) {
        let mut counts = self.live.unauthenticated.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.addr) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.addr);
            }
        }
    }
}

impl Sockets {
    /// Counts a new socket from `addr` until it authenticates or ends; `None` when `addr`
    /// already has `cap` such sockets (0: no cap).
    pub fn admit_unauthenticated(self: &Arc<Self>, addr: String, cap: usize) -> Option<Unauthenticated> {
        let mut counts = self.unauthenticated.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(addr.clone()).or_insert(0);
        if cap > 0 && *n >= cap {
            return None;
        }
        *n += 1;
        Some(Unauthenticated { live: self.clone(), addr })
    }

    /// Registers the socket of `binding_id`; returns its connection number, its inbox and
    /// the older socket of the binding it displaced, if any. The caller settles that one
    /// once the new socket's binding is checked: [`Self::retire`] when it is good,
    /// [`Self::reinstate`] when it is not.
    pub fn connect(&self, binding_id: &str) -> (u64, Arc<Inbox>, Option<Displaced>) {
        let inbox = Arc::new(Inbox::default());
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let mut sockets = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        let old = sockets.insert(binding_id.to_owned(), (conn, inbox.clone()));
        (conn, inbox, old.map(|(conn, inbox)| Displaced { conn, inbox }))
    }

    /// The newer socket is good: the displaced one closes with `replaced`, and its errands
    /// fail now instead of at their timeout.
    pub fn retire(&self, displaced: Displaced) {
        self.fail_errands_of(displaced.conn);
        displaced.inbox.raise(&displaced.inbox.replaced);
    }

    /// The newer socket was refused: the displaced one is the binding's socket again
    /// (unless yet another took the place meanwhile), and re-checks its binding, since the
    /// refusal may have been a revocation it did not hear while it was out of the map.
    pub fn reinstate(&self, binding_id: &str, displaced: Displaced) {
        let mut sockets = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        sockets.entry(binding_id.to_owned()).or_insert_with(|| (displaced.conn, displaced.inbox.clone()));
        drop(sockets);
        displaced.inbox.raise(&displaced.inbox.recheck);
    }

    /// Another instance now holds a newer socket of `binding_id`: if `conn` is still this
    /// instance's socket of it, it closes with `replaced`.
    pub fn replaced_elsewhere(&self, binding_id: &str, conn: u64) {
        let mut sockets = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, inbox)) = sockets.get(binding_id).filter(|(c, _)| *c == conn) {
            inbox.raise(&inbox.replaced);
            sockets.remove(binding_id);
        }
        drop(sockets);
        self.fail_errands_of(conn);
    }

    /// Forgets the socket, unless a newer one already replaced it; errands sent to it and
    /// not answered fail now.
    pub fn disconnect(&self, binding_id: &str, conn: u64) {
        let mut sockets = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        if sockets.get(binding_id).is_some_and(|(c, _)| *c == conn) {
            sockets.remove(binding_id);
        }
        drop(sockets);
        self.fail_errands_of(conn);
    }

    /// Drops the waiters of errands sent to `conn`: their requests answer "offline" at once.
    fn fail_errands_of(&self, conn: u64) {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, (c, _)| *c != conn);
    }

    /// Sockets connected to this instance.
    pub fn count(&self) -> usize {
        self.sockets.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_online(&self, binding_id: &str) -> bool {
        self.sockets.lock().unwrap_or_else(|e| e.into_inner()).contains_key(binding_id)
    }

    /// Hands an errand to the binding's socket and returns the receiver of its answer,
    /// which only that socket (its connection number) may give.
    pub fn send(&self, binding_id: &str, errand: Errand) -> Option<oneshot::Receiver<ErrandOutcome>> {
        let (done, rx) = oneshot::channel();
        let id = errand.id.clone();
        // The waiter is registered before the socket's lock is let go (lock order: sockets,
        // then waiting): a `disconnect` that removes the socket after this finds the
        // waiter and fails it at once, instead of it waiting out its timeout.
        let sockets = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        let (conn, inbox) = sockets.get(binding_id).cloned()?;
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), (conn, done));
        drop(sockets);
        if !inbox.push(Box::new(errand)) {
            self.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            return None;
        }
        Some(rx)
    }

    /// An `errand_result` arrived on socket `conn`. Only the socket the errand went to may
    /// answer it; an answer from any other socket leaves the errand waiting.
    pub fn complete(&self, conn: u64, errand_id: &str, outcome: ErrandOutcome) -> Completion {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        match waiting.get(errand_id) {
            None => Completion::Unknown,
            Some((to, _)) if *to != conn => Completion::OtherSocket,
            Some(_) => {
                if let Some((_, done)) = waiting.remove(errand_id) {
                    let _ = done.send(outcome);
                }
                Completion::Accepted
            }
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
    live: Arc<Sockets>,
    db: Db,
    mut revocations: watch::Receiver<u64>,
    mut stopping: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            changed = revocations.changed() => match changed {
                Ok(()) => match db::revoked_or_paused_among(&db, &live.binding_ids()).await {
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
        let live = Sockets::default();
        let (_, inbox, _) = live.connect("bnd_1");
        for i in 0..INBOX_LIMIT {
            assert!(live.send("bnd_1", errand(&format!("e{i}"))).is_some());
        }
        assert!(live.send("bnd_1", errand("over")).is_none());
        assert!(!live.waiting.lock().unwrap().contains_key("over"));
        assert!(matches!(inbox.next().await, Wake::Errand(e) if e.id == "e0"), "errands leave in order");
    }

    #[tokio::test]
    async fn leaving_comes_before_rechecks_and_errands() {
        let live = Sockets::default();
        let (_, inbox, _) = live.connect("bnd_1");
        let (_, other, _) = live.connect("bnd_2");
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
        let live = Arc::new(Sockets::default());
        let (_, inbox, _) = live.connect("bnd_1");
        let waiting = tokio::spawn(async move { matches!(inbox.next().await, Wake::Errand(_)) });
        tokio::task::yield_now().await;
        let _answer = live.send("bnd_1", errand("e1")).expect("socket is online");
        assert!(tokio::time::timeout(std::time::Duration::from_secs(2), waiting).await.expect("woken").expect("task"));
    }

    #[tokio::test]
    async fn only_the_socket_an_errand_went_to_answers_it() {
        let live = Sockets::default();
        let (first, _, _) = live.connect("bnd_1");
        let (other, _, _) = live.connect("bnd_2");
        let answer = live.send("bnd_1", errand("e1")).expect("socket is online");
        assert_eq!(live.complete(other, "e1", Ok(Value::from("forged"))), Completion::OtherSocket);
        assert_eq!(live.complete(first, "e1", Ok(Value::from("real"))), Completion::Accepted);
        assert_eq!(answer.await.unwrap(), Ok(Value::from("real")));
        assert_eq!(live.complete(first, "e1", Ok(Value::Null)), Completion::Unknown, "answered once");
    }

    #[tokio::test]
    async fn a_retired_socket_leaves_and_its_errands_fail_at_once() {
        let live = Sockets::default();
        let (_, old_inbox, _) = live.connect("bnd_1");
        let answer = live.send("bnd_1", errand("e1")).expect("socket is online");
        let (_, _, displaced) = live.connect("bnd_1");
        live.retire(displaced.expect("the older socket"));
        assert!(answer.await.is_err(), "the waiter is dropped");
        assert!(matches!(old_inbox.next().await, Wake::Replaced));
    }

    #[test]
    fn unauthenticated_sockets_are_capped_per_address_until_dropped() {
        let live = Arc::new(Sockets::default());
        let held: Vec<_> = (0..3).map(|_| live.admit_unauthenticated("203.0.113.9".into(), 3).unwrap()).collect();
        assert!(live.admit_unauthenticated("203.0.113.9".into(), 3).is_none());
        assert!(live.admit_unauthenticated("198.51.100.7".into(), 3).is_some(), "another address");
        drop(held);
        assert!(live.admit_unauthenticated("203.0.113.9".into(), 3).is_some());
        assert!(live.unauthenticated.lock().unwrap().is_empty(), "counts are forgotten at zero");
    }
}
