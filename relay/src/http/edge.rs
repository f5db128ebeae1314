//! The relay's shape at its edge, in one tower layer that `app()` puts outermost:
//! - a request must arrive (body included) and be answered within the request timeout,
//!   else 408;
//! - a request of a method that carries a body (POST, PUT, PATCH) must say it is JSON,
//!   else 415 `unsupported_media_type` before anything else happens (no CORS-free
//!   cross-site form post can reach a handler). A request with neither a body nor a
//!   `Content-Type` has nothing to misread (`POST /api/me/pause` takes no body): it goes on
//!   to routing, marked [`body::Bare`], so an unknown method answers 405 and a missing token
//!   401, as the OpenAPI document says, while the client-address extractor that keys
//!   every per-address limit refuses it with 415 rather than let any page spend one;
//! - every error is `{"error", "message"}`. The relay's own answers already are; this
//!   turns the rest into that shape: axum's plain-text or empty answers (405 for a wrong
//!   method, 413 past the body limit, 408 past the request timeout, the WebSocket
//!   upgrade's refusals, a body that could not be read) and anything a new route might
//!   leak. An error whose body is already JSON passes unchanged; `Allow` and `Retry-After`
//!   are kept.
//!
//! Written as a `Layer`/`Service` pair with its own future rather than
//! `axum::middleware::from_fn`: `from_fn` clones and boxes the inner service for every
//! request (its `Next`) and boxes its future. Measured with callgrind on `GET /api/me`
//! (BENCHMARKS.md): the `from_fn` form cost ~2,000 instructions per request more.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use super::body;
use crate::error::ApiError;

/// See the module's comment. `timeout` is the request timeout.
#[derive(Clone, Copy, Debug)]
pub struct ApiShapeLayer {
    pub timeout: Duration,
}

impl<S> Layer<S> for ApiShapeLayer {
    type Service = ApiShape<S>;
    fn layer(&self, inner: S) -> ApiShape<S> {
        ApiShape { inner, timeout: self.timeout }
    }
}

#[derive(Clone, Debug)]
pub struct ApiShape<S> {
    inner: S,
    timeout: Duration,
}

impl<S> Service<Request> for ApiShape<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ShapedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        if body::carries_body(req.method()) && !body::is_json(req.headers()) {
            if !body::is_bare_and_empty(&req) {
                return ShapedFuture::Refused { response: Some(body::unsupported_media_type().into_response()) };
            }
            req.extensions_mut().insert(body::Bare);
        }
        let websocket = req.uri().path() == "/api/session";
        // The whole request, its body included (handlers read it inside), within the
        // timeout. tokio's timer is armed only if the handler does not answer at once.
        ShapedFuture::Running { answer: tokio::time::timeout(self.timeout, self.inner.call(req)), websocket }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's answer within the timeout, then put in the error shape.
    #[project = Projected]
    pub enum ShapedFuture<F> {
        Refused { response: Option<Response> },
        Running { #[pin] answer: tokio::time::Timeout<F>, websocket: bool },
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for ShapedFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Projected::Refused { response } => {
                Poll::Ready(Ok(response.take().expect("a refused request's future is polled once")))
            }
            Projected::Running { answer, websocket } => {
                let res = match std::task::ready!(answer.poll(cx)) {
                    Ok(Ok(res)) => res,
                    Ok(Err(never)) => match never {},
                    Err(_elapsed) => StatusCode::REQUEST_TIMEOUT.into_response(),
                };
                Poll::Ready(Ok(in_error_shape(res, *websocket)))
            }
        }
    }
}

/// `res` unchanged unless it is an error whose body is not JSON; then the error shape.
fn in_error_shape(res: Response, websocket: bool) -> Response {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) || body::is_json(res.headers()) {
        return res;
    }
    let (code, message) = match status {
        StatusCode::NOT_FOUND => ("not_found", "The relay has no endpoint at this path."),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "This endpoint does not answer this method."),
        StatusCode::PAYLOAD_TOO_LARGE => {
            ("payload_too_large", "The request body is larger than this endpoint accepts.")
        }
        StatusCode::REQUEST_TIMEOUT => {
            ("request_timeout", "The request took too long to arrive or to answer; try again.")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("unsupported_media_type", "Send the request body as JSON with 'Content-Type: application/json'.")
        }
        StatusCode::BAD_REQUEST | StatusCode::UPGRADE_REQUIRED if websocket => (
            "websocket_required",
            "This endpoint is a WebSocket: open it with a WebSocket client (GET with 'Upgrade: websocket').",
        ),
        s if s.is_client_error() => ("bad_request", "The relay could not read this request."),
        _ => ("internal_error", "The relay failed to answer this request; try again."),
    };
    let mut json = ApiError::new(status, code, message).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = res.headers().get(&name) {
            json.headers_mut().insert(name, v.clone());
        }
    }
    json
}
