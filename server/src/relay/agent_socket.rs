//! The agent socket, `GET /api/v1/agent/connect`: authenticated by the machine credential,
//! opened by `hello`/`welcome`, then lifecycle messages and heartbeats as JSON text frames and
//! terminal output as binary frames. See `docs/protocol.md`.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use poem::http::StatusCode;
use poem::web::Data;
use poem::web::websocket::{Message, WebSocket, WebSocketStream};
use poem::{IntoResponse, Request, Response, handler};
use sessionforge_shared::frame;
use sessionforge_shared::protocol::{
    AgentMessage, AgentMode, MIN_SUPPORTED_PROTOCOL, PROTOCOL_VERSION, ResumePoint, ServerMessage, SessionSource,
    SessionState, UpdatePolicy,
};
use tokio::sync::mpsc;

use super::events::Change;
use super::hub::{ConnId, Hub};
use super::live::TermSize;
use super::ws_config;
use crate::auth::{PURPOSE_MACHINE, tokens};
use crate::error::json_error;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::machines::Machine;
use crate::store::org_settings::AgentPolicy;
use crate::store::sessions::Session;

/// How long an agent has to say hello after connecting.
const HELLO_TIMEOUT: Duration = Duration::from_secs(15);
/// An agent that sends nothing for this long (three missed heartbeats) is considered gone.
const IDLE_TIMEOUT: Duration = Duration::from_secs(35);
/// Messages queued for one agent before acks start being dropped (they are cumulative).
const OUTBOX: usize = 1024;

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

