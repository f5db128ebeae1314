//! The processes under test: the release `latch-relay serve` on a database of its own, and
//! the bare axum "hello" server (this benchmark binary re-run with `--hello-server PORT`),
//! which is the ceiling of what axum on this machine answers.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Proc {
    pub child: Child,
    pub addr: String,
}

impl Drop for Proc {
    /// SIGTERM first (the relay shuts down gracefully; a profiler wrapping it writes its
    /// data), SIGKILL after 5 s.
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("bound").to_string()
}

async fn wait_listening(addr: &str) {
    let started = Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "{addr} not listening after 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The relay with abuse limits off (the load comes from one address and one key) and
/// warn-level logs (an access line per request would measure the terminal).
pub async fn relay(database: &str) -> Proc {
    let addr = free_addr();
    let child = Command::new(relay_binary())
        .args(["--database", database, "serve", "--dev", "--listen", &addr, "--public-url", &format!("http://{addr}")])
        .args(["--mint-per-minute", "0", "--describe-per-minute", "0", "--redeem-per-minute", "0"])
        .args(["--refresh-per-minute", "0", "--refresh-per-token-per-minute", "0", "--revoke-per-minute", "0"])
        .args(["--status-per-minute", "0"])
        // 256 handshakes at a time, and 10,000 sockets, from one address.
        .args(["--unauthenticated-sockets-per-address", "0", "--max-connections-per-address", "0"])
        .env("LATCH_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start latch-relay");
    wait_listening(&addr).await;
    Proc { child, addr }
}

/// The release relay of the main workspace (`cargo build --release -p latch-relay`), or
/// `LATCH_RELAY_BIN`.
fn relay_binary() -> String {
    std::env::var("LATCH_RELAY_BIN")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../../target/release/latch-relay").to_owned())
}

pub async fn hello() -> Proc {
    let addr = free_addr();
    let child = Command::new(std::env::current_exe().expect("own path"))
        .args(["--hello-server", &addr])
        .stdout(Stdio::null())
        .spawn()
        .expect("start the hello server");
    wait_listening(&addr).await;
    Proc { child, addr }
}

/// Serves `GET /hello` → "hello", and `GET /verify` → 200 when its `DPoP` header's
/// signature verifies (the key-bound phases' ceiling), until killed.
pub fn serve_hello(addr: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let verify = |headers: axum::http::HeaderMap| async move {
            let proof = headers.get("dpop").and_then(|v| v.to_str().ok()).unwrap_or_default();
            if crate::dpop::verify_only(proof) {
                axum::http::StatusCode::OK
            } else {
                axum::http::StatusCode::UNAUTHORIZED
            }
        };
        let app = axum::Router::new()
            .route("/hello", axum::routing::get(|| async { "hello" }))
            .route("/verify", axum::routing::get(verify));
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        axum::serve(listener, app).await.expect("serve");
    });
}

/// Resident set size of a process, in MiB.
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN);
    kib / 1024.0
}
