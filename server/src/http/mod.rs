//! Assembles the HTTP application: routes, the OpenAPI service, docs, metrics, and the
//! middleware stack around them.

pub mod allow;
pub mod conn;
pub mod deadline;
pub mod either;
pub mod middleware;
#[cfg(target_os = "linux")]
pub mod rewind;
#[cfg(target_os = "linux")]
pub mod sendfile;
pub mod stopping;
pub mod tls_acceptor;

use poem::http::{Method, StatusCode};
use poem::middleware::Cors;
use poem::web::Data;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, handler};

use crate::error::json_error;
use crate::state::AppState;
use crate::{api, installers, relay, web};

/// The whole application, ready to serve.
pub fn app(state: AppState) -> impl Endpoint {
    let api = api::service();
    let cors_origins = state.settings.cors_origins.clone();
    let cors = Cors::new()
        .allow_origins(cors_origins.iter().map(String::as_str))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers(["content-type", "authorization", "x-csrf-token", "x-request-id"])
        .expose_headers(["x-request-id", "retry-after"]);

    Route::new()
        .at("/api/openapi.json", api.spec_endpoint())
        .nest("/docs", api.swagger_ui())
        .at("/metrics", metrics)
        .at("/api/v1/agent/connect", get(relay::agent_socket::agent_connect))
        .at("/api/v1/orgs/:org/sessions/:session/attach", get(relay::viewer_socket::attach))
        .nest_no_strip("/api/v1", api)
        .at("/api/v1/billing/stripe/webhook", poem::post(api::billing::stripe_webhook))
        .at("/install.sh", get(installers::install_sh))
        .at("/install.ps1", get(installers::install_ps1))
        .at("/.well-known/sessionforge/signing-key", get(signing_key))
        .at("/assets/:name", get(web::asset))
        .at("/", get(web::page))
        .at("/*path", get(web::page))
        .around(middleware::limit_body)
        .catch_all_error(crate::error::render)
        .with_if(!cors_origins.is_empty(), cors)
        .around(middleware::observe)
        .data(state)
}

/// The public key release manifests are signed with, at a well-known path (the first one, when
/// several are trusted).
#[handler]
fn signing_key(state: Data<&AppState>) -> Response {
    match crate::releases::signing::trusted_keys(&state.settings.releases, &state.keys).into_iter().next() {
        Some(key) => poem::web::Json(key).into_response(),
        None => json_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "no trusted release key"),
    }
}

/// Prometheus text exposition. With `metrics.token` set it takes that bearer token; without one
/// only clients on this machine may read it (never through a proxy, which would make every
/// client look local).
#[handler]
fn metrics(req: &Request, state: Data<&AppState>) -> Response {
    let token = &state.settings.metrics.token;
    if token.is_empty() {
        let local = req.remote_addr().as_socket_addr().is_some_and(|a| a.ip().is_loopback());
        let proxied = req.headers().contains_key("x-forwarded-for") || req.headers().contains_key("forwarded");
        if !local || proxied {
            return json_error(
                StatusCode::FORBIDDEN,
                "METRICS_FORBIDDEN",
                "metrics are readable from this machine only; set metrics.token to read them from elsewhere",
            );
        }
    } else {
        let sent = req
            .headers()
            .get(poem::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !crate::auth::tokens::secure_eq(sent.trim().as_bytes(), token.as_bytes()) {
            return json_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "send the metrics token as a bearer token");
        }
    }
    state
        .metrics
        .render(state.store.pool_stats())
        .with_content_type("text/plain; version=0.0.4; charset=utf-8")
        .into_response()
}
