//! Prometheus metrics: request counts and latencies by route, open connections, in-flight
//! requests, the database pool, and the relay's own latency. Served as text at `/metrics`.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::store::PoolStats;

/// Latency buckets in seconds: sub-millisecond API reads up to slow multi-second requests.
const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
/// Relay latency buckets in seconds: tens of microseconds (the target is a p99 under 1 ms) up
/// to a viewer stuck behind a slow network.
const RELAY_BUCKETS: &[f64] =
    &[0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.000_75, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1, 0.5, 2.0];

#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pub open_connections: IntGauge,
    /// Connections closed at once because the connection caps were reached.
    pub refused_connections: IntCounter,
    pub in_flight: IntGauge,
    db_pool: IntGaugeVec,
    /// Live output: received from an agent until written to a viewer's socket (one sample per
    /// frame and viewer), the server's own share of what viewers wait.
    pub relay_output_latency: Histogram,
    /// Release download bytes the kernel sent with `sendfile(2)` (plain HTTP).
    pub sendfile_bytes: IntCounter,
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
        let refused_connections = IntCounter::new(
            "refused_connections_total",
            "Connections closed at once because a connection cap was reached",
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        let in_flight =
            IntGauge::new("http_requests_in_flight", "Requests being handled").unwrap_or_else(|e| unreachable!("{e}"));
        let db_pool = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database connections by role and state"),
            &["role", "state"],
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        let relay_output_latency = Histogram::with_opts(
            HistogramOpts::new(
                "relay_output_latency_seconds",
                "Live output from received (agent) to written (viewer socket), per frame and viewer",
            )
            .buckets(RELAY_BUCKETS.to_vec()),
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        let sendfile_bytes = IntCounter::new(
            "download_sendfile_bytes_total",
            "Release download bytes sent with sendfile(2) over plain HTTP",
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(sendfile_bytes.clone()),
            Box::new(latency.clone()),
            Box::new(open_connections.clone()),
            Box::new(refused_connections.clone()),
            Box::new(in_flight.clone()),
            Box::new(db_pool.clone()),
            Box::new(relay_output_latency.clone()),
        ] {
            let _ = registry.register(c);
        }
        Self {
            registry,
            requests,
            latency,
            open_connections,
            refused_connections,
            in_flight,
            db_pool,
            relay_output_latency,
            sendfile_bytes,
        }
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

/// The route a request path matched, as a low-cardinality label: the template of a known
/// route (`/api/v1/orgs/{org_id}/machines`), `dashboard` for the dashboard's pages and assets,
/// or `unmatched`. Never the raw path, so that clients cannot grow the metrics without bound.
pub fn route_label(path: &str) -> &'static str {
    if !path.starts_with("/api/") {
        return match path {
            "/metrics" => "/metrics",
            "/install.sh" => "/install.sh",
            "/install.ps1" => "/install.ps1",
            "/.well-known/sessionforge/signing-key" => "/.well-known/sessionforge/signing-key",
            p if p == "/docs" || p.starts_with("/docs/") => "/docs",
            p if p.starts_with("/assets/") || crate::web::is_dashboard_path(p) => "dashboard",
            _ => "unmatched",
        };
    }
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    templates()
        .iter()
        .find(|t| {
            t.segments.len() == segments.len()
                && t.segments.iter().zip(&segments).all(|(t, s)| t.starts_with('{') || t == s)
        })
        .map_or("unmatched", |t| t.label)
}

/// A request method as a label: the standard ones, else `other`.
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

struct Template {
    label: &'static str,
    segments: Vec<&'static str>,
}

/// Every API route: the OpenAPI document's paths and the two WebSocket endpoints.
fn templates() -> &'static [Template] {
    static TEMPLATES: std::sync::OnceLock<Vec<Template>> = std::sync::OnceLock::new();
    TEMPLATES.get_or_init(|| {
        let spec: serde_json::Value = serde_json::from_str(&crate::api::spec_json()).unwrap_or_default();
        let mut paths: Vec<String> = spec["paths"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
        paths.push("/api/openapi.json".into());
        paths.push("/api/v1/agent/connect".into());
        paths.push("/api/v1/orgs/{org_id}/sessions/{id}/attach".into());
        paths
            .into_iter()
            .map(|p| {
                // Leaked once at start: labels must be 'static for the metrics' label values.
                let label: &'static str = Box::leak(p.into_boxed_str());
                Template { label, segments: label.trim_end_matches('/').split('/').skip(1).collect() }
            })
            .collect()
    })
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
        m.relay_output_latency.observe(0.0003);
        let text = m.render(PoolStats { readers_open: 2, readers_idle: 1, writer_busy: false });
        assert!(text.contains("sessionforge_relay_output_latency_seconds_bucket{le=\"0.0005\"} 1"), "{text}");
    }

    #[test]
    fn routes_become_their_templates_and_anything_else_one_label() {
        assert_eq!(
            route_label("/api/v1/orgs/0192f4a8-8a4e-7c3e-9d1f-2b2c3d4e5f60/members"),
            "/api/v1/orgs/{org_id}/members"
        );
        assert_eq!(route_label("/api/v1/orgs/x/sessions/y/attach"), "/api/v1/orgs/{org_id}/sessions/{id}/attach");
        assert_eq!(route_label("/assets/app-abc.js"), "dashboard");
        assert_eq!(route_label("/api/v1/health"), "/api/v1/health");
        assert_eq!(route_label("/api/v1/made-up-path-12345"), "unmatched");
        assert_eq!(route_label("/wp-login.php"), "unmatched");
        assert_eq!(method_label("BREW"), "other");
    }
}
