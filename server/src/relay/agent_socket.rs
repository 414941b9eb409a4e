//! The agent socket, `GET /api/v1/agent/connect`: authenticated by the machine credential,
//! opened by `hello`/`welcome`, then lifecycle messages and heartbeats as JSON text frames and
//! terminal output as binary frames. See `docs/protocol.md`.
//!
//! One credential must not be able to stall everyone: `hello` is checked like enrollment input,
//! a machine has a cap on live sessions, each connection has a byte-rate budget enforced by
//! reading its socket more slowly (backpressure, never dropping), and a connection that keeps
//! sending what cannot be parsed is told why and closed.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use poem::http::StatusCode;
use poem::web::Data;
use poem::web::websocket::{Message, WebSocket, WebSocketStream};
use poem::{IntoResponse, Request, Response, handler};
use sessionforge_shared::frame;
use sessionforge_shared::protocol::{
    AgentMessage, AgentMode, DEFAULT_AGENT_BUFFER, MIN_SUPPORTED_PROTOCOL, PROTOCOL_VERSION, ResumePoint,
    ServerMessage, SessionInfo, SessionSource, SessionState, UpdatePolicy,
};

use super::agent_messages::{ByteBudget, handle, size_of};
use super::events::Change;
use super::hub::{ConnId, Hub, RelayError};
use super::ws_config;
use crate::auth::{PURPOSE_MACHINE, tokens};
use crate::error::json_error;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::machines::Machine;
use crate::store::org_settings::AgentPolicy;

/// How long an agent has to say hello after connecting.
const HELLO_TIMEOUT: Duration = Duration::from_secs(15);
/// An agent that sends nothing for this long (three missed heartbeats) is considered gone.
const IDLE_TIMEOUT: Duration = Duration::from_secs(35);
/// Messages queued for one agent before acks start being dropped (they are cumulative).
const OUTBOX: usize = 1024;
/// Messages that cannot be parsed (or are refused) before the connection is closed.
const MAX_PROTOCOL_ERRORS: u32 = 16;
/// The largest per-session buffer an agent may declare: offsets may lead what was received by
/// at most this much.
const MAX_DECLARED_BUFFER: u64 = 16 * 1024 * 1024 * 1024;

#[handler]
pub async fn agent_connect(req: &Request, ws: WebSocket, state: Data<&AppState>) -> Response {
    let Some(token) = req
        .headers()
        .get(poem::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return json_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "send the machine credential as a bearer token");
    };
    let hash = tokens::token_hash(&state.keys, PURPOSE_MACHINE, token.trim());
    let machine = match state.store.machine_by_credential(hash).await {
        Ok(m) => m,
        Err(StoreError::NotFound) => {
            return json_error(
                StatusCode::UNAUTHORIZED,
                "INVALID_CREDENTIAL",
                "unknown or revoked machine credential; enroll this machine again",
            );
        }
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    let hub = state.relay.hub.clone();
    ws.config(ws_config()).on_upgrade(move |socket| run(hub, machine, socket)).into_response()
}

fn refusal(machine: &Machine, message: String) -> ServerMessage {
    ServerMessage::Welcome {
        accepted: false,
        protocol_version: PROTOCOL_VERSION,
        server_version: env!("CARGO_PKG_VERSION").into(),
        machine_id: machine.id,
        resume: vec![],
        message: Some(message),
        allowed_commands: vec![],
        allow_list: None,
        update_policy: None,
    }
}

/// Why `hello` is refused, if it is.
fn check_hello(hub: &Hub, protocol_version: u32, agent_version: &str, hello: &HelloParts) -> Option<String> {
    if !(MIN_SUPPORTED_PROTOCOL..=PROTOCOL_VERSION).contains(&protocol_version) {
        return Some(format!(
            "protocol {protocol_version} (agent {agent_version:?}) is not supported; this server speaks \
             {MIN_SUPPORTED_PROTOCOL}..={PROTOCOL_VERSION}: update the agent"
        ));
    }
    if let Some(problem) = hello.info.problem() {
        return Some(format!("machine facts refused: {problem}"));
    }
    let max = hub.limits.max_sessions_per_machine as usize;
    if hello.sessions.iter().filter(|s| s.source == SessionSource::Relayed).count() > max {
        return Some(format!("more than {max} relayed sessions on one machine"));
    }
    None
}

struct HelloParts {
    info: sessionforge_shared::protocol::MachineInfo,
    sessions: Vec<SessionInfo>,
}

