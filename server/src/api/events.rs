//! `GET /api/v1/orgs/{org_id}/events`: a server-sent event stream telling a dashboard which of
//! the org's lists changed (`machines`, `sessions`), so that it refetches them instead of
//! polling. `resync` means notices were missed: refetch everything.
//!
//! Abandoned streams must not pile up: each user holds at most
//! `connections.event_streams_per_user` (opening one more ends the oldest), and a keep-alive
//! comment goes out at once and every few seconds, so that a client that went away is noticed
//! when the write fails rather than when the connection times out.

use std::time::Duration;

use futures_util::stream::{self, BoxStream, StreamExt};
use poem::web::Data;
use poem::{IntoResponse, Response};
use poem_openapi::param::Path;
use poem_openapi::payload::EventStream;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::{ApiResponse, Object, OpenApi};
use sessionforge_shared::ids::OrgId;
use sessionforge_shared::protocol::SessionState;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::ApiTags;
use super::event_streams::Slot;
use super::orgs::scope;
use crate::access::{AccessGuard, Grant};
use crate::auth::principal::Auth;
use crate::error::ApiError;
use crate::relay::events::Change;
use crate::state::AppState;

/// Comment lines sent on an idle stream, so that proxies and browsers keep it open and a client
/// that went away is noticed (its second write fails).
const KEEP_ALIVE: Duration = Duration::from_secs(5);

pub struct EventsApi;

#[derive(Object, Debug, Clone, PartialEq, Eq)]
#[oai(skip_serializing_if_is_none)]
pub struct OrgEventDto {
    /// `hello`: the stream is live. `machines` or `sessions`: that list changed. `resync`:
    /// notices were missed, refetch all.
    /// `session`: one session started or stopped waiting for its user, or ended (the fields
    /// below say which). `access_revoked`: your access to the org ended (removed, disabled,
    /// signed out, key revoked); the stream ends after it.
    pub kind: String,
    pub session_id: Option<Uuid>,
    pub state: Option<SessionState>,
    pub exit_code: Option<i32>,
    pub waiting_for_input: Option<bool>,
}

impl OrgEventDto {
    fn list(kind: &str) -> Self {
        Self { kind: kind.into(), session_id: None, state: None, exit_code: None, waiting_for_input: None }
    }

    fn from_change(change: Change) -> Self {
        match change {
            Change::Session(n) => Self {
                kind: change.as_str().into(),
                session_id: Some(n.id.0),
                state: Some(n.state),
                exit_code: n.exit_code,
                waiting_for_input: Some(n.waiting_for_input),
            },
            other => Self::list(other.as_str()),
        }
    }
}

/// The event stream. poem-openapi's `EventStream` documents its body as a JSON array of the
/// events, which no client reads it as; before OpenAPI 3.2 the schema of `text/event-stream`
/// describes one event (its `event` and `data` fields), so that is what this documents.
pub struct OrgEvents(EventStream<BoxStream<'static, OrgEventDto>>);

impl IntoResponse for OrgEvents {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

fn event_schema() -> MetaSchema {
    let text = |description: &'static str| {
        MetaSchemaRef::Inline(Box::new(MetaSchema { description: Some(description), ..MetaSchema::new("string") }))
    };
    let data = r#"{"kind":"session","session_id":"0190a4c2-58e1-7c3e-8d7f-5b0e2f6c1a9d","state":"exited","exit_code":0,"waiting_for_input":false}"#;
    MetaSchema {
        description: Some(
            "One server-sent event; its `data` is an `OrgEventDto` (`kind`, and for `session` events \
             `session_id`, `state`, `exit_code`, `waiting_for_input`). Idle streams also carry \
             keep-alive comment lines.",
        ),
        example: Some(serde_json::json!({ "event": "message", "data": data })),
        required: vec!["data"],
        properties: vec![("event", text("Always `message`.")), ("data", text("An `OrgEventDto` as JSON."))],
        ..MetaSchema::new("object")
    }
}

impl ApiResponse for OrgEvents {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "Change notices, as server-sent events whose `data` is an `OrgEventDto`.",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: "text/event-stream",
                    schema: MetaSchemaRef::Inline(Box::new(event_schema())),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(_registry: &mut Registry) {
        // Nothing to register: OpenAPI 3.0 cannot point a string's JSON content at a schema
        // (`contentSchema` is newer), so `OrgEventDto` is described in words and an example.
    }
}

#[OpenApi(prefix_path = "/api/v1/orgs", tag = "ApiTags::Orgs")]
impl EventsApi {
    /// Live change notices for the org's machines and sessions (server-sent events).
    #[oai(path = "/:org_id/events", method = "get")]
    async fn events(&self, state: Data<&AppState>, auth: Auth, org_id: Path<Uuid>) -> Result<OrgEvents, ApiError> {
        let org = scope(&state, &auth, org_id.0).await?.org_id();
        let rx = state.relay.hub.events.subscribe();
        let slot = state.event_streams.open(auth.user.id, state.settings.connections.event_streams_per_user);
        let access = state.access.register(auth.user.id, auth.credential(&state.keys), Some(org));
        // The first notice says the stream is live; it also finds a client that left at once.
        let hello = stream::once(async { OrgEventDto::list("hello") });
        Ok(OrgEvents(EventStream::new(hello.chain(notices(org, rx, slot, access)).boxed()).keep_alive(KEEP_ALIVE)))
    }
}

fn notices(
    org: OrgId,
    rx: tokio::sync::broadcast::Receiver<crate::relay::events::OrgEvent>,
    slot: Slot,
    access: AccessGuard,
) -> BoxStream<'static, OrgEventDto> {
    // `None` once access was revoked: the stream says so, then ends.
    stream::unfold(Some((rx, slot, access)), move |open| async move {
        let (mut rx, mut slot, mut access) = open?;
        loop {
            let ev = tokio::select! {
                ev = rx.recv() => ev,
                () = slot.evicted() => return None,
                grant = access.changed() => match grant {
                    Grant::Revoked => return Some((OrgEventDto::list("access_revoked"), None)),
                    Grant::ReadOnly | Grant::Full => continue,
                },
            };
            match ev {
                Ok(ev) if ev.org == org => {
                    return Some((OrgEventDto::from_change(ev.change), Some((rx, slot, access))));
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => return Some((OrgEventDto::list("resync"), Some((rx, slot, access)))),
                Err(RecvError::Closed) => return None,
            }
        }
    })
    .boxed()
}
