//! Prometheus metrics at `/metrics` (text format 0.0.4): pairings by flow, redeem
//! conflicts, refreshes by outcome, rate-limited requests by limit, live sockets, and a
//! latency histogram per route. Counters are per instance; Prometheus sums instances.
//! Labels are route templates and fixed words, never ids or anything a client chose.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tower::{Layer, Service};

use crate::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FlowLabel {
    /// `token` (one-click) or `code`.
    pub flow: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabel {
    pub limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabel {
    pub table: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: &'static str,
    pub route: RouteName,
    pub status: u16,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    pub pairings_started: Family<FlowLabel, Counter>,
    pub pairings_completed: Family<FlowLabel, Counter>,
    pub pairings_denied: Counter,
    pub redeem_conflicts: Counter,
    pub refreshes: Family<OutcomeLabel, Counter>,
    pub rate_limited: Family<LimitLabel, Counter>,
    pub live_sockets: Gauge,
    /// `errand_result` frames not taken, by reason (`other_socket`, `unknown`).
    pub errand_results_ignored: Family<ReasonLabel, Counter>,
    /// Sockets closed because a newer socket of the same binding took over.
    pub sockets_replaced: Counter,
    /// Sockets closed because their access token expired without a renewing `auth`.
    pub sockets_expired: Counter,
    latency: LatencyFamily,
    /// Rows the cleanup deleted, by table (`cleanup.rs`).
    pub cleanup_removed: Family<TableLabel, Counter>,
    /// Webhook delivery attempts by outcome (`webhooks.rs`).
    pub webhook_deliveries: Family<OutcomeLabel, Counter>,
}

fn latency_histogram() -> Histogram {
    // 0.1 ms … ~1.6 s
    Histogram::new(exponential_buckets(0.0001, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut m = Self {
            pairings_started: Family::default(),
            pairings_completed: Family::default(),
            pairings_denied: Counter::default(),
            redeem_conflicts: Counter::default(),
            refreshes: Family::default(),
            rate_limited: Family::default(),
            live_sockets: Gauge::default(),
            errand_results_ignored: Family::default(),
            sockets_replaced: Counter::default(),
            sockets_expired: Counter::default(),
            latency: Family::new_with_constructor(latency_histogram),
            registry: Registry::with_prefix("latch"),
            cleanup_removed: Family::default(),
            webhook_deliveries: Family::default(),
        };
        m.registry.register(
            "pairings_started",
            "Pairings started (token minted, code requested)",
            m.pairings_started.clone(),
        );
        m.registry.register(
            "pairings_completed",
            "Pairings completed (token redeemed, code delivered)",
            m.pairings_completed.clone(),
        );
        m.registry.register(
            "pairings_denied",
            "Pairing codes denied: by the browser user, withdrawn by the approving app, or by the owner",
            m.pairings_denied.clone(),
        );
        m.registry.register(
            "redeem_conflicts",
            "Redeems of a pairing token that was already used",
            m.redeem_conflicts.clone(),
        );
        m.registry.register("refreshes", "Refresh-token uses by outcome", m.refreshes.clone());
        m.registry.register("rate_limited", "Requests refused by an abuse limit", m.rate_limited.clone());
        m.registry.register("live_sockets", "Extension sockets connected to this instance", m.live_sockets.clone());
        m.registry.register(
            "errand_results_ignored",
            "errand_result frames not taken: from a socket the errand was not sent to, or for no waiting errand",
            m.errand_results_ignored.clone(),
        );
        m.registry.register(
            "sockets_replaced",
            "Extension sockets closed because a newer socket of the same binding took over",
            m.sockets_replaced.clone(),
        );
        m.registry.register(
            "sockets_expired",
            "Extension sockets closed at their access token's expiry (no renewing auth)",
            m.sockets_expired.clone(),
        );
        m.registry.register("http_request_duration_seconds", "Time to answer a request, by route", m.latency.clone());
        m.registry.register(
            "cleanup_removed",
            "Rows deleted by the cleanup (expired past retention, or of revoked bindings), by table",
            m.cleanup_removed.clone(),
        );
        m.registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts: delivered (2xx), retry (will be tried again), failed (given up after 24 h)",
            m.webhook_deliveries.clone(),
        );
        // Every series exists from the start, so dashboards and rate() see zeros, not gaps.
        for flow in ["token", "code"] {
            let _ = m.pairings_started.get_or_create(&FlowLabel { flow });
            let _ = m.pairings_completed.get_or_create(&FlowLabel { flow });
        }
        for reason in ["other_socket", "unknown"] {
            let _ = m.errand_results_ignored.get_or_create(&ReasonLabel { reason });
        }
        for outcome in ["ok", "bound_key", "wrong_key", "reused", "revoked", "idle", "invalid"] {
            let _ = m.refreshes.get_or_create(&OutcomeLabel { outcome });
        }
        for outcome in ["delivered", "retry", "failed"] {
            let _ = m.webhook_deliveries.get_or_create(&OutcomeLabel { outcome });
        }
        for table in crate::cleanup::TABLES {
            let _ = m.cleanup_removed.get_or_create(&TableLabel { table });
        }
        m
    }
}

impl Metrics {
    pub fn started(&self, flow: &'static str) {
        self.pairings_started.get_or_create(&FlowLabel { flow }).inc();
    }

    pub fn completed(&self, flow: &'static str) {
        self.pairings_completed.get_or_create(&FlowLabel { flow }).inc();
    }

    pub fn refreshed(&self, outcome: &'static str) {
        self.refreshes.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    /// A webhook send: `delivered`, `retry` (not delivered, tried again) or `failed` (given up).
    pub fn webhook_sent(&self, outcome: &'static str) {
        self.webhook_deliveries.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    pub fn cleanup_removed(&self, table: &'static str, rows: u64) {
        self.cleanup_removed.get_or_create(&TableLabel { table }).inc_by(rows);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}

/// The metrics listener's routes (`--metrics-listen`): `GET /metrics` only, never on the
/// public listener, where anyone could read traffic levels and error rates.
pub fn router(state: AppState) -> axum::Router {
    axum::Router::new().route("/metrics", axum::routing::get(serve)).with_state(state)
}

/// `GET /metrics`.
pub async fn serve(State(s): State<AppState>) -> Response {
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], s.metrics.render()).into_response()
}

/// The latency of every routed request, by route template, method and status: a
/// `route_layer` (`app()`). A `Layer` with its own future rather than
/// `axum::middleware::from_fn`, and labels that borrow instead of allocating: this runs on
/// every request, and the `from_fn` form (a boxed clone of the inner service, a boxed
/// future, two `String`s) cost ~2,400 instructions per `GET /api/me` more (callgrind,
/// BENCHMARKS.md).
#[derive(Clone)]
pub struct LatencyLayer(pub AppState);

impl<S> Layer<S> for LatencyLayer {
    type Service = Latency<S>;
    fn layer(&self, inner: S) -> Latency<S> {
        Latency { inner, state: self.0.clone() }
    }
}

#[derive(Clone)]
pub struct Latency<S> {
    inner: S,
    state: AppState,
}

impl<S> Service<Request> for Latency<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Timed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let route = RouteName(req.extensions().get::<MatchedPath>().cloned());
        let method = method_label(req.method());
        let started = Instant::now();
        Timed { answer: self.inner.call(req), pending: Some((route, method, started, self.state.clone())) }
    }
}

pin_project_lite::pin_project! {
    /// A routed request's answer; observed in the histogram when it is ready.
    pub struct Timed<F> {
        #[pin]
        answer: F,
        pending: Option<(RouteName, &'static str, Instant, AppState)>,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Timed<F> {
    type Output = Result<Response, Infallible>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(res) = std::task::ready!(this.answer.poll(cx));
        if let Some((route, method, started, state)) = this.pending.take() {
            let labels = RouteLabels { method, route, status: res.status().as_u16() };
            state.metrics.latency.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
        }
        Poll::Ready(Ok(res))
    }
}

/// The methods the relay routes, as label values; anything else is "other" (a label never
/// carries what a client chose).
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// A route template as a label value, shared with the router instead of copied.
#[derive(Clone, Debug)]
pub struct RouteName(Option<MatchedPath>);

impl RouteName {
    fn as_str(&self) -> &str {
        self.0.as_ref().map_or("unmatched", MatchedPath::as_str)
    }
}

impl PartialEq for RouteName {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RouteName {}

impl std::hash::Hash for RouteName {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.as_str().hash(h);
    }
}

impl EncodeLabelValue for RouteName {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_the_latch_prefix() {
        let m = Metrics::default();
        m.started("token");
        m.completed("code");
        m.refreshed("reused");
        m.redeem_conflicts.inc();
        let text = m.render();
        for line in [
            "latch_pairings_started_total{flow=\"token\"} 1",
            "latch_pairings_completed_total{flow=\"code\"} 1",
            "latch_refreshes_total{outcome=\"reused\"} 1",
            "latch_redeem_conflicts_total 1",
            "latch_live_sockets 0",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }
}
