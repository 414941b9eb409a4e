//! The viewer socket, `GET /api/v1/orgs/{org}/sessions/{id}/attach?from=OFFSET`: replays stored
//! output from any offset, then follows live output. Members and above may type and resize;
//! viewers get a clear refusal. A viewer that falls behind (or pauses) never slows anyone else:
//! it lags on the bounded broadcast and is resynced from storage.

use std::sync::Arc;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use poem::http::StatusCode;
use poem::web::websocket::{Message, WebSocket, WebSocketStream};
use poem::web::{Data, Path, Query};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;
use sessionforge_shared::frame;
use sessionforge_shared::ids::{OrgId, SessionId};
use sessionforge_shared::protocol::{ServerMessage, ViewerEvent, ViewerMessage};
use sessionforge_shared::roles::Role;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::hub::{Hub, Item, LiveSession};
use super::ws_config;
use crate::auth::principal::{Auth, Via};
use crate::error::{ApiError, json_error};
use crate::state::AppState;
use crate::store::api_keys::Scope;

/// Stored output read per database round trip during a replay.
const REPLAY_PAGE: usize = 256 * 1024;
/// Most queued items written before one flush.
const WRITE_BATCH: usize = 64;
/// Largest input message a viewer may send.
const MAX_INPUT: usize = 64 * 1024;

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
    let hub = state.relay.hub.clone();
    let live = match hub.live(id).await {
        Ok(l) => l,
        Err(e) => return ApiError::from(e).into_response(),
    };
    ws.config(ws_config())
        .on_upgrade(move |socket| async move {
            let (sink, stream) = socket.split();
            let mut viewer = Viewer { hub, live, sink, pos: query.from, can_input };
            if let Err(e) = viewer.run(stream).await {
                tracing::debug!(error = %e, "viewer disconnected");
            }
        })
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

struct Viewer {
    hub: Arc<Hub>,
    live: Arc<LiveSession>,
    sink: SplitSink<WebSocketStream, Message>,
    /// Everything before this offset has been delivered (or reported as a gap).
    pos: u64,
    can_input: bool,
}

type WsResult = std::io::Result<()>;

