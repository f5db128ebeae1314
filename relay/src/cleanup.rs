//! Deleting what can no longer be used (issue 18): expired pairing tokens and challenges,
//! session families past their expiry, spent enrollment nonces, revoked bindings with
//! their sessions and activity, activity past its retention, captures the app did not
//! drain within the inbox's retention, the keys of bindings revoked as idle after the
//! activity retention, and webhook events delivered or given up on. Every
//! instance runs [`run_forever`]; expired rows are kept
//! [`CleanupConfig::expired_retention_ms`] longer for forensics. Before deleting,
//! a pass revokes the bindings left unused for [`CleanupConfig::binding_idle_ms`]
//! (PROTOCOL §11: `revoked` by `idle`).
//!
//! Never deleted: anything still usable — an unexpired token, challenge or session family,
//! a used token or nonce while a lost answer may still be asked for again (the redeem
//! retry window, an assertion's lifetime), a confirmed challenge whose binding's first
//! session is still unused (the browser may repeat its confirm), an active binding, and a
//! revoked binding while any row still refers to it.
//!
//! Deletes run in batches of [`BATCH`] rows, each its own short statement, so no pass holds
//! a lock for long (on SQLite, the hot writes of the group-committing writer queue behind
//! one batch at most). Several instances on one PostgreSQL run passes at the same time
//! safely: each batch picks its rows `FOR UPDATE SKIP LOCKED`, so two passes split the
//! work instead of waiting on (or deadlocking over) each other's rows, and a row already
//! gone is simply not deleted twice.

use std::time::Duration;

use crate::db::{self, Backend, Db, RevokedBy};
use crate::AppState;

/// Rows deleted per statement.
pub const BATCH: i64 = 500;

/// Unexpired rows an insert-order walk steps over before it ends (see `Step::in_insert_order`).
pub const OUT_OF_ORDER_ROWS: i64 = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanupConfig {
    /// Time between passes; 0 turns the cleanup off.
    pub interval_ms: u64,
    /// How long rows stay after they expired (or their binding was revoked).
    pub expired_retention_ms: u64,
    /// A binding neither seen nor made for this long is revoked (0: never).
    pub binding_idle_ms: u64,
    /// An active binding's activity older than this is deleted.
    pub activity_retention_ms: u64,
}

const DAY_MS: u64 = 86_400_000;

impl Default for CleanupConfig {
    fn default() -> Self {
        Self {
            interval_ms: 600_000,
            expired_retention_ms: DAY_MS,
            binding_idle_ms: 90 * DAY_MS,
            activity_retention_ms: 90 * DAY_MS,
        }
    }
}

/// The tables a pass deletes from, in the order it does (the metric's `table` label).
pub const TABLES: [&str; 12] = [
    "idle_bindings",
    "pairing_tokens",
    "challenges",
    "enrollment_nonces",
    "sessions",
    "captures",
    "live_sockets",
    "binding_events",
    "bindings",
    "idle_revocations",
    "webhook_outbox",
    "dpop_proofs",
];

/// Rows one pass removed, per table (in [`TABLES`] order; only those with removals).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Removed(pub Vec<(&'static str, u64)>);

impl Removed {
    pub fn of(&self, table: &str) -> u64 {
        self.0.iter().filter(|(t, _)| *t == table).map(|(_, n)| n).sum()
    }
    pub fn total(&self) -> u64 {
        self.0.iter().map(|(_, n)| n).sum()
    }
    fn add(&mut self, table: &'static str, n: u64) {
        if n == 0 {
            return;
        }
        match self.0.iter_mut().find(|(t, _)| *t == table) {
            Some((_, total)) => *total += n,
            None => self.0.push((table, n)),
        }
    }
}

/// How long a step's rows are kept past their time.
#[derive(Clone, Copy)]
enum Retention {
    /// [`CleanupConfig::expired_retention_ms`] (at least the step's `kept_at_least_ms`).
    Forensics,
    /// Undrained captures: the inbox's retention (they are the app's data, not forensics).
    Inbox,
    /// An active binding's activity: [`CleanupConfig::activity_retention_ms`].
    Activity,
}

