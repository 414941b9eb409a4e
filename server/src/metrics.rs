//! Prometheus metrics: request counts and latencies by route, open connections, in-flight
//! requests and the database pool. Served as text at `/metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::store::PoolStats;

/// Latency buckets in seconds: sub-millisecond API reads up to slow multi-second requests.
const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pub open_connections: IntGauge,
    pub in_flight: IntGauge,
    db_pool: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("sessionforge".into()), None).unwrap_or_default();
        // Metric definitions are static and valid; a failure here is a programming error that
        // the unit test below catches.
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by method, route and status"),
            &["method", "route", "status"],
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency by method and route")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route"],
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        let open_connections = IntGauge::new("open_connections", "Open client connections (HTTP and WebSocket)")
            .unwrap_or_else(|e| unreachable!("{e}"));
        let in_flight =
            IntGauge::new("http_requests_in_flight", "Requests being handled").unwrap_or_else(|e| unreachable!("{e}"));
        let db_pool = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database connections by role and state"),
            &["role", "state"],
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(open_connections.clone()),
            Box::new(in_flight.clone()),
            Box::new(db_pool.clone()),
        ] {
            let _ = registry.register(c);
        }
        Self { registry, requests, latency, open_connections, in_flight, db_pool }
    }

    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests.with_label_values(&[method, route, status_label(status)]).inc();
        self.latency.with_label_values(&[method, route]).observe(seconds);
    }

    /// The text exposition, with the database pool sampled now.
    pub fn render(&self, pool: PoolStats) -> String {
        self.db_pool.with_label_values(&["reader", "open"]).set(i64::from(pool.readers_open));
        self.db_pool.with_label_values(&["reader", "idle"]).set(i64::from(pool.readers_idle));
        self.db_pool.with_label_values(&["writer", "busy"]).set(i64::from(pool.writer_busy));
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn status_label(status: u16) -> &'static str {
    // Static strings avoid an allocation per request for the common statuses.
    match status {
        200 => "200",
        201 => "201",
        204 => "204",
        101 => "101",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        409 => "409",
        413 => "413",
        429 => "429",
        500 => "500",
        s if s < 400 => "other_ok",
        s if s < 500 => "other_4xx",
        _ => "other_5xx",
    }
}

/// Collapses a request path into a low-cardinality route label: ids become `:id`, and paths
/// outside the API (dashboard assets and the like) share one label.
pub fn route_label(path: &str) -> String {
    if !path.starts_with("/api/") {
        return match path {
            "/metrics" | "/install.sh" | "/install.ps1" => path.to_string(),
            p if p.starts_with("/docs") => "/docs".into(),
            _ => "other".into(),
        };
    }
    let mut out = String::with_capacity(path.len());
    for seg in path.split('/').skip(1) {
        out.push('/');
        let looks_like_id = seg.len() >= 16 && seg.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        if looks_like_id || (!seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit())) {
            out.push_str(":id");
        } else {
            out.push_str(seg);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new();
        m.observe("GET", "/api/v1/health", 200, 0.001);
        m.open_connections.inc();
        let text = m.render(PoolStats { readers_open: 2, readers_idle: 1, writer_busy: false });
        assert!(
            text.contains("sessionforge_http_requests_total{method=\"GET\",route=\"/api/v1/health\",status=\"200\"} 1")
        );
        assert!(text.contains("sessionforge_open_connections 1"));
        assert!(text.contains("sessionforge_db_pool_connections{role=\"reader\",state=\"open\"} 2"));
        assert!(text.contains("sessionforge_http_request_duration_seconds_bucket"));
    }

    #[test]
    fn routes_collapse_ids() {
        assert_eq!(
            route_label("/api/v1/orgs/0192f4a8-8a4e-7c3e-9d1f-2b2c3d4e5f60/members"),
            "/api/v1/orgs/:id/members"
        );
        assert_eq!(route_label("/assets/index-abc.js"), "other");
        assert_eq!(route_label("/api/v1/health"), "/api/v1/health");
    }
}