async fn run(hub: Arc<Hub>, machine: Machine, socket: WebSocketStream) {
    let (mut sink, mut stream) = socket.split();
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str::<AgentMessage>(&text).ok(),
        _ => None,
    };
    let Some(AgentMessage::Hello { protocol_version, agent_version, mode, machine: info, sessions }) = hello else {
        let err =
            ServerMessage::Error { code: "HELLO_REQUIRED".into(), message: "the first message must be hello".into() };
        let _ = sink.send(Message::Text(json(&err))).await;
        return;
    };
    let accepted = (MIN_SUPPORTED_PROTOCOL..=PROTOCOL_VERSION).contains(&protocol_version);
    if !accepted {
        let welcome = ServerMessage::Welcome {
            accepted: false,
            protocol_version: PROTOCOL_VERSION,
            server_version: env!("CARGO_PKG_VERSION").into(),
            machine_id: machine.id,
            resume: vec![],
            message: Some(format!(
                "protocol {protocol_version} (agent {agent_version}) is not supported; this server speaks \
                 {MIN_SUPPORTED_PROTOCOL}..={PROTOCOL_VERSION}: update the agent"
            )),
            allowed_commands: vec![],
            allow_list: None,
            update_policy: None,
        };
        let _ = sink.send(Message::Text(json(&welcome))).await;
        let _ = sink.close().await;
        return;
    }
    tracing::info!(machine = %machine.id, host = %info.hostname, ?mode, agent_version, "agent connected");
    if let Err(e) = hub.store().update_machine_info(machine.id, info).await {
        tracing::error!(error = %e, "cannot record machine info");
    }

    let (tx, mut rx) = mpsc::channel::<ServerMessage>(OUTBOX);
    let conn = hub.register_conn(machine.id, machine.org_id, mode, tx);
    let mut resume = Vec::new();
    let mut discovered = Vec::new();
    for s in sessions {
        let id = s.session_id;
        let source = s.source;
        match hub.store().upsert_agent_session(machine.org_id, machine.id, s, SessionState::Running).await {
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
        end_unreported_discovered(&hub, &machine, discovered).await;
    }
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
        match msg {
            Message::Binary(bytes) => match frame::decode(&bytes) {
                Ok(f) => {
                    if let Err(e) = hub.output(conn, f.session_id, f.offset, f.data).await {
                        tracing::warn!(error = %e, "output refused");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "bad binary frame from agent"),
            },
            Message::Text(text) => match serde_json::from_str::<AgentMessage>(&text) {
                Ok(m) => handle(&hub, conn, &machine, m).await,
                Err(e) => tracing::warn!(error = %e, "malformed message from agent"),
            },
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
    hub.unregister_conn(conn);
    writer.abort();
    if let Err(e) = hub.store().machine_seen(machine.id, None).await {
        tracing::warn!(error = %e, "cannot record machine last seen");
    }
    hub.events.notify(machine.org_id, Change::Machines);
    tracing::info!(machine = %machine.id, "agent disconnected");
}

async fn handle(hub: &Hub, conn: ConnId, machine: &Machine, msg: AgentMessage) {
    let store = hub.store();
    let result = match msg {
        AgentMessage::Heartbeat { load, memory_used_bytes, sessions, .. } => {
            let seen = store.machine_seen(machine.id, Some((load, memory_used_bytes, sessions))).await;
            hub.events.notify(machine.org_id, Change::Machines);
            seen.map(|_| ())
        }
        AgentMessage::SessionDiscovered { session } => {
            let stored = store.upsert_agent_session(machine.org_id, machine.id, session, SessionState::Running).await;
            hub.events.notify(machine.org_id, Change::Sessions);
            stored.map(|_| ())
        }
        AgentMessage::SessionStarted { session, .. } => {
            let id = session.session_id;
            match store.upsert_agent_session(machine.org_id, machine.id, session, SessionState::Running).await {
                Ok(stored) => {
                    if let Err(e) = hub.claim(conn, id).await {
                        tracing::warn!(error = %e, "cannot claim session");
                    }
                    hub.set_state(id, stored.state, stored.exit_code).await;
                    hub.set_size(id, size_of(&stored)).await;
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        AgentMessage::SessionExited { session_id, exit_code, .. } => {
            end(hub, machine, session_id, SessionState::Exited, exit_code, None).await
        }
        AgentMessage::SessionCrashed { session_id, reason, .. } => {
            end(hub, machine, session_id, SessionState::Crashed, None, Some(reason)).await
        }
        AgentMessage::SessionResized { session_id, cols, rows } => {
            if let Err(e) = hub.resized(conn, session_id, cols, rows).await {
                tracing::warn!(error = %e, "resize refused");
            }
            Ok(())
        }
        AgentMessage::SessionAttention { session_id, waiting_for_input } => {
            if let Err(e) = hub.attention(conn, session_id, waiting_for_input).await {
                tracing::warn!(error = %e, "attention notice refused");
            }
            Ok(())
        }
        AgentMessage::Gap { session_id, offset, length } => {
            if let Err(e) = hub.gap(conn, session_id, offset, length).await {
                tracing::warn!(error = %e, "gap refused");
            }
            Ok(())
        }
        AgentMessage::Error { code, message } => {
            tracing::warn!(machine = %machine.id, code, message, "agent reported an error");
            Ok(())
        }
        AgentMessage::Hello { .. } => Ok(()),
        AgentMessage::Unknown => {
            tracing::debug!("ignoring an unknown message kind from an agent");
            Ok(())
        }
    };
    if let Err(e) = result {
        tracing::warn!(machine = %machine.id, error = %e, "cannot apply agent message");
    }
}

async fn end(
    hub: &Hub,
    machine: &Machine,
    id: sessionforge_shared::ids::SessionId,
    state: SessionState,
    exit_code: Option<i32>,
    reason: Option<String>,
) -> Result<(), StoreError> {
    hub.store().set_session_state(machine.id, id, state, exit_code, reason).await?;
    hub.set_state(id, state, exit_code).await;
    Ok(())
}

async fn end_unreported_discovered(hub: &Hub, machine: &Machine, reported: Vec<sessionforge_shared::ids::SessionId>) {
    match hub.store().end_unreported_discovered(machine.id, reported).await {
        Ok(ended) => {
            for s in ended {
                hub.set_state(s.id, s.state, s.exit_code).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot reconcile discovered sessions"),
    }
}

fn size_of(s: &Session) -> TermSize {
    TermSize { cols: s.cols, rows: s.rows, locked: s.size_locked }
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "{}".into())
}
