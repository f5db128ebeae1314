//! Errands across relay instances (PostgreSQL). An extension's socket lives on one
//! instance; the app's `POST /api/errands` may land on any. Every instance records the
//! sockets it holds (`live_sockets`) and a heartbeat (`instances`); the receiving instance
//! writes the errand to the `errands` table and `NOTIFY`s the holder, which hands it to the
//! socket, writes the outcome once and `NOTIFY`s back. The holder takes the answer only
//! from the socket it sent the errand to (`sockets.rs`), so routing keeps that rule. A binding
//! has one socket across instances: the instance recording a newer one `NOTIFY`s the
//! holder of the older, which closes it. On SQLite (one relay) all of this is off and
//! errands only go to local sockets.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::sockets::{Errand, ErrandOutcome};
use super::Realtime;
use crate::db::{publish_with, Backend, Db, Topic};

/// How long an errand waits for the extension's answer.
pub const ERRAND_TIMEOUT: Duration = Duration::from_secs(15);
/// An instance without a heartbeat for this long is gone, and so are its sockets.
pub const INSTANCE_ALIVE_MS: u64 = 30_000;
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);

pub struct Errands {
    /// This instance's id (random per process).
    pub instance_id: String,
    enabled: bool,
    /// Errands this instance forwarded, waiting for the holder's "answered" notice.
    waiting: Mutex<HashMap<String, oneshot::Sender<()>>>,
}

/// Where an errand goes: the binding the app named, or else the user's most recently
/// created binding with a live socket (ties: the greatest binding id).
pub enum Target {
    Local(String),
    Remote { binding_id: String, instance_id: String },
}