async fn run(hub: Arc<Hub>, machine: Machine, socket: WebSocketStream) {
    let (mut sink, mut stream) = socket.split();
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str::<AgentMessage>(&text).ok(),
        _ => None,
    };
    let Some(AgentMessage::Hello { protocol_version, agent_version, mode, machine: info, sessions, buffer_bytes }) =
        hello
    else {
        let err =
            ServerMessage::Error { code: "HELLO_REQUIRED".into(), message: "the first message must be hello".into() };
        let _ = sink.send(Message::Text(json(&err))).await;
        return;
    };
    let parts = HelloParts { info, sessions };
    if let Some(message) = check_hello(&hub, protocol_version, &agent_version, &parts) {
        tracing::warn!(machine = %machine.id, %message, "agent refused");
        let _ = sink.send(Message::Text(json(&refusal(&machine, message)))).await;
        let _ = sink.close().await;
        return;
    }
    let HelloParts { info, sessions } = parts;
    tracing::info!(machine = %machine.id, host = ?info.hostname, ?mode, agent_version = ?agent_version, "agent connected");
    if let Err(e) = hub.store().update_machine_info(machine.id, info).await {
        tracing::error!(error = %e, "cannot record machine info");
    }

    let (tx, mut rx) = super::agent_tx::channel(OUTBOX);
    let buffer = buffer_bytes.unwrap_or(DEFAULT_AGENT_BUFFER).min(MAX_DECLARED_BUFFER);
    let conn = hub.register_conn(machine.id, machine.org_id, mode, buffer, tx);
    let resume = adopt_sessions(&hub, conn, &machine, mode, sessions).await;
    let policy = hub.store().org_agent_policy(machine.org_id).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read the org's agent policy");
        AgentPolicy { allow_list: Some(Vec::new()), update_policy: UpdatePolicy::default() }
    });
    let allow_list = policy.effective_allow_list();
    let welcome = ServerMessage::Welcome {
        accepted: true,
        protocol_version: PROTOCOL_VERSION,
        server_version: env!("CARGO_PKG_VERSION").into(),
        machine_id: machine.id,
        resume,
        message: None,
        allowed_commands: allow_list.iter().map(|e| e.command.clone()).collect(),
        allow_list: Some(allow_list),
        update_policy: Some(policy.update_policy),
    };
    if sink.send(Message::Text(json(&welcome))).await.is_err() {
        hub.unregister_conn(conn);
        return;
    }
    hub.events.notify(machine.org_id, Change::Machines);
    hub.events.notify(machine.org_id, Change::Sessions);

    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if sink.send(Message::Text(json(&msg))).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });

    let mut budget = ByteBudget::new(hub.limits.agent_bytes_per_sec);
    let mut errors = 0u32;
    loop {
        let msg = match tokio::time::timeout(IDLE_TIMEOUT, stream.next()).await {
            Ok(Some(Ok(msg))) => msg,
            Ok(Some(Err(e))) => {
                tracing::debug!(error = %e, "agent socket error");
                break;
            }
            Ok(None) => break,
            Err(_) => {
                tracing::info!(machine = %machine.id, "agent silent for too long; dropping the connection");
                break;
            }
        };
        let refused = match msg {
            Message::Binary(bytes) => match frame::decode(&bytes).map(|f| (f.session_id, f.offset, f.data.len())) {
                Ok((session_id, offset, len)) => {
                    budget.take(len).await;
                    match hub.output(conn, session_id, offset, bytes.into()).await {
                        Ok(()) => None,
                        Err(e @ RelayError::BadOffset(_)) => Some(("BAD_OFFSET", e.to_string())),
                        Err(e) => {
                            tracing::warn!(error = %e, "output refused");
                            None
                        }
                    }
                }
                Err(e) => Some(("BAD_FRAME", e.to_string())),
            },
            Message::Text(text) => match serde_json::from_str::<AgentMessage>(&text) {
                Ok(m) => handle(&hub, conn, &machine, m).await.map(|message| ("REFUSED", message)),
                Err(e) => Some(("BAD_MESSAGE", format!("cannot parse message: {e}"))),
            },
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => None,
        };
        if let Some((code, message)) = refused {
            errors += 1;
            tracing::warn!(machine = %machine.id, code, message = ?message, "agent message refused");
            hub.tell(conn, ServerMessage::Error { code: code.into(), message });
            if errors >= MAX_PROTOCOL_ERRORS {
                tracing::warn!(machine = %machine.id, "too many refused messages; closing the connection");
                break;
            }
        }
    }
    hub.unregister_conn(conn);
    writer.abort();
    super::heartbeats::flush(&hub).await;
    if let Err(e) = hub.store().machine_seen(machine.id, None).await {
        tracing::warn!(error = %e, "cannot record machine last seen");
    }
    hub.events.notify(machine.org_id, Change::Machines);
    tracing::info!(machine = %machine.id, "agent disconnected");
}

/// Records the sessions `hello` lists and claims the relayed ones for `conn`; returns where
/// each relayed one's stored output ends. A daemon's discovered sessions that it no longer
/// reports have ended.
async fn adopt_sessions(
    hub: &Hub,
    conn: ConnId,
    machine: &Machine,
    mode: AgentMode,
    sessions: Vec<SessionInfo>,
) -> Vec<ResumePoint> {
    let mut resume = Vec::new();
    let mut discovered = Vec::new();
    for s in sessions {
        if let Some(problem) = s.problem() {
            tracing::warn!(machine = %machine.id, session = %s.session_id, %problem, "skipping a reported session");
            continue;
        }
        let id = s.session_id;
        let source = s.source;
        let max_live = hub.limits.max_sessions_per_machine;
        match hub.store().upsert_agent_session(machine.org_id, machine.id, s, SessionState::Running, max_live).await {
            Ok(stored) if source == SessionSource::Relayed => match hub.claim(conn, id).await {
                Ok(offset) => {
                    hub.set_state(id, stored.state, stored.exit_code).await;
                    hub.set_size(id, size_of(&stored)).await;
                    resume.push(ResumePoint { session_id: id, offset });
                }
                Err(e) => tracing::warn!(session = %id, error = %e, "cannot resume session"),
            },
            Ok(_) => discovered.push(id),
            Err(e) => tracing::warn!(session = %id, error = %e, "agent reported a session it cannot own"),
        }
    }
    if mode == AgentMode::Daemon {
        match hub.store().end_unreported_discovered(machine.id, discovered).await {
            Ok(ended) => {
                for s in ended {
                    hub.set_state(s.id, s.state, s.exit_code).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot reconcile discovered sessions"),
        }
    }
    resume
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "{}".into())
}
