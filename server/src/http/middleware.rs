//! The request pipeline around every endpoint: request ids, tracing, metrics, security headers,
//! `Allow` on 405 answers, and the request body limit.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::{Body, Endpoint, IntoResponse, Request, Response};
use tracing::Instrument;

use crate::error::{ApiError, json_error};
use crate::metrics::{method_label, route_label};
use crate::state::AppState;

/// Header carrying the request id, accepted from the client when well-formed.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Longest client-supplied request id we accept (longer ones are replaced).
const MAX_REQUEST_ID_LEN: usize = 64;

/// Content-Security-Policy for API responses and the dashboard: same-origin only, never framed.
const CSP_DEFAULT: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
/// The interactive API docs page bootstraps itself with inline script.
const CSP_DOCS: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";
/// One year, the usual HSTS lifetime.
const HSTS: &str = "max-age=31536000";

/// Request id, span, metrics, access log and security headers, outermost in the stack.
pub async fn observe<E: Endpoint>(ep: Arc<E>, mut req: Request) -> poem::Result<Response> {
    let state = req.data::<AppState>().cloned();
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= MAX_REQUEST_ID_LEN)
        .filter(|v| v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        req.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let span = tracing::info_span!("request", id = %request_id, method = %method, path = %path);

    let started = Instant::now();
    if let Some(s) = &state {
        s.metrics.in_flight.inc();
    }
    let mut resp = match ep.call(req).instrument(span.clone()).await {
        Ok(r) => r.into_response(),
        Err(e) => crate::error::render(e).await,
    };
    let elapsed = started.elapsed();
    let status = resp.status();

    let tls = state.as_ref().is_some_and(|s| s.settings.tls.enabled);
    set_security_headers(&mut resp, &path, tls);
    if status == StatusCode::METHOD_NOT_ALLOWED {
        super::allow::add_to(&mut resp, &path);
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    if let Some(s) = &state {
        s.metrics.in_flight.dec();
        s.metrics.observe(method_label(method.as_str()), route_label(&path), status.as_u16(), elapsed.as_secs_f64());
    }
    span.in_scope(|| {
        let ms = elapsed.as_secs_f64() * 1000.0;
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), ms, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), ms, "request");
        }
    });
    Ok(resp)
}

fn set_security_headers(resp: &mut Response, path: &str, tls: bool) {
    let h = resp.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    let csp = if path.starts_with("/docs") { CSP_DOCS } else { CSP_DEFAULT };
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    if tls {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
}

/// How much of an oversized body we read and discard before answering 413. Answering while the
/// client is still sending makes many clients see a reset instead of our response (the
/// "lingering close" problem), so modest excess is drained; anything bigger is cut off.
const DRAIN_CAP: u64 = 16 * 1024 * 1024;
/// The one endpoint whose body is not buffered here: the release upload counts its own bytes.
const RELEASE_UPLOAD_PATH: &str = "/api/v1/releases";
/// How long draining may take.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Rejects bodies over the configured limit with 413, whether or not they declare a length.
pub async fn limit_body<E: Endpoint>(ep: Arc<E>, mut req: Request) -> poem::Result<Response> {
    // Publishing a release streams its artifact to disk under its own, larger limit.
    let upload = req.method() == Method::POST && req.uri().path().trim_end_matches('/') == RELEASE_UPLOAD_PATH;
    let limit = req
        .data::<AppState>()
        .map(|s| if upload { s.settings.releases.max_upload_bytes } else { s.settings.body_limit_bytes })
        .unwrap_or(1024 * 1024);
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > limit => {
            if len <= DRAIN_CAP {
                let _ = read_at_most(req.take_body(), DRAIN_CAP).await;
            }
            return Ok(too_large(limit));
        }
        Some(_) => {}
        None if upload => {}
        None if has_streamed_body(&req) => match read_at_most(req.take_body(), limit).await {
            Ok(Some(bytes)) => req.set_body(Body::from(bytes)),
            Ok(None) => return Ok(too_large(limit)),
            Err(e) => {
                return Ok(json_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", &format!("cannot read body: {e}")));
            }
        },
        None => {}
    }
    ep.call(req).await.map(IntoResponse::into_response)
}

/// Reads the whole body if it is at most `limit` bytes. If it is longer, discards the rest (up
/// to [`DRAIN_CAP`] within [`DRAIN_TIMEOUT`]) and returns `None`.
async fn read_at_most(body: Body, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut stream = body.into_bytes_stream();
    let mut buf = Vec::new();
    let mut seen: u64 = 0;
    let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
    loop {
        let next = match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(next) => next,
            Err(_) if seen > limit => return Ok(None),
            Err(_) => return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "body too slow")),
        };
        let Some(chunk) = next else { break };
        let chunk = chunk?;
        seen += chunk.len() as u64;
        if seen <= limit {
            buf.extend_from_slice(&chunk);
        } else if seen > DRAIN_CAP {
            return Ok(None);
        }
    }
    Ok((seen <= limit).then_some(buf))
}

/// Whether a request without `Content-Length` may still carry a body (HTTP/1.1 chunked, or
/// HTTP/2 where the length is optional).
fn has_streamed_body(req: &Request) -> bool {
    !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
}

fn too_large(limit: u64) -> Response {
    let mut resp = ApiError::payload_too_large(limit).into_response();
    resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// The client's address. Without trusted proxies (`hops` = 0) it is the socket's peer. Behind
/// `hops` proxies that each append the address they saw to `X-Forwarded-For`, it is the entry
/// `hops` places from the right: everything left of it was written by the client and proves
/// nothing. Too few entries, or one that is not an address, fall back to the socket's peer.
pub fn client_ip(req: &Request, hops: usize) -> IpAddr {
    let peer = match req.remote_addr().as_socket_addr() {
        Some(addr) => addr.ip(),
        None => IpAddr::from([0, 0, 0, 0]),
    };
    if hops == 0 {
        return peer;
    }
    let entries: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    entries.len().checked_sub(hops).and_then(|i| entries.get(i)).and_then(|e| e.parse::<IpAddr>().ok()).unwrap_or(peer)
}