/// One step of a pass: rows of `table` (aliased `t`) whose `key` matches `condition`.
/// `$1` is the step's cutoff, `$2` the pass's `now`.
struct Step {
    table: &'static str,
    key: &'static str,
    condition: &'static str,
    /// How long past `now` minus the retention a row must have expired: at least the
    /// window in which it can still answer a retry.
    kept_at_least_ms: u64,
    /// Which retention `$1` is `now` minus.
    retention: Retention,
    /// Rows per statement.
    batch: i64,
    /// On SQLite, found by walking insert order instead of an index on `expires_at`: the
    /// table's rows get `now` + one TTL when inserted, so they arrive in expiry order
    /// (to within seconds: most come through the one writer thread, some through the
    /// pool). The walk ends at the [`OUT_OF_ORDER_ROWS`]-th row still unexpired, so a few
    /// rows that expire later than their successors (a clock that was briefly ahead, a
    /// busy-wait) don't hold the rest back; a whole stretch of them (a TTL that was
    /// shortened, instances on one file with different TTLs) does, until it expired too.
    /// An expiry index cost every mint and redeem one more page per SQLite commit, ~4 %
    /// of one-click pairings (BENCHMARKS.md, "Relay hardening"). PostgreSQL keeps its index.
    in_insert_order: bool,
}

