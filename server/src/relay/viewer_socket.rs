//! The viewer socket, `GET /api/v1/orgs/{org}/sessions/{id}/attach?from=OFFSET`: who may attach
//! (org members, by cookie from this origin or by API key) and who may type (members and above,
//! with a `write` key). The attached viewer itself is served by [`super::viewer`].

use poem::http::StatusCode;
use poem::web::websocket::WebSocket;
use poem::web::{Data, Path, Query};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;
use sessionforge_shared::ids::{OrgId, SessionId};
use sessionforge_shared::roles::Role;
use uuid::Uuid;

use super::ws_config;
use crate::auth::principal::{Auth, Via};
use crate::error::{ApiError, json_error};
use crate::state::AppState;
use crate::store::api_keys::Scope;

#[derive(Deserialize)]
pub struct AttachQuery {
    #[serde(default)]
    from: u64,
}

#[handler]
pub async fn attach(
    req: &Request,
    ws: WebSocket,
    state: Data<&AppState>,
    Path((org, session)): Path<(Uuid, Uuid)>,
    Query(query): Query<AttachQuery>,
) -> Response {
    let auth = match Auth::from_poem_request(req).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    if matches!(auth.via, Via::Session { .. }) && !same_origin(req, &state.settings.cors_origins) {
        return json_error(StatusCode::FORBIDDEN, "BAD_ORIGIN", "cross-site WebSocket requests are refused");
    }
    let scope = match state.store.org_scope(auth.user.id, OrgId(org)).await {
        Ok(s) => s,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let id = SessionId(session);
    if let Err(e) = state.store.session(&scope, id).await {
        return ApiError::from(e).into_response();
    }
    let can_input = scope.role().at_least(Role::Member) && auth.require(Scope::Write).is_ok();
    let guard = state.access.register(auth.user.id, auth.credential(&state.keys), Some(OrgId(org)));
    let first_input = can_input.then(|| auth.audit("session.input").org(OrgId(org)).target("session", id));
    let access = super::viewer::ViewerAccess { guard, first_input };
    let hub = state.relay.hub.clone();
    let live = match hub.live(id).await {
        Ok(l) => l,
        Err(e) => return ApiError::from(e).into_response(),
    };
    // Past what was received, a viewer may only ask for what the agent may still resend (it
    // saw live output that a crashed server never stored); anything further is refused, as the
    // REST output endpoint refuses it.
    let furthest = live.live_end().saturating_add(hub.resume_window(&live));
    if query.from > furthest {
        let message = format!("from {} is past the session's output, which ends at {}", query.from, live.live_end());
        return json_error(StatusCode::BAD_REQUEST, "INVALID_RANGE", &message);
    }
    ws.config(ws_config())
        .on_upgrade(move |socket| super::viewer::serve(hub, live, socket, query.from, can_input, access))
        .into_response()
}

/// Browsers always send `Origin` on WebSocket requests; for cookie-authenticated sockets it must
/// be this server (or an allowed CORS origin), which stops cross-site WebSocket hijacking.
fn same_origin(req: &Request, allowed: &[String]) -> bool {
    let Some(origin) = req.headers().get(poem::http::header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = req.headers().get(poem::http::header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or(origin);
    origin_host == host || allowed.iter().any(|a| a == origin)
}
