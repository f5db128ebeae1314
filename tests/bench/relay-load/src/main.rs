//! Load benchmark of the relay (issue 7): `bash tests/bench/relay-load.sh`. Against the release `latch-relay serve` process
//! over loopback, per database backend:
//!   - the ceiling: a bare axum "hello" route in its own process, measured in the same run;
//!   - complete one-click pairings per second (mint + describe + redeem, fresh tokens);
//!   - pairings paced at half the target rate, for the redeem p99 there;
//!   - refreshes per second (each worker rotates its own refresh token);
//!   - `/api/me` per second;
//!   - key-bound (DPoP, issue 22): one ES256 verification in a bare axum handler (the
//!     ceiling of proof-carrying requests, the same jsonwebtoken crate as the relay), then
//!     refreshes and `/api/me` with a fresh proof each, signed by the generator;
//!   - relay RSS with 10,000 live extension sockets.
//!
//! SQLite always; PostgreSQL too when `LATCH_PG_URL` is set (tests/bench/relay-load.sh runs
//! it beside a throwaway server). `LATCH_BENCH_SECONDS` (default 5) per phase after 1 s of
//! warm-up, `LATCH_BENCH_CONNS` (default 32) connections, `LATCH_BENCH_SOCKETS` (10000).
//! Prints a Markdown table; BENCHMARKS.md keeps the last one. `LATCH_BENCH_ONLY=sockets`
//! runs the socket phase alone (~40 s; with `LATCH_RELAY_BIN` pointing at a heaptrack
//! wrapper, how BENCHMARKS.md traced the socket memory).

mod dpop;
mod http;
mod processes;
mod sockets;
mod stats;
mod workload;

use std::sync::Arc;
use std::time::{Duration, Instant};

use latch_relay::{clock::now_ms, db};
use workload::{Op, Recorded, Schedule};