const STEPS: [Step; 12] = [
    // A used token answers a lost redeem's retry until REDEEM_RETRY_MS past its expiry.
    Step {
        table: "pairing_tokens",
        key: "hash",
        condition: "t.expires_at < $1",
        kept_at_least_ms: latch_wire::api::REDEEM_RETRY_MS,
        retention: Retention::Forensics,
        batch: BATCH,
        in_insert_order: true,
    },
    // A confirmed code answers a repeated confirm while its binding's first session is
    // unused and the binding stands ("however late": routes/code_confirmation.rs).
    Step {
        table: "challenges",
        key: "id_hash",
        condition: "t.expires_at < $1 AND NOT EXISTS (
            SELECT 1 FROM sessions s JOIN bindings b ON b.id = s.binding_id
            WHERE s.binding_id = t.binding_id AND s.id = s.family_id AND s.rotated_at IS NULL
              AND s.revoked_at IS NULL AND s.expires_at > $2 AND b.revoked_at IS NULL)",
        kept_at_least_ms: 0,
        retention: Retention::Forensics,
        batch: BATCH,
        in_insert_order: false,
    },
    // A nonce refuses its assertion's replay until the assertion itself has expired.
    Step {
        table: "enrollment_nonces",
        key: "key_id, nonce",
        condition: "t.created_at < $1",
        kept_at_least_ms: crate::enrollment::NONCE_NEEDED_MS,
        retention: Retention::Forensics,
        batch: BATCH,
        in_insert_order: false,
    },
    // A family is dead once its newest session expired; reuse of any of its tokens then
    // answers `refresh_token_invalid`, as for any unknown token. A rotated session past
    // its own expiry goes too, even in a live family: an extension rotates ~100 times a
    // day, and a token that old can neither refresh nor be told from a stranger's.
    Step {
        table: "sessions",
        key: "id",
        condition: "t.expires_at < $1 AND (t.rotated_at IS NOT NULL OR NOT EXISTS (
            SELECT 1 FROM sessions n WHERE n.family_id = t.family_id AND n.expires_at >= $1))",
        kept_at_least_ms: 0,
        retention: Retention::Forensics,
        batch: BATCH,
        in_insert_order: true,
    },
    // Captures the app did not drain within the inbox's retention; up to 640 KiB each,
    // so fewer per statement.
    Step {
        table: "captures",
        key: "id",
        condition: "t.created_at < $1",
        kept_at_least_ms: 0,
        retention: Retention::Inbox,
        batch: 50,
        in_insert_order: false,
    },
    // Activity past its retention, of any binding (an errand a minute is ~130,000 rows
    // in 90 days); the rest of a revoked binding's goes with it below.
    Step {
        table: "binding_events",
        key: "id",
        condition: "t.at < $1",
        kept_at_least_ms: 0,
        retention: Retention::Activity,
        batch: BATCH,
        in_insert_order: false,
    },
    // Revoked bindings: their sessions and socket records first, then the binding once
    // nothing refers to it any more (a capture not yet drained or expired, a challenge
    // still kept, keep it).
    Step {
        table: "sessions",
        key: "id",
        condition: "t.binding_id IN (SELECT id FROM bindings WHERE revoked_at < $1)",
        kept_at_least_ms: 0,
        retention: Retention::Forensics,
        batch: BATCH,
        in_insert_order: false,
    },
    Step {
        table: "live_sockets",
        key: "binding_id",
        condition: "t.binding_id IN (SELECT id FROM bindings WHERE revoked_at < $1)",
        kept_at_least_ms: 0,
        retention: Retention::Forensics,
        batch: BATCH,
        in_insert_order: false,
    },
    // A revoked binding's activity stays readable for the retention, then goes with it.
    Step {
        table: "binding_events",
        key: "id",
        condition: "t.binding_id IN (SELECT id FROM bindings WHERE revoked_at < $1)",
        kept_at_least_ms: 0,
        retention: Retention::Forensics,
        batch: BATCH,
        in_insert_order: false,
    },
    Step {
        table: "bindings",
        key: "id",
        condition: "t.revoked_at < $1
            AND NOT EXISTS (SELECT 1 FROM binding_events e WHERE e.binding_id = t.id)
            AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.binding_id = t.id)
            AND NOT EXISTS (SELECT 1 FROM captures c WHERE c.binding_id = t.id)
            AND NOT EXISTS (SELECT 1 FROM challenges c WHERE c.binding_id = t.id)
            AND NOT EXISTS (SELECT 1 FROM live_sockets l WHERE l.binding_id = t.id)",
        kept_at_least_ms: 0,
        retention: Retention::Forensics,
        batch: BATCH,
        in_insert_order: false,
    },
    // The keys of bindings revoked as idle, once the activity retention is over: their
    // browsers back later hear only that the token is unknown.
    Step {
        table: "idle_revocations",
        key: "jkt",
        condition: "t.revoked_at < $1",
        kept_at_least_ms: 0,
        retention: Retention::Activity,
        batch: BATCH,
        in_insert_order: false,
    },
    // Webhook events delivered or given up on (`latch-relay webhook deliveries` shows them
    // for the retention); a pending one stays until it is one or the other. No index: the
    // outbox holds a retention's worth of the webhook tenants' events, scanned once a pass.
    Step {
        table: "webhook_outbox",
        key: "id",
        condition: "COALESCE(t.delivered_at, t.failed_at) < $1",
        kept_at_least_ms: 0,
        retention: Retention::Forensics,
        batch: BATCH,
        in_insert_order: false,
    },
];

/// Deletes, batch by batch, the rows of `step` whose time is before `cutoff`.
async fn delete_in_batches(db: &Db, step: &Step, cutoff: i64, now: i64) -> sqlx::Result<u64> {
    let lock = match Backend::of(db) {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "", // one writer at a time: nothing to skip
    };
    let (table, key, condition) = (step.table, step.key, step.condition);
    let sql = if step.in_insert_order && Backend::of(db) == Backend::Sqlite {
        // Once per pass: where the walk ends, the (OUT_OF_ORDER_ROWS + 1)-th unexpired row.
        let walk_end: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT rowid FROM {table} WHERE expires_at >= $1 ORDER BY rowid LIMIT 1 OFFSET {OUT_OF_ORDER_ROWS}"
        ))
        .bind(cutoff)
        .fetch_optional(db)
        .await?;
        // An i64 the database gave back, so formatting it into the statement is safe.
        let before = walk_end.unwrap_or(i64::MAX);
        format!(
            "DELETE FROM {table} WHERE rowid IN \
             (SELECT rowid FROM {table} t WHERE t.rowid < {before} AND {condition} ORDER BY rowid LIMIT {})",
            step.batch
        )
    } else {
        format!(
            "DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table} t WHERE {condition} LIMIT {}{lock})",
            step.batch
        )
    };
    let mut removed = 0;
    loop {
        let query = sqlx::query(&sql).bind(cutoff);
        // PostgreSQL refuses a parameter the statement doesn't use.
        let query = if condition.contains("$2") { query.bind(now) } else { query };
        let n = query.execute(db).await?.rows_affected();
        removed += n;
        if n < step.batch as u64 {
            return Ok(removed);
        }
        tokio::task::yield_now().await;
    }
}

