//! One keep-alive HTTP/1.1 connection per worker, straight on hyper: the load generator
//! must cost the shared two cores as little as possible.

use std::time::Instant;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub struct Conn {
    addr: String,
    sender: SendRequest<Full<Bytes>>,
}

pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
    pub micros: u32,
}

impl Conn {
    pub async fn open(addr: &str) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self { addr: addr.to_owned(), sender })
    }

    /// The URL of `path` on this server, as a proof's `htu` names it.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// One request; reconnects once if the server closed the idle connection.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<String>,
    ) -> anyhow::Result<Answer> {
        let auth = bearer.map(|b| format!("Bearer {b}"));
        self.call_with(method, path, auth.as_deref(), None, body).await
    }

    /// One request with this `Authorization` value and `DPoP` proof, if any.
    pub async fn call_with(
        &mut self,
        method: Method,
        path: &str,
        authorization: Option<&str>,
        proof: Option<&str>,
        body: Option<String>,
    ) -> anyhow::Result<Answer> {
        if self.sender.ready().await.is_err() {
            *self = Self::open(&self.addr).await?;
        }
        let mut req = Request::builder().method(method).uri(path).header("host", &self.addr);
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        if let Some(p) = proof {
            req = req.header("dpop", p);
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let started = Instant::now();
        let res = self.sender.send_request(req).await?;
        let status = res.status();
        let body = res.into_body().collect().await?.to_bytes();
        let micros = started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
        Ok(Answer { status, body, micros })
    }
}
