//! Group commit for SQLite (PROTOCOL §3: throughput from many requests' writes in one
//! transaction, not from weaker sync). One thread owns one connection and runs the hot
//! writes (mint, redeem, refresh rotation): it takes every job queued, runs them in one
//! `BEGIN IMMEDIATE` transaction, each inside its own savepoint (a failed job rolls back
//! alone), commits once (one fsync for the batch) and only then answers each job, so a
//! 2xx still means durable. A request costs one hand-off to this thread instead of one per
//! statement through sqlx's worker, and writers no longer sleep in SQLite's busy handler.

use std::any::Any;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

/// Jobs taken into one transaction at most.
const MAX_BATCH: usize = 256;

type Value = Box<dyn Any + Send>;
type Work = Box<dyn FnOnce(&Connection) -> rusqlite::Result<Value> + Send>;

struct Job {
    work: Work,
    reply: oneshot::Sender<Result<Value, String>>,
}

/// Runs on the writer's connection before each batch: how tests put it in a fault mode
/// (read-only, disk full) like the pool's connections.
pub type BatchHook = Box<dyn Fn(&Connection) -> rusqlite::Result<()> + Send>;

pub struct Writer {
    jobs: mpsc::Sender<Job>,
    hook: Arc<Mutex<Option<BatchHook>>>,
}

impl Writer {
    /// Opens `path` (the relay has already created and migrated it) on its own thread.
    pub fn open(path: &str) -> anyhow::Result<Self> {
        let conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
        )?;
        let (jobs, queue) = mpsc::channel::<Job>(4 * MAX_BATCH);
        let hook: Arc<Mutex<Option<BatchHook>>> = Arc::default();
        let batch_hook = hook.clone();
        std::thread::Builder::new()
            .name("latch-sqlite-writer".into())
            .spawn(move || serve(conn, queue, &batch_hook))?;
        Ok(Self { jobs, hook })
    }

    pub fn set_batch_hook(&self, hook: BatchHook) {
        *self.hook.lock().unwrap_or_else(|e| e.into_inner()) = Some(hook);
    }

    /// Runs `work` in the next batch; its answer once the batch is committed.
    pub async fn write<T, F>(&self, work: F) -> sqlx::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let work: Work = Box::new(move |conn| work(conn).map(|v| Box::new(v) as Value));
        let closed = || sqlx::Error::Protocol("the SQLite writer stopped".into());
        self.jobs.send(Job { work, reply }).await.map_err(|_| closed())?;
        match answer.await.map_err(|_| closed())? {
            Ok(v) => Ok(*v.downcast::<T>().expect("the job's own type")),
            Err(e) => Err(sqlx::Error::Protocol(e)),
        }
    }
}

fn serve(conn: Connection, mut queue: mpsc::Receiver<Job>, hook: &Mutex<Option<BatchHook>>) {
    while let Some(first) = queue.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let hooked = match &*hook.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(h) => h(&conn),
            None => Ok(()),
        };
        if let Err(e) = hooked.and_then(|()| conn.execute_batch("BEGIN IMMEDIATE")) {
            batch.into_iter().for_each(|job| drop(job.reply.send(Err(e.to_string()))));
            continue;
        }
        let mut done = Vec::with_capacity(batch.len());
        for job in batch {
            let outcome = conn.execute_batch("SAVEPOINT job").and_then(|()| {
                let result = (job.work)(&conn);
                let end = if result.is_ok() { "RELEASE job" } else { "ROLLBACK TO job; RELEASE job" };
                conn.execute_batch(end)?;
                result
            });
            done.push((job.reply, outcome.map_err(|e| e.to_string())));
        }
        match conn.execute_batch("COMMIT") {
            Ok(()) => done.into_iter().for_each(|(reply, outcome)| drop(reply.send(outcome))),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                let e = e.to_string();
                done.into_iter().for_each(|(reply, _)| drop(reply.send(Err(e.clone()))));
            }
        }
    }
}

/// The file path inside a `sqlite://PATH?…` URL.
pub fn path_of(url: &str) -> &str {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    rest.split('?').next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_come_out_of_sqlite_urls() {
        assert_eq!(path_of("sqlite://latch.db"), "latch.db");
        assert_eq!(path_of("sqlite:///tmp/x/latch.db?mode=rwc"), "/tmp/x/latch.db");
        assert_eq!(path_of("sqlite:relative.db"), "relative.db");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_job_rolls_back_alone_and_the_batch_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        Connection::open(&path).unwrap().execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY)").unwrap();
        let w = std::sync::Arc::new(Writer::open(path.to_str().unwrap()).unwrap());
        let mut tasks = Vec::new();
        for i in 0..200 {
            let w = w.clone();
            // Every tenth job inserts a duplicate key and fails; the others must stand.
            let key = if i % 10 == 9 { format!("k{}", i - 1) } else { format!("k{i}") };
            tasks.push(tokio::spawn(async move {
                w.write(move |c| c.execute("INSERT INTO t (k) VALUES (?1)", [key])).await
            }));
        }
        let mut failed = 0;
        for t in tasks {
            failed += usize::from(t.await.unwrap().is_err());
        }
        assert_eq!(failed, 20);
        let rows: i64 = Connection::open(&path).unwrap().query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 180);
    }
}
