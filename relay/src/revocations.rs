//! Tells live sessions (WebSockets) that some binding may have been revoked, so they
//! re-check theirs at once. Like `wake.rs`, commits by other processes (the CLI) are
//! noticed through the database watcher.

use tokio::sync::watch;

#[derive(Clone)]
pub struct Revocations(watch::Sender<u64>);

impl Default for Revocations {
    fn default() -> Self {
        Self(watch::channel(0).0)
    }
}

impl Revocations {
    pub fn notify(&self) {
        self.0.send_modify(|v| *v = v.wrapping_add(1));
    }

    pub fn has_listeners(&self) -> bool {
        self.0.receiver_count() > 0
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}