/// One pass at time `now` (ms since the epoch; tests pass a clock of their own). Counts
/// what it removed in `latch_cleanup_removed_total{table}` and logs a line when it removed
/// anything.
pub async fn run_once(state: &AppState, now: u64) -> sqlx::Result<Removed> {
    let cfg = &state.cfg.cleanup;
    let mut removed = Removed::default();
    let idle = revoke_idle_bindings(state, now).await?;
    removed.add("idle_bindings", idle);
    state.metrics.cleanup_removed("idle_bindings", idle);
    for step in &STEPS {
        let kept = match step.retention {
            Retention::Forensics => cfg.expired_retention_ms.max(step.kept_at_least_ms),
            Retention::Inbox => state.cfg.inbox.retention_ms,
            Retention::Activity => cfg.activity_retention_ms,
        };
        let cutoff = now.saturating_sub(kept) as i64;
        let n = delete_in_batches(&state.db, step, cutoff, now as i64).await?;
        removed.add(step.table, n);
        state.metrics.cleanup_removed(step.table, n);
    }
    let spent = state.replay.sweep(now).await?;
    removed.add("dpop_proofs", spent);
    state.metrics.cleanup_removed("dpop_proofs", spent);
    if removed.total() > 0 {
        let tables: Vec<String> = removed.0.iter().map(|(t, n)| format!("{t}={n}")).collect();
        tracing::info!(removed = removed.total(), tables = %tables.join(" "), "cleanup removed expired rows");
    }
    Ok(removed)
}

/// Revokes, with `by: idle`, every active binding neither seen nor made within
/// [`CleanupConfig::binding_idle_ms`] (its `revoked` event and the sockets' re-check as
/// for any revocation). How many it revoked.
async fn revoke_idle_bindings(state: &AppState, now: u64) -> sqlx::Result<u64> {
    let idle_ms = state.cfg.cleanup.binding_idle_ms;
    if idle_ms == 0 {
        return Ok(0);
    }
    let cutoff = now.saturating_sub(idle_ms) as i64;
    let mut revoked = 0;
    loop {
        let ids: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT id FROM bindings WHERE revoked_at IS NULL AND COALESCE(last_seen_at, created_at) < $1 LIMIT {BATCH}"
        ))
        .bind(cutoff)
        .fetch_all(&state.db)
        .await?;
        let batch = ids.len();
        for id in ids {
            // Another instance's pass may have revoked it first: then it is not counted here.
            if db::revoke_binding(&state.db, &id, now, RevokedBy::Idle).await? {
                revoked += 1;
                tracing::info!(binding = %id, "binding revoked: idle");
            }
        }
        if batch < BATCH as usize {
            break;
        }
    }
    if revoked > 0 {
        state.binding_revoked().await;
    }
    Ok(revoked)
}

/// Runs a pass at start and then every `interval_ms` until the relay shuts down. A failed
/// pass is logged; the next one tries again.
pub async fn run_forever(state: AppState) {
    let every = state.cfg.cleanup.interval_ms;
    if every == 0 {
        return;
    }
    crate::clock::every(Duration::from_millis(every), &state.shutdown, || async {
        if let Err(e) = run_once(&state, crate::clock::now_ms()).await {
            tracing::warn!(error = %e, "cleanup pass failed; the next one retries");
        }
    })
    .await;
}
