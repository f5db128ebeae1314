//! The realtime room: extension sockets held by this process (`sockets`), errands routed
//! to sockets on other instances (`errands`), and wake-ups when another process or
//! instance changed something (`wake`). It depends on the storage room and nothing above
//! it; the HTTP room drives it through [`Realtime`].

use std::sync::Arc;

use tokio::sync::watch;

use crate::clock;
use crate::db::{self, Backend, Db, Topic};

pub mod errands;
pub mod sockets;
pub mod wake;

pub use errands::Target;
pub use sockets::{Errand, ErrandOutcome, Sockets};
pub use wake::Signal;

pub struct Realtime {
    pub db: Db,
    /// Live extension sockets and errands waiting for answers.
    pub sockets: Arc<Sockets>,
    /// Errands across instances (PostgreSQL).
    pub errands: errands::Errands,
    /// Wakes long-polls when challenges may have changed.
    pub changes: Signal,
    /// Wakes live sessions when a binding may have been revoked.
    pub revocations: Signal,
}

impl Realtime {
    /// Starts fanning revocations and shutdown out to the sockets (until `shutdown`'s
    /// sender is dropped).
    pub fn new(db: Db, shutdown: &watch::Sender<bool>) -> Arc<Self> {
        let sockets = Arc::new(Sockets::default());
        let revocations = Signal::default();
        tokio::spawn(sockets::forward_signals(
            sockets.clone(),
            db.clone(),
            revocations.subscribe(),
            shutdown.subscribe(),
        ));
        Arc::new(Self {
            errands: errands::Errands::new(Backend::of(&db)),
            db,
            sockets,
            changes: Signal::default(),
            revocations,
        })
    }

    /// A challenge was approved or denied: wake long-polls here and on other instances.
    pub async fn challenges_changed(&self) {
        self.changes.bump();
        db::publish(&self.db, Topic::Challenges).await;
    }

    /// A binding was revoked: live sockets here and on other instances re-check theirs.
    pub async fn binding_revoked(&self) {
        self.revocations.bump();
        db::publish(&self.db, Topic::Revocations).await;
    }

    /// What a serving relay runs beside its routes: hearing about changes made by other
    /// instances and processes on the same database and (PostgreSQL) the heartbeat that
    /// tells other instances this one still holds its sockets.
    pub fn spawn_background(self: &Arc<Self>) {
        tokio::spawn(wake::watch_other_writers(self.clone()));
        if self.errands.enabled() {
            let rt = self.clone();
            tokio::spawn(async move {
                loop {
                    let now = clock::now_ms();
                    let beat = errands::heartbeat(&rt.db, &rt.errands.instance_id, now).await;
                    if let Err(e) = beat.and(errands::sweep(&rt.db, now).await) {
                        tracing::warn!(error = %e, "instance heartbeat failed");
                    }
                    tokio::time::sleep(errands::HEARTBEAT_EVERY).await;
                }
            });
        }
    }
}