use crate::http::Conn;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Backend {
    name: &'static str,
    url: String,
    /// Pairings per second the issue asks for.
    target_pairings: f64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--hello-server") {
        return processes::serve_hello(&args[i + 1]);
    }
    // The generator gets the same two cores as everything else; two threads keep it honest.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let secs = env_or("LATCH_BENCH_SECONDS", 5);
    let conns = env_or("LATCH_BENCH_CONNS", 32) as usize;
    let sockets = env_or("LATCH_BENCH_SOCKETS", 10_000) as usize;
    // `LATCH_BENCH_ONLY=sockets`: the socket phase alone (a heap profiler's run).
    let only_sockets = std::env::var("LATCH_BENCH_ONLY").is_ok_and(|v| v == "sockets");
    // On the project's disk, like a real deployment's database (not a tmpfs).
    let dir = tempfile::tempdir_in(concat!(env!("CARGO_MANIFEST_DIR"), "/target")).expect("temporary directory");
    let mut backends = vec![Backend {
        name: "SQLite (WAL, synchronous=FULL)",
        url: format!("sqlite://{}", dir.path().join("bench.db").display()),
        target_pairings: 3000.0,
    }];
    if let Ok(admin) = std::env::var("LATCH_PG_URL") {
        backends.push(Backend {
            name: "PostgreSQL 15 (fsync on)",
            url: postgres_database(&admin).await,
            target_pairings: 1500.0,
        });
    }
    let hello = processes::hello().await;
    println!(
        "{} s per phase after 1 s warm-up, {conns} connections, {} cores",
        secs,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut table = vec![
        "| backend | measurement | rate | p50 ms | p99 ms | vs. ceiling | target |".to_owned(),
        "|---|---|---|---|---|---|---|".to_owned(),
    ];
    for b in &backends {
        let api_key = Arc::<str>::from(seed(&b.url).await);
        let relay = processes::relay(&b.url).await;
        if only_sockets {
            let s = sockets::measure(&relay, &api_key, sockets).await;
            println!(
                "{}: relay RSS {:.1} MiB before, {:.1} MiB with {} sockets",
                b.name, s.rss_before_mib, s.rss_with_sockets_mib, s.sockets
            );
            continue;
        }
        let phase = |addr: &str, op: Op, pace: Option<f64>, refresh: Vec<String>| {
            closed_or_paced(addr.to_owned(), op, conns, secs, pace, refresh, vec![])
        };
        let mut ceiling = phase(&hello.addr, Op::Hello, None, vec![]).await;
        let ceiling_rate = ceiling.ops.micros.len() as f64 / secs as f64;
        let row = |what: &str, r: &mut Recorded, unit: &str, target: &str, vs_ceiling: bool| {
            let rate = r.ops.micros.len() as f64 / secs as f64;
            let ratio = if vs_ceiling { format!("{:.0} %", 100.0 * rate / ceiling_rate) } else { String::new() };
            let errors = if r.ops.errors > 0 { format!(" ({} errors)", r.ops.errors) } else { String::new() };
            format!(
                "| {} | {what}{errors} | {rate:.0} {unit} | {:.2} | {:.2} | {ratio} | {target} |",
                b.name,
                r.ops.percentile_ms(50.0),
                r.ops.percentile_ms(99.0)
            )
        };
        table.push(row("bare axum hello (ceiling)", &mut ceiling, "req/s", "", true));

        let mut pairings = phase(&relay.addr, Op::Pairing { api_key: api_key.clone() }, None, vec![]).await;
        table.push(row(
            "one-click pairings (3 requests each)",
            &mut pairings,
            "pairings/s",
            &format!("≥ {:.0}/s", b.target_pairings),
            false,
        ));
        let mut redeems = std::mem::take(&mut pairings.redeems);
        table.push(format!(
            "| {} | … their redeem requests | | {:.2} | {:.2} | | |",
            b.name,
            redeems.percentile_ms(50.0),
            redeems.percentile_ms(99.0)
        ));

        let half = b.target_pairings / 2.0;
        let mut paced = phase(&relay.addr, Op::Pairing { api_key: api_key.clone() }, Some(half), vec![]).await;
        table.push(row(&format!("pairings paced at {half:.0}/s (from schedule)"), &mut paced, "pairings/s", "", false));
        table.push(format!(
            "| {} | … their redeem requests | | {:.2} | {:.2} | | p99 < 20 ms |",
            b.name,
            paced.redeems.percentile_ms(50.0),
            paced.redeems.percentile_ms(99.0)
        ));

        let grants = grants(&relay.addr, &api_key, conns).await;
        let refresh_tokens =
            grants.iter().map(|g| g["refreshToken"].as_str().expect("refresh token").to_owned()).collect();
        let mut refreshes = phase(&relay.addr, Op::Refresh, None, refresh_tokens).await;
        table.push(row("refreshes (rotation)", &mut refreshes, "req/s", "", false));

        let access_token = Arc::<str>::from(grants[0]["accessToken"].as_str().expect("access token"));
        let mut me = phase(&relay.addr, Op::Me { access_token }, None, vec![]).await;
        table.push(row("GET /api/me", &mut me, "req/s", "≥ 50 % of ceiling", true));

        // Key-bound: each worker its own key (and, refreshing, its own bound binding).
        let provers: Vec<Arc<dpop::Prover>> = (0..conns).map(|_| Arc::new(dpop::Prover::new())).collect();
        let mut verify =
            closed_or_paced(hello.addr.clone(), Op::Verify, conns, secs, None, vec![], provers.clone()).await;
        let verify_rate = verify.ops.micros.len() as f64 / secs as f64;
        let vs_verify = |r: &mut Recorded, what: &str, target: &str| {
            let rate = r.ops.micros.len() as f64 / secs as f64;
            let errors = if r.ops.errors > 0 { format!(" ({} errors)", r.ops.errors) } else { String::new() };
            format!(
                "| {} | {what}{errors} | {rate:.0} req/s | {:.2} | {:.2} | {:.0} % of ES256 | {target} |",
                b.name,
                r.ops.percentile_ms(50.0),
                r.ops.percentile_ms(99.0),
                100.0 * rate / verify_rate
            )
        };
        table.push(vs_verify(&mut verify, "bare axum handler, one ES256 verify (DPoP ceiling)", ""));
        let bound = bound_grants(&relay.addr, &api_key, &provers).await;
        let refresh_tokens = bound.iter().map(|g| g["refreshToken"].as_str().expect("refresh").to_owned()).collect();
        let mut refreshes =
            closed_or_paced(relay.addr.clone(), Op::RefreshBound, conns, secs, None, refresh_tokens, provers.clone())
                .await;
        table.push(vs_verify(&mut refreshes, "refreshes with DPoP proofs", ""));
        let access_token = Arc::<str>::from(bound[0]["accessToken"].as_str().expect("access token"));
        let me_bound = Op::MeBound { access_token, prover: provers[0].clone() };
        let mut me = closed_or_paced(relay.addr.clone(), me_bound, conns, secs, None, vec![], vec![]).await;
        table.push(vs_verify(&mut me, "GET /api/me with DPoP proofs", "≥ 70 % of ES256"));

        if sockets > 0 {
            let s = sockets::measure(&relay, &api_key, sockets).await;
            table.push(format!(
                "| {} | relay RSS with {} live sockets (before: {:.1} MiB; opened in {:.1} s) | | | | | < 50 MB |",
                b.name, s.sockets, s.rss_before_mib, s.open_seconds
            ));
            table.push(format!("| {} | … RSS | {:.1} MiB | | | | |", b.name, s.rss_with_sockets_mib));
        }
    }
    println!("\n{}", table.join("\n"));
    let errors = ERRORS.load(std::sync::atomic::Ordering::Relaxed);
    if errors > 0 {
        eprintln!("relay-load: {errors} operations failed (unexpected answers); the numbers above are not valid");
        std::process::exit(1);
    }
}

