//! Relay memory with many live extension sessions: pair `n` browsers, open `n` sockets
//! through the real handshake (hello, auth, auth_ack), read the relay's RSS, then close
//! everything. Bounded: at most `n` sockets, 256 handshakes at a time, 120 s in all.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

use crate::http::Conn;
use crate::processes::{rss_mib, Proc};
use crate::workload::pair;

pub struct SocketReport {
    pub sockets: usize,
    pub rss_before_mib: f64,
    pub rss_with_sockets_mib: f64,
    pub open_seconds: f64,
}

async fn access_tokens(addr: &str, api_key: &str, n: usize) -> Vec<String> {
    let workers = 32;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (addr, api_key) = (addr.to_owned(), api_key.to_owned());
        let share = n / workers + usize::from(w < n % workers);
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&addr).await.expect("connect");
            let mut tokens = Vec::with_capacity(share);
            for _ in 0..share {
                let (grant, _) = pair(&mut conn, &api_key).await.expect("pairing for a socket");
                tokens.push(grant["accessToken"].as_str().expect("access token").to_owned());
            }
            tokens
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await.expect("pairing worker"));
    }
    all
}

pub async fn measure(relay: &Proc, api_key: &str, n: usize) -> SocketReport {
    let run = async {
        let tokens = access_tokens(&relay.addr, api_key, n).await;
        let rss_before_mib = rss_mib(relay.child.id());
        let url = format!("ws://{}/api/session", relay.addr);
        let gate = Arc::new(Semaphore::new(256));
        let started = Instant::now();
        let mut opening = Vec::with_capacity(n);
        for token in tokens {
            let (url, gate) = (url.clone(), gate.clone());
            opening.push(tokio::spawn(async move {
                let _permit = gate.acquire().await.expect("semaphore");
                let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.expect("socket");
                ws.send(Message::text(json!({"type": "hello"}).to_string())).await.expect("hello");
                ws.next().await.expect("hello back").expect("frame");
                ws.send(Message::text(json!({"type": "auth", "accessToken": token}).to_string())).await.expect("auth");
                let ack = ws.next().await.expect("auth_ack").expect("frame");
                assert!(ack.to_text().unwrap_or_default().contains("auth_ack"), "{ack:?}");
                ws
            }));
        }
        let mut sockets = Vec::with_capacity(n);
        for o in opening {
            sockets.push(o.await.expect("socket task"));
        }
        let open_seconds = started.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(1)).await; // let the relay settle
        let rss_with_sockets_mib = rss_mib(relay.child.id());
        let count = sockets.len();
        for mut ws in sockets {
            let _ = ws.close(None).await;
        }
        SocketReport { sockets: count, rss_before_mib, rss_with_sockets_mib, open_seconds }
    };
    tokio::time::timeout(Duration::from_secs(120), run).await.expect("socket phase within 120 s")
}
