//! Live extension sessions (one WebSocket per binding) and the errands waiting for their
//! answers, in this process; `routing.rs` reaches sockets held by other instances.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

/// An errand on its way to an extension.
#[derive(Debug, Clone)]
pub struct Errand {
    pub id: String,
    pub kind: String,
    pub params: Value,
}

/// What came back: `Ok(result)` or `Err(error)` as the extension reported it.
pub type ErrandOutcome = Result<Value, Value>;

/// Boxed errands: the channel allocates its slots up front, 8 bytes each this way
/// (10,000 idle sockets, BENCHMARKS.md).
type ErrandSender = mpsc::Sender<Box<Errand>>;

#[derive(Default)]
pub struct Live {
    sockets: Mutex<HashMap<String, (u64, ErrandSender)>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<ErrandOutcome>>>,
    next_conn: std::sync::atomic::AtomicU64,
}

impl Live {
    /// Registers the socket of `binding_id` (a newer one replaces an older one); returns
    /// its connection number and the receiving end for errands.
    pub fn connect(&self, binding_id: &str) -> (u64, mpsc::Receiver<Box<Errand>>) {
        let (tx, rx) = mpsc::channel(16);
        let conn = self.next_conn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.sockets.lock().unwrap_or_else(|e| e.into_inner()).insert(binding_id.to_owned(), (conn, tx));
        (conn, rx)
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
        let tx = self.sockets.lock().unwrap_or_else(|e| e.into_inner()).get(binding_id).map(|(_, tx)| tx.clone())?;
        let (done, rx) = oneshot::channel();
        let id = errand.id.clone();
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), done);
        if tx.try_send(Box::new(errand)).is_err() {
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
}