/// Failed operations across all phases: any makes the run fail.
static ERRORS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// `conns` workers for 1 s of warm-up plus `secs`; paced at `pace` ops/s in all if given.
async fn closed_or_paced(
    addr: String,
    op: Op,
    conns: usize,
    secs: u64,
    pace: Option<f64>,
    refresh: Vec<String>,
    keys: Vec<Arc<dpop::Prover>>,
) -> Recorded {
    let start = Instant::now();
    let record_from = start + Duration::from_secs(1);
    let until = record_from + Duration::from_secs(secs);
    let mut refresh = refresh.into_iter();
    let mut keys = keys.into_iter();
    let tasks: Vec<_> = (0..conns)
        .map(|i| {
            let pace = pace.map(|rate| {
                let every = Duration::from_secs_f64(conns as f64 / rate);
                (start + Duration::from_secs_f64(i as f64 / rate), every)
            });
            let schedule = Schedule { record_from, until, pace };
            tokio::spawn(workload::run(addr.clone(), op.clone(), refresh.next(), keys.next(), schedule))
        })
        .collect();
    let mut all = Recorded::default();
    for t in tasks {
        all.merge(t.await.expect("worker"));
    }
    ERRORS.fetch_add(all.ops.errors, std::sync::atomic::Ordering::Relaxed);
    all
}

/// The bench tenant and API key in a fresh database; the key.
async fn seed(url: &str) -> String {
    let pool = db::open(url).await.expect("open the bench database");
    let tenant = db::Tenant { id: "bench".into(), name: "Bench".into(), origins: vec![], captures: false };
    db::create_tenant(&pool, &tenant, now_ms()).await.expect("tenant");
    let (api_key, _) = db::create_api_key(&pool, "bench", "Bench", now_ms()).await.expect("key");
    pool.close().await;
    api_key
}

/// `n` fresh pairings' grants (for refresh and /api/me).
async fn grants(addr: &str, api_key: &str, n: usize) -> Vec<serde_json::Value> {
    let mut conn = Conn::open(addr).await.expect("connect");
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(workload::pair(&mut conn, api_key).await.expect("pairing").0);
    }
    out
}

/// One key-bound pairing per key (for the key-bound phases).
async fn bound_grants(addr: &str, api_key: &str, keys: &[Arc<dpop::Prover>]) -> Vec<serde_json::Value> {
    let mut conn = Conn::open(addr).await.expect("connect");
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        out.push(workload::pair_bound(&mut conn, api_key, key).await.expect("a key-bound pairing"));
    }
    out
}

async fn postgres_database(admin: &str) -> String {
    use sqlx::{Connection, Executor};
    sqlx::any::install_default_drivers();
    let name = latch_relay::secrets::new_id("latch_bench_");
    let mut conn = sqlx::AnyConnection::connect(admin).await.expect("connect to LATCH_PG_URL");
    conn.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create the bench database");
    let base = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
    format!("{base}/{name}")
}
