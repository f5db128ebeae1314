//! `jti` single use (RFC 9449 §11.1): a proof's id is remembered until the proof would be
//! refused as stale anyway. One relay on SQLite remembers in memory; instances sharing
//! PostgreSQL remember in an UNLOGGED table, so a proof spent on one instance is spent on
//! all of them, and the insert waits for no WAL flush.
//!
//! A relay that restarts forgets what it remembered in memory, so the memory store also
//! refuses any proof made before it started (the client is told to use a nonce, which it
//! gets fresh). An UNLOGGED table is emptied by a PostgreSQL crash: proofs seen before the
//! crash could be replayed while still fresh, within [`super::proof::MAX_AGE_SECS`] or a
//! nonce's lifetime (SECURITY.md).

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::proof::{Checked, Refusal};
use crate::db::{Backend, Db};

pub enum Replay {
    Memory { started_ms: u64, seen: Mutex<Seen> },
    Shared(Db),
}

/// Ids in memory, with their expiry for the sweep.
#[derive(Default)]
pub struct Seen {
    ids: HashSet<[u8; 32]>,
    by_expiry: BTreeMap<u64, Vec<[u8; 32]>>,
}

impl Seen {
    /// False when `id` was already there.
    fn insert(&mut self, id: [u8; 32], until_ms: u64, now_ms: u64) -> bool {
        // Sweep whatever expired, oldest first: each id is swept once.
        while let Some(entry) = self.by_expiry.first_entry() {
            if *entry.key() >= now_ms {
                break;
            }
            for gone in entry.remove() {
                self.ids.remove(&gone);
            }
        }
        if !self.ids.insert(id) {
            return false;
        }
        self.by_expiry.entry(until_ms).or_default().push(id);
        true
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.ids.len()
    }
}

/// The id a proof is remembered by: its key and `jti` (a `jti` is unique per key), hashed
/// to a fixed size.
fn id_of(proof: &Checked) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(proof.jkt.as_bytes());
    h.update([0]);
    h.update(proof.jti.as_bytes());
    h.finalize().into()
}

const REMEMBER: &str = "INSERT INTO dpop_proofs (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING";

impl Replay {
    pub fn for_db(db: &Db, now_ms: u64) -> Self {
        match Backend::of(db) {
            Backend::Sqlite => Self::Memory { started_ms: now_ms, seen: Mutex::default() },
            Backend::Postgres => Self::Shared(db.clone()),
        }
    }

    /// Spends the proof's `jti`: refused when it was spent before.
    pub async fn spend(&self, proof: &Checked, now_ms: u64) -> Result<Result<(), Refusal>, sqlx::Error> {
        let replayed = Refusal::Invalid("this proof was already used");
        match self {
            Self::Memory { started_ms, seen } => {
                if proof.made_at_ms < started_ms - started_ms % 1000 {
                    return Ok(Err(Refusal::UseNonce)); // made before a restart forgot it
                }
                let mut seen = seen.lock().expect("the seen set is never left half-written");
                Ok(if seen.insert(id_of(proof), proof.replayable_until_ms, now_ms) { Ok(()) } else { Err(replayed) })
            }
            Self::Shared(db) => {
                let done = sqlx::query(REMEMBER)
                    .bind(id_of(proof).to_vec())
                    .bind(proof.replayable_until_ms as i64)
                    .execute(db)
                    .await?;
                Ok(if done.rows_affected() == 1 { Ok(()) } else { Err(replayed) })
            }
        }
    }

    /// Forgets ids whose proofs are stale anyway (the shared table; memory sweeps itself).
    pub async fn sweep(&self, now_ms: u64) -> sqlx::Result<u64> {
        match self {
            Self::Memory { .. } => Ok(0),
            Self::Shared(db) => Ok(sqlx::query("DELETE FROM dpop_proofs WHERE expires_at < $1")
                .bind(now_ms as i64)
                .execute(db)
                .await?
                .rows_affected()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_refused_until_it_expires_and_swept_after() {
        let mut seen = Seen::default();
        assert!(seen.insert([1; 32], 2_000, 1_000));
        assert!(!seen.insert([1; 32], 2_000, 1_500), "replayed while fresh");
        assert!(seen.insert([2; 32], 9_000, 1_500));
        assert!(seen.insert([3; 32], 9_000, 2_001), "a third id sweeps the first");
        assert_eq!(seen.len(), 2);
        assert!(seen.insert([1; 32], 3_000, 2_001), "a stale proof's id may come again: the proof is refused as stale");
    }
}
