//! Group commit for SQLite (PROTOCOL §3: throughput from many requests' writes in one
//! transaction, not from weaker sync). One thread owns one connection and runs the hot
//! writes (mint, redeem, refresh rotation): it takes every job queued, runs them in one
//! `BEGIN IMMEDIATE` transaction, each inside its own savepoint (a failed job rolls back
//! alone), commits once (one fsync for the batch) and only then answers each job, so a
//! 2xx still means durable. A request costs one hand-off to this thread instead of one per
//! statement through sqlx's worker, and writers no longer sleep in SQLite's busy handler.

use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

/// Jobs taken into one transaction at most.
const MAX_BATCH: usize = 256;

/// One queued job: its statements and its typed reply channel together, so nothing is
/// erased into `Any` and downcast back.
trait Job: Send {
    /// Runs the statements; true when they succeeded (else the job's savepoint is rolled
    /// back). The answer waits in `Ran` until the batch's commit.
    fn run(self: Box<Self>, conn: &Connection) -> Ran;
    /// The batch could not start: the job answers this error without running.
    fn refuse(self: Box<Self>, error: String);
}

/// A job that ran, holding its answer until the batch's fate is known.
struct Ran {
    ok: bool,
    /// `None`: the batch committed and the job's own result goes out; `Some(e)`: the
    /// commit failed and `e` replaces it.
    answer: Box<dyn FnOnce(Option<String>) + Send>,
}

struct Typed<T, F> {
    work: F,
    reply: oneshot::Sender<Result<T, String>>,
}

impl<T, F> Job for Typed<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> rusqlite::Result<T> + Send,
{
    fn run(self: Box<Self>, conn: &Connection) -> Ran {
        let Typed { work, reply } = *self;
        let result = work(conn).map_err(|e| e.to_string());
        let ok = result.is_ok();
        let answer = Box::new(move |commit_error: Option<String>| {
            let _ = reply.send(match commit_error {
                None => result,
                Some(e) => Err(e),
            });
        });
        Ran { ok, answer }
    }

    fn refuse(self: Box<Self>, error: String) {
        let _ = self.reply.send(Err(error));
    }
}

/// Runs on the writer's connection before each batch: how tests put it in a fault mode
/// (read-only, disk full) like the pool's connections.
pub type BatchHook = Box<dyn Fn(&Connection) -> rusqlite::Result<()> + Send>;

#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
    hook: Arc<Mutex<Option<BatchHook>>>,
}

impl Writer {
    /// Opens `path` (the relay has already created and migrated it) on its own thread.
    pub fn open(path: &str) -> anyhow::Result<Self> {
        let conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
        )?;
        let (jobs, queue) = mpsc::channel::<Box<dyn Job>>(4 * MAX_BATCH);
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
        let closed = || sqlx::Error::Protocol("the SQLite writer stopped".into());
        self.jobs.send(Box::new(Typed { work, reply })).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?.map_err(sqlx::Error::Protocol)
    }
}

fn serve(conn: Connection, mut queue: mpsc::Receiver<Box<dyn Job>>, hook: &Mutex<Option<BatchHook>>) {
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
            batch.into_iter().for_each(|job| job.refuse(e.to_string()));
            continue;
        }
        let mut done = Vec::with_capacity(batch.len());
        let mut jobs = batch.into_iter();
        let mut broken = None;
        for job in jobs.by_ref() {
            if let Err(e) = conn.execute_batch("SAVEPOINT job") {
                job.refuse(e.to_string()); // nothing of it ran
                continue;
            }
            let ran = job.run(&conn);
            let released =
                if ran.ok { conn.execute_batch("RELEASE job").map_err(|e| e.to_string()) } else { Err(String::new()) };
            match released {
                Ok(()) => done.push(ran),
                // A failed job (or one whose release failed) is undone alone: none of its
                // writes may be committed with the batch.
                Err(why) => match conn.execute_batch("ROLLBACK TO job; RELEASE job") {
                    Ok(()) if ran.ok => (ran.answer)(Some(why)),
                    Ok(()) => done.push(ran),
                    Err(e) => {
                        broken = Some(e.to_string());
                        done.push(ran);
                        break;
                    }
                },
            }
        }
        let committed = match broken {
            Some(e) => Err(e),
            None => conn.execute_batch("COMMIT").map_err(|e| e.to_string()),
        };
        match committed {
            Ok(()) => done.into_iter().for_each(|ran| (ran.answer)(None)),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                done.into_iter().for_each(|ran| (ran.answer)(Some(e.clone())));
                jobs.for_each(|job| job.refuse(e.clone()));
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