impl Viewer {
    async fn run(&mut self, mut stream: futures_util::stream::SplitStream<WebSocketStream>) -> WsResult {
        // A viewer may ask for an offset beyond what the server has (it saw live output that
        // was not stored before a crash): it then waits for the agent to resend from there.
        let mut sub = self.hub.subscribe(&self.live, self.pos);
        let state = sub.state;
        self.event(&ViewerEvent::Attached {
            session_id: self.live.id,
            can_input: self.can_input,
            state,
            exit_code: sub.exit_code,
            from: self.pos.max(sub.retained_from),
            end: sub.live_end,
        })
        .await?;
        self.catch_up(&mut sub.snapshot, sub.tail_start, sub.retained_from).await?;
        let mut paused = false;
        loop {
            tokio::select! {
                item = sub.rx.recv(), if !paused => match item {
                    Ok(item) => {
                        // Send whatever else is already waiting in one flush.
                        self.feed(&item).await?;
                        let mut more = 0;
                        while more < WRITE_BATCH {
                            match sub.rx.try_recv() {
                                Ok(next) => self.feed(&next).await?,
                                Err(_) => break,
                            }
                            more += 1;
                        }
                        self.sink.flush().await?;
                    }
                    Err(RecvError::Lagged(_)) => {
                        self.event(&ViewerEvent::Resync { from: self.pos }).await?;
                        sub = self.hub.subscribe(&self.live, self.pos);
                        self.catch_up(&mut sub.snapshot, sub.tail_start, sub.retained_from).await?;
                    }
                    Err(RecvError::Closed) => return Ok(()),
                },
                msg = stream.next() => match msg {
                    Some(Ok(Message::Text(text))) => match serde_json::from_str::<ViewerMessage>(&text) {
                        Ok(ViewerMessage::Pause) => paused = true,
                        Ok(ViewerMessage::Resume) => paused = false,
                        Ok(m) => self.command(m).await?,
                        Err(e) => self.error("BAD_MESSAGE", &format!("cannot parse message: {e}")).await?,
                    },
                    Some(Ok(Message::Close(_))) | None => return Ok(()),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e),
                },
            }
        }
    }

    /// Replays storage from `pos` up to `tail_start`, then the unstored snapshot, then says
    /// "live".
    async fn catch_up(&mut self, snapshot: &mut Vec<Item>, tail_start: u64, retained_from: u64) -> WsResult {
        if self.pos < retained_from {
            let (offset, length) = (self.pos, retained_from - self.pos);
            self.event(&ViewerEvent::Gap { offset, length }).await?;
            self.pos = retained_from;
        }
        while self.pos < tail_start {
            let chunks = self
                .hub
                .store()
                .read_output(self.live.id, self.pos, tail_start, REPLAY_PAGE)
                .await
                .map_err(std::io::Error::other)?;
            if chunks.is_empty() {
                break;
            }
            for c in chunks {
                let item = match c.data {
                    Some(data) => Item::Output {
                        offset: c.start,
                        end: c.end,
                        frame: frame::encode_output(self.live.id, c.start, &data).into(),
                    },
                    None => Item::Gap { offset: c.start, length: c.end - c.start },
                };
                self.feed(&item).await?;
            }
            self.sink.flush().await?;
        }
        for item in std::mem::take(snapshot) {
            self.feed(&item).await?;
        }
        let offset = self.pos;
        self.event(&ViewerEvent::Live { offset }).await
    }

    /// Queues an item without flushing, skipping or trimming what the viewer already has.
    async fn feed(&mut self, item: &Item) -> WsResult {
        match item {
            Item::Output { offset, end, frame: bytes } => {
                if *end <= self.pos {
                    return Ok(());
                }
                let msg = if *offset >= self.pos {
                    bytes.to_vec()
                } else {
                    let skip = usize::try_from(self.pos - offset).unwrap_or(0);
                    frame::encode_output(self.live.id, self.pos, &bytes[frame::HEADER_LEN + skip..])
                };
                self.pos = *end;
                self.sink.feed(Message::Binary(msg)).await?;
            }
            Item::Gap { offset, length } => {
                let end = offset + length;
                if end <= self.pos {
                    return Ok(());
                }
                let start = (*offset).max(self.pos);
                self.pos = end;
                self.sink.feed(event_message(&ViewerEvent::Gap { offset: start, length: end - start })).await?;
            }
            Item::State { state, exit_code } => {
                self.sink.feed(event_message(&ViewerEvent::State { state: *state, exit_code: *exit_code })).await?;
            }
        }
        Ok(())
    }

    async fn command(&mut self, msg: ViewerMessage) -> WsResult {
        let session_id = self.live.id;
        let to_agent = match msg {
            ViewerMessage::Input { data } if data.len() <= MAX_INPUT => ServerMessage::Input { session_id, data },
            ViewerMessage::Input { .. } => {
                return self.error("INPUT_TOO_LARGE", "input messages are limited to 64 KiB").await;
            }
            ViewerMessage::Resize { cols, rows } if cols > 0 && rows > 0 => {
                ServerMessage::Resize { session_id, cols, rows }
            }
            ViewerMessage::Resize { .. } => return self.error("BAD_SIZE", "cols and rows must be positive").await,
            _ => return Ok(()),
        };
        if !self.can_input {
            return self.error("READ_ONLY", "your role in this org can watch this session but not type into it").await;
        }
        if self.hub.send_to_owner(session_id, to_agent).is_err() {
            return self.error("NOT_CONNECTED", "the session's agent is not connected").await;
        }
        Ok(())
    }

    async fn event(&mut self, ev: &ViewerEvent) -> WsResult {
        self.sink.send(event_message(ev)).await
    }

    async fn error(&mut self, code: &str, message: &str) -> WsResult {
        self.event(&ViewerEvent::Error { code: code.into(), message: message.into() }).await
    }
}

fn event_message(ev: &ViewerEvent) -> Message {
    Message::Text(serde_json::to_string(ev).unwrap_or_else(|_| "{}".into()))
}