impl Errands {
    pub fn new(backend: Backend) -> Self {
        Self {
            instance_id: crate::secrets::new_id("ins_"),
            enabled: backend == Backend::Postgres,
            waiting: Mutex::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<()>>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub async fn heartbeat(db: &Db, instance_id: &str, now: u64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO instances (id, seen_at) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
    )
    .bind(instance_id)
    .bind(now as i64)
    .execute(db)
    .await?;
    Ok(())
}

/// Forgets what crashed instances left: their heartbeat, sockets and errands nobody reads.
pub async fn sweep(db: &Db, now: u64) -> sqlx::Result<()> {
    let gone = now.saturating_sub(10 * INSTANCE_ALIVE_MS) as i64;
    // Also sockets whose instance row is already gone (another instance's sweep deleted it
    // between the two statements): a live instance always beats before recording a socket.
    sqlx::query("DELETE FROM live_sockets WHERE instance_id NOT IN (SELECT id FROM instances WHERE seen_at >= $1)")
        .bind(gone)
        .execute(db)
        .await?;
    sqlx::query("DELETE FROM instances WHERE seen_at < $1").bind(gone).execute(db).await?;
    let stale_errands = now.saturating_sub(4 * ERRAND_TIMEOUT.as_millis() as u64) as i64;
    sqlx::query("DELETE FROM errands WHERE created_at < $1").bind(stale_errands).execute(db).await?;
    Ok(())
}

/// This instance stops: its sockets are no longer reachable through it.
pub async fn leave(db: &Db, instance_id: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM live_sockets WHERE instance_id = $1").bind(instance_id).execute(db).await?;
    sqlx::query("DELETE FROM instances WHERE id = $1").bind(instance_id).execute(db).await?;
    Ok(())
}

pub async fn socket_opened(rt: &Realtime, binding_id: &str, conn: u64, now: u64) {
    if !rt.errands.enabled {
        return;
    }
    if let Err(e) = record_socket(rt, binding_id, conn, now).await {
        tracing::warn!(error = %e, binding = %binding_id, "cannot record the socket for other instances");
    }
}

/// Records the socket as the binding's one socket; the instance holding the one it
/// replaces (if another) is told to close it (`latch_sockets`, `instance:conn:binding`).
async fn record_socket(rt: &Realtime, binding_id: &str, conn: u64, now: u64) -> sqlx::Result<()> {
    // The heartbeat too: the socket must count as reachable even before the first beat.
    heartbeat(&rt.db, &rt.errands.instance_id, now).await?;
    let mut tx = rt.db.begin().await?;
    // Insert, or lock the row of the socket this one replaces: two instances recording
    // sockets of one binding at once take turns, and the second learns of the first.
    let inserted = sqlx::query(
        "INSERT INTO live_sockets (binding_id, instance_id, conn, connected_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (binding_id) DO NOTHING",
    )
    .bind(binding_id)
    .bind(&rt.errands.instance_id)
    .bind(conn as i64)
    .bind(now as i64)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let mut replaced = None;
    if inserted == 0 {
        replaced = sqlx::query_as::<_, (String, i64)>(
            "SELECT instance_id, conn FROM live_sockets WHERE binding_id = $1 FOR UPDATE",
        )
        .bind(binding_id)
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query("UPDATE live_sockets SET instance_id = $2, conn = $3, connected_at = $4 WHERE binding_id = $1")
            .bind(binding_id)
            .bind(&rt.errands.instance_id)
            .bind(conn as i64)
            .bind(now as i64)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    // A socket on this instance was already replaced in `sockets`.
    if let Some((instance, old_conn)) = replaced.filter(|(i, _)| *i != rt.errands.instance_id) {
        publish_with(&rt.db, Topic::Sockets, &format!("{instance}:{old_conn}:{binding_id}")).await;
    }
    Ok(())
}

/// `latch_sockets` notice: a newer socket of a binding was recorded elsewhere; if the one
/// it replaced is here, it closes.
pub fn on_socket_notice(rt: &Realtime, payload: &str) {
    let mut parts = payload.splitn(3, ':');
    let (Some(instance), Some(conn), Some(binding_id)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    if instance == rt.errands.instance_id {
        if let Ok(conn) = conn.parse() {
            rt.sockets.replaced_elsewhere(binding_id, conn);
        }
    }
}

/// Forgets the socket, unless a newer one (here or on another instance) replaced it.
pub async fn socket_closed(rt: &Realtime, binding_id: &str, conn: u64) {
    if !rt.errands.enabled {
        return;
    }
    let _ = sqlx::query("DELETE FROM live_sockets WHERE binding_id = $1 AND instance_id = $2 AND conn = $3")
        .bind(binding_id)
        .bind(&rt.errands.instance_id)
        .bind(conn as i64)
        .execute(&rt.db)
        .await;
}

/// The user's most recently created binding of this tenant that has a live socket
/// anywhere; of bindings created in the same millisecond, the greatest id (PROTOCOL §10).
pub async fn find_target(rt: &Realtime, tenant_id: &str, user_id: &str, now: u64) -> sqlx::Result<Option<Target>> {
    if !rt.errands.enabled {
        let mut bindings = crate::db::list_bindings(&rt.db, Some(tenant_id)).await?;
        bindings.retain(|b| !b.revoked && !b.paused && b.user_id == user_id && rt.sockets.is_online(&b.binding_id));
        let newest =
            bindings.into_iter().max_by(|a, b| (a.created_at, &a.binding_id).cmp(&(b.created_at, &b.binding_id)));
        return Ok(newest.map(|b| Target::Local(b.binding_id)));
    }
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT b.id, l.instance_id FROM bindings b
         JOIN live_sockets l ON l.binding_id = b.id JOIN instances i ON i.id = l.instance_id
         WHERE b.tenant_id = $1 AND b.user_id = $2 AND b.revoked_at IS NULL AND b.paused_at IS NULL
           AND i.seen_at > $3
         ORDER BY b.created_at DESC, b.id DESC LIMIT 1",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(now.saturating_sub(INSTANCE_ALIVE_MS) as i64)
    .fetch_optional(&rt.db)
    .await?;
    Ok(row.map(|(binding_id, instance_id)| rt.errands.target(binding_id, instance_id)))
}

/// Where the live socket of `binding_id` is, if it has one.
pub async fn locate(rt: &Realtime, binding_id: &str, now: u64) -> sqlx::Result<Option<Target>> {
    if !rt.errands.enabled {
        return Ok(rt.sockets.is_online(binding_id).then(|| Target::Local(binding_id.to_owned())));
    }
    let instance: Option<String> = sqlx::query_scalar(
        "SELECT l.instance_id FROM live_sockets l JOIN instances i ON i.id = l.instance_id
         WHERE l.binding_id = $1 AND i.seen_at > $2",
    )
    .bind(binding_id)
    .bind(now.saturating_sub(INSTANCE_ALIVE_MS) as i64)
    .fetch_optional(&rt.db)
    .await?;
    Ok(instance.map(|i| rt.errands.target(binding_id.to_owned(), i)))
}

impl Errands {
    fn target(&self, binding_id: String, instance_id: String) -> Target {
        if instance_id == self.instance_id {
            Target::Local(binding_id)
        } else {
            Target::Remote { binding_id, instance_id }
        }
    }
}

/// Sends an errand to a local socket and waits for its answer; `None`: offline or no
/// answer in time.
pub async fn run_local(rt: &Realtime, binding_id: &str, errand: Errand) -> Option<ErrandOutcome> {
    let id = errand.id.clone();
    let answer = rt.sockets.send(binding_id, errand)?;
    match tokio::time::timeout(ERRAND_TIMEOUT, answer).await {
        Ok(Ok(outcome)) => Some(outcome),
        _ => {
            rt.sockets.abandon(&id);
            None
        }
    }
}

/// Hands an errand to the instance holding the socket and waits for the outcome it writes.
pub async fn run_remote(
    rt: &Realtime,
    binding_id: &str,
    instance_id: &str,
    errand: Errand,
) -> sqlx::Result<Option<ErrandOutcome>> {
    let (done, answered) = oneshot::channel();
    rt.errands.waiting().insert(errand.id.clone(), done);
    let sent = async {
        sqlx::query(
            "INSERT INTO errands (id, binding_id, instance_id, kind, params, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&errand.id)
        .bind(binding_id)
        .bind(instance_id)
        .bind(&errand.kind)
        .bind(errand.params.to_string())
        .bind(crate::clock::now_ms() as i64)
        .execute(&rt.db)
        .await?;
        publish_with(&rt.db, Topic::Errands, &format!("{instance_id}:{}", errand.id)).await;
        sqlx::Result::Ok(())
    }
    .await;
    if let Err(e) = sent {
        rt.errands.waiting().remove(&errand.id);
        return Err(e);
    }
    // The holder answers "offline" itself when its socket times out; a little longer here.
    let _ = tokio::time::timeout(ERRAND_TIMEOUT + Duration::from_secs(2), answered).await;
    rt.errands.waiting().remove(&errand.id);
    let outcome: Option<Option<String>> = sqlx::query_scalar("DELETE FROM errands WHERE id = $1 RETURNING outcome")
        .bind(&errand.id)
        .fetch_optional(&rt.db)
        .await?;
    Ok(outcome.flatten().and_then(|text| decode_outcome(&text)))
}

fn encode_outcome(outcome: Option<&ErrandOutcome>) -> String {
    match outcome {
        Some(Ok(result)) => json!({"ok": true, "result": result}),
        Some(Err(error)) => json!({"ok": false, "error": error}),
        None => json!({"offline": true}),
    }
    .to_string()
}

fn decode_outcome(text: &str) -> Option<ErrandOutcome> {
    let v: Value = serde_json::from_str(text).ok()?;
    match v["ok"].as_bool()? {
        true => Some(Ok(v["result"].clone())),
        false => Some(Err(v["error"].clone())),
    }
}

/// `latch_errands` notice (`instance:errand`): if it is for this instance, deliver it.
pub async fn on_errand_notice(rt: std::sync::Arc<Realtime>, payload: String) {
    let Some((instance, errand_id)) = payload.split_once(':') else {
        return;
    };
    if instance != rt.errands.instance_id {
        return;
    }
    let row: sqlx::Result<Option<(String, String, String)>> =
        sqlx::query_as("SELECT binding_id, kind, params FROM errands WHERE id = $1 AND outcome IS NULL")
            .bind(errand_id)
            .fetch_optional(&rt.db)
            .await;
    let Ok(Some((binding_id, kind, params))) = row else {
        return;
    };
    let params = serde_json::from_str(&params).unwrap_or(Value::Null);
    let errand = Errand { id: errand_id.to_owned(), kind, params };
    let outcome = run_local(&rt, &binding_id, errand).await;
    let written = sqlx::query("UPDATE errands SET outcome = $1 WHERE id = $2 AND outcome IS NULL")
        .bind(encode_outcome(outcome.as_ref()))
        .bind(errand_id)
        .execute(&rt.db)
        .await;
    match written {
        Ok(_) => publish_with(&rt.db, Topic::ErrandResults, errand_id).await,
        Err(e) => tracing::warn!(error = %e, "cannot record an errand's outcome"),
    }
}

/// `latch_errand_results` notice: wake the request waiting for that errand, if it is here.
pub fn on_result_notice(rt: &Realtime, errand_id: &str) {
    if let Some(done) = rt.errands.waiting().remove(errand_id) {
        let _ = done.send(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_survive_the_table_and_offline_reads_as_none() {
        let ok: ErrandOutcome = Ok(json!({"title": "x"}));
        let err: ErrandOutcome = Err(json!("denied"));
        assert_eq!(decode_outcome(&encode_outcome(Some(&ok))), Some(ok));
        assert_eq!(decode_outcome(&encode_outcome(Some(&err))), Some(err));
        assert_eq!(decode_outcome(&encode_outcome(None)), None);
        assert_eq!(decode_outcome("not json"), None);
    }
}
