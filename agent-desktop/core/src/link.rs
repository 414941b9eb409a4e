//! The agent's connection to its server: connect over WebSocket (TLS per [`Trust`]), say hello,
//! resume every session from where the server's storage ends, then relay output, lifecycle,
//! discovery and heartbeats until the connection drops, and reconnect with exponential backoff
//! and jitter (1 s up to 60 s). Server requests (input, resize, start, stop) go to [`Sessions`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use sessionforge_shared::protocol::{
    AgentMessage, AgentMode, AllowedCommand, PROTOCOL_VERSION, ServerMessage, SessionInfo, UpdatePolicy, allowed_by,
};
use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::credentials::Secret;
use crate::discovery::Change;
use crate::machine::Sampler;
use crate::pty::Spawn;
use crate::sessions::{Outgoing, Sessions};
use crate::tls::{self, Trust};

/// Heartbeat interval (the server considers a machine offline after three missed ones).
pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// First reconnect delay, and the ceiling it doubles up to.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// How often waiting-for-input is looked at (it also turns on by quiet time, not only events).
const ATTENTION_EVERY: Duration = Duration::from_secs(1);
/// How long the server has to answer `hello`.
const WELCOME_TIMEOUT: Duration = Duration::from_secs(15);
/// Pings keep idle connections honest; silence for `DEAD_AFTER` means the server is gone.
const PING_EVERY: Duration = Duration::from_secs(20);
const DEAD_AFTER: Duration = Duration::from_secs(60);
/// Output frames sent per batch before incoming messages, heartbeats and shutdown get a turn
/// (16 × 16 KiB: a quarter MiB, well under a second on any usable link).
const DRAIN_BATCH: usize = 16;

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// What the connection is doing, for `status` and the tray.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LinkState {
    Connecting,
    Connected,
    /// Disconnected; retrying.
    Offline {
        reason: String,
    },
    /// The server refused this agent (revoked credential, unsupported version); still retrying
    /// slowly in case an administrator fixes it.
    Rejected {
        reason: String,
    },
    /// Relaying paused by the user (the tray's "Pause relaying"): disconnected on purpose;
    /// sessions keep running and their output is kept (within the buffer) for the resume.
    Paused,
    Stopped,
}

impl std::fmt::Display for LinkState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkState::Connecting => f.write_str("connecting"),
            LinkState::Connected => f.write_str("connected"),
            LinkState::Offline { reason } => write!(f, "offline ({reason})"),
            LinkState::Rejected { reason } => write!(f, "rejected ({reason})"),
            LinkState::Paused => f.write_str("paused"),
            LinkState::Stopped => f.write_str("stopped"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct LinkConfig {
    pub server_url: String,
    pub credential: Secret,
    pub trust: Trust,
    pub mode: AgentMode,
    /// This machine's own allow-list (`agent.toml`): the server cannot widen it.
    pub local_allow: Option<Vec<AllowedCommand>>,
}

/// What the org asks of this agent, from the last `welcome` or `policy` message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerPolicy {
    /// Commands the org allows starting remotely; `None` until the first welcome.
    pub allow_list: Option<Vec<AllowedCommand>>,
    /// The org's update policy; `None` until told (older servers never tell).
    pub update_policy: Option<UpdatePolicy>,
}

impl ServerPolicy {
    /// The allowed command names (what the tray offers under "Start session…").
    pub fn command_names(&self) -> Vec<String> {
        self.allow_list.iter().flatten().map(|e| e.command.clone()).collect()
    }
}

/// Why this agent refuses a start request, if it does: the org's list (as it last told us),
/// this machine's own list, then the environment variables the command needs.
pub fn refusal(
    org: Option<&[AllowedCommand]>,
    local: Option<&[AllowedCommand]>,
    command: &str,
    args: &[String],
    env_names: &[String],
) -> Option<String> {
    if !org.is_some_and(|l| allowed_by(l, command, args)) {
        return Some(format!("{command:?} with these arguments is not on the org's allow-list of commands"));
    }
    if local.is_some_and(|l| !allowed_by(l, command, args)) {
        return Some(format!("{command:?} with these arguments is not on this machine's allow-list (agent.toml)"));
    }
    let missing: Vec<&str> =
        env_names.iter().filter(|n| std::env::var_os(n.as_str()).is_none()).map(String::as_str).collect();
    (!missing.is_empty()).then(|| format!("environment variable(s) not set on this machine: {}", missing.join(", ")))
}

enum Failure {
    Offline(String),
    Rejected(String),
}

pub struct Link {
    cfg: LinkConfig,
    sessions: Arc<Sessions>,
    /// Discovered sessions right now (maintained by the discovery task).
    discovered: Arc<Mutex<Vec<SessionInfo>>>,
    changes: Option<mpsc::Receiver<Change>>,
    state: watch::Sender<LinkState>,
    sampler: Sampler,
    /// True while the user has paused relaying.
    pause: watch::Receiver<bool>,
    /// What the server's org asks of this agent, as it last said.
    policy: watch::Sender<ServerPolicy>,
}

impl Link {
    pub fn new(
        cfg: LinkConfig,
        sessions: Arc<Sessions>,
        discovered: Arc<Mutex<Vec<SessionInfo>>>,
        changes: Option<mpsc::Receiver<Change>>,
        state: watch::Sender<LinkState>,
    ) -> Self {
        Self {
            cfg,
            sessions,
            discovered,
            changes,
            state,
            sampler: Sampler::default(),
            pause: watch::channel(false).1,
            policy: watch::channel(ServerPolicy::default()).0,
        }
    }

    /// Follows `pause`: while it is true the link stays disconnected.
    pub fn with_pause(mut self, pause: watch::Receiver<bool>) -> Self {
        self.pause = pause;
        self
    }

    /// Publishes the org's policy (allow-list, update policy) from each welcome on `policy`.
    pub fn with_policy(mut self, policy: watch::Sender<ServerPolicy>) -> Self {
        self.policy = policy;
        self
    }

    /// Connects and reconnects until `shutdown` becomes true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut attempt: u32 = 0;
        while !*shutdown.borrow() {
            if *self.pause.borrow() {
                self.state.send_replace(LinkState::Paused);
                attempt = 0;
                let mut pause = self.pause.clone();
                tokio::select! {
                    _ = pause_is(&mut pause, false) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            self.state.send_replace(LinkState::Connecting);
            let failure = match self.connect().await {
                Ok(ws) => {
                    let result = self.serve(ws, &mut shutdown).await;
                    // The server took our hello: it is reachable, so after this connection
                    // ends the next attempt comes promptly, however short it lasted.
                    if *self.state.borrow() == LinkState::Connected {
                        attempt = 0;
                    }
                    match result {
                        // Shut down, or paused (the loop's top waits for the resume).
                        Ok(()) => continue,
                        Err(f) => f,
                    }
                }
                Err(f) => f,
            };
            let (state, slow) = match failure {
                Failure::Offline(reason) => (LinkState::Offline { reason }, false),
                Failure::Rejected(reason) => (LinkState::Rejected { reason }, true),
            };
            tracing::warn!(?state, "not connected to the server");
            self.state.send_replace(state);
            let delay = if slow { BACKOFF_MAX } else { backoff(attempt) };
            attempt = attempt.saturating_add(1);
            let mut pause = self.pause.clone();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => {}
                _ = pause_is(&mut pause, true) => {}
            }
        }
        self.state.send_replace(LinkState::Stopped);
    }

    async fn connect(&self) -> Result<Ws, Failure> {
        let url = socket_url(&self.cfg.server_url).map_err(Failure::Offline)?;
        let mut req = url.as_str().into_client_request().map_err(|e| Failure::Offline(e.to_string()))?;
        let auth = HeaderValue::from_str(&format!("Bearer {}", self.cfg.credential.expose()))
            .map_err(|_| Failure::Rejected("the stored credential is malformed".into()))?;
        req.headers_mut().insert("authorization", auth);
        let connector = if url.starts_with("wss://") {
            Connector::Rustls(tls::client_config(&self.cfg.trust).map_err(|e| Failure::Offline(e.to_string()))?)
        } else {
            Connector::Plain
        };
        let config = WebSocketConfig::default().read_buffer_size(16 * 1024).write_buffer_size(0);
        match tokio_tungstenite::connect_async_tls_with_config(req, Some(config), true, Some(connector)).await {
            Ok((ws, _)) => Ok(ws),
            Err(tungstenite::Error::Http(resp)) if resp.status().as_u16() == 401 => {
                Err(Failure::Rejected("the server rejected this machine's credential; enroll it again".into()))
            }
            Err(e) => Err(Failure::Offline(e.to_string())),
        }
    }

    async fn serve(&mut self, ws: Ws, shutdown: &mut watch::Receiver<bool>) -> Result<(), Failure> {
        let (mut sink, mut stream) = ws.split();
        let offline = |e: tungstenite::Error| Failure::Offline(e.to_string());
        let mut sessions = self.sessions.for_hello();
        sessions.extend(self.discovered.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned());
        let hello = AgentMessage::Hello {
            protocol_version: PROTOCOL_VERSION,
            agent_version: crate::version::VERSION.into(),
            mode: self.cfg.mode,
            machine: crate::machine::info(),
            sessions,
            buffer_bytes: Some(self.sessions.buffer_limit() as u64),
        };
        sink.send(text(&hello)).await.map_err(offline)?;
        let resume = match tokio::time::timeout(WELCOME_TIMEOUT, stream.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => match serde_json::from_str::<ServerMessage>(&t) {
                Ok(ServerMessage::Welcome {
                    accepted: true,
                    resume,
                    allowed_commands,
                    allow_list,
                    update_policy,
                    ..
                }) => {
                    // Servers that predate argument patterns send names only.
                    let allow_list = allow_list
                        .unwrap_or_else(|| allowed_commands.into_iter().map(AllowedCommand::any_args).collect());
                    self.policy.send_replace(ServerPolicy { allow_list: Some(allow_list), update_policy });
                    resume
                }
                Ok(ServerMessage::Welcome { accepted: false, message, .. }) => {
                    return Err(Failure::Rejected(message.unwrap_or_else(|| "the server refused this agent".into())));
                }
                Ok(ServerMessage::Error { message, .. }) => return Err(Failure::Offline(message)),
                _ => return Err(Failure::Offline("unexpected first message from the server".into())),
            },
            _ => return Err(Failure::Offline("the server did not answer hello".into())),
        };
        self.sessions.resume(&resume);
        self.state.send_replace(LinkState::Connected);
        tracing::info!(server = %self.cfg.server_url, "connected");

        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        let mut ping = tokio::time::interval(PING_EVERY);
        let mut attention = tokio::time::interval(ATTENTION_EVERY);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        attention.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        let mut pause = self.pause.clone();
        loop {
            // One bounded batch per turn: under sustained output, reads, heartbeats and
            // shutdown still get their turn below.
            let batch = self.sessions.drain(DRAIN_BATCH);
            let more = !batch.is_empty() && self.sessions.has_pending();
            if !batch.is_empty() {
                tokio::select! {
                    sent = send_all(&mut sink, batch) => sent.map_err(offline)?,
                    // A server that stopped reading must not keep the agent from stopping.
                    _ = shutdown.changed() => return Ok(()),
                }
            }
            let changes = &mut self.changes;
            tokio::select! {
                // In this order: timers cannot starve the rest (they fire once per interval),
                // and whatever else is ready goes before more output.
                biased;
                _ = shutdown.changed() => {
                    let _ = sink.send(Message::Close(None)).await;
                    return Ok(());
                }
                _ = pause_is(&mut pause, true) => {
                    tracing::info!("relaying paused");
                    let _ = sink.send(Message::Close(None)).await;
                    return Ok(());
                }
                _ = heartbeat.tick() => {
                    let s = self.sampler.sample();
                    let beat = AgentMessage::Heartbeat {
                        load: s.load,
                        memory_used_bytes: s.memory_used_bytes,
                        memory_total_bytes: s.memory_total_bytes,
                        sessions: u32::try_from(self.sessions.running()).unwrap_or(u32::MAX),
                    };
                    sink.send(text(&beat)).await.map_err(offline)?;
                }
                // Only wakes the loop: the next drain reports sessions that started waiting.
                _ = attention.tick() => {}
                _ = ping.tick() => {
                    if last_heard.elapsed() > DEAD_AFTER {
                        return Err(Failure::Offline("the server stopped answering".into()));
                    }
                    sink.send(Message::Ping(Vec::new().into())).await.map_err(offline)?;
                }
                msg = stream.next() => {
                    last_heard = Instant::now();
                    match msg {
                        Some(Ok(Message::Text(t))) => self.handle(&t),
                        Some(Ok(Message::Close(_))) | None => return Err(Failure::Offline("the server closed the connection".into())),
                        Some(Ok(_)) => {}
                        Some(Err(e)) => return Err(offline(e)),
                    }
                }
                change = async { match changes { Some(rx) => rx.recv().await, None => std::future::pending().await } } => {
                    match change {
                        Some(c) => sink.send(text(&discovery_message(c))).await.map_err(offline)?,
                        None => self.changes = None,
                    }
                }
                _ = self.sessions.changed.notified() => {}
                () = std::future::ready(()), if more => {}
            }
        }
    }

    fn handle(&self, text: &str) {
        let msg = match serde_json::from_str::<ServerMessage>(text) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "malformed message from the server");
                return;
            }
        };
        match msg {
            ServerMessage::Ack { session_id, offset } => self.sessions.ack(session_id, offset),
            ServerMessage::Input { session_id, data } => self.sessions.input(session_id, data.as_bytes()),
            ServerMessage::Resize { session_id, cols, rows } => self.sessions.resize(session_id, cols, rows),
            ServerMessage::StartSession { request_id, session_id, command, args, cwd, cols, rows, env_names } => {
                if self.cfg.mode != AgentMode::Daemon {
                    return;
                }
                let policy = self.policy.borrow().clone();
                let refused =
                    refusal(policy.allow_list.as_deref(), self.cfg.local_allow.as_deref(), &command, &args, &env_names);
                let spec = Spawn { command, args, cwd, cols, rows };
                if let Some(reason) = refused {
                    tracing::warn!(session = %session_id, command = ?spec.command, %reason, "refusing a start request");
                    self.sessions.refuse(session_id, &spec, Some(request_id), reason);
                    return;
                }
                tracing::info!(session = %session_id, command = ?spec.command, "starting a session the server requested");
                if let Err(e) = self.sessions.start(session_id, spec, Some(request_id), None) {
                    tracing::warn!(session = %session_id, error = %e, "requested session failed to start");
                }
            }
            ServerMessage::Policy { allow_list, update_policy } => {
                self.policy.send_modify(|p| {
                    if allow_list.is_some() {
                        p.allow_list = allow_list;
                    }
                    if update_policy.is_some() {
                        p.update_policy = update_policy;
                    }
                });
            }
            ServerMessage::StopSession { session_id } => self.sessions.stop(session_id),
            ServerMessage::Error { code, message } => tracing::warn!(code, message, "server reported an error"),
            ServerMessage::Welcome { .. } => {}
            ServerMessage::Unknown => tracing::debug!("ignoring an unknown message kind from the server"),
        }
    }
}

/// Resolves once `pause` says `paused` (never, when nobody can pause this link).
async fn pause_is(pause: &mut watch::Receiver<bool>, paused: bool) {
    let reached = pause.wait_for(|p| *p == paused).await.is_ok();
    if !reached {
        std::future::pending::<()>().await;
    }
}

fn discovery_message(change: Change) -> AgentMessage {
    match change {
        Change::Found(session) | Change::Updated(session) => AgentMessage::SessionDiscovered { session },
        Change::Ended(session_id) => AgentMessage::SessionExited {
            session_id,
            exit_code: None,
            ended_at: time::OffsetDateTime::now_utc().unix_timestamp(),
        },
    }
}

/// Sends a drained batch, whole.
async fn send_all(sink: &mut SplitSink<Ws, Message>, batch: Vec<Outgoing>) -> Result<(), tungstenite::Error> {
    for out in batch {
        let msg = match out {
            Outgoing::Message(m) => text(&m),
            Outgoing::Frame(f) => Message::Binary(f.into()),
        };
        sink.send(msg).await?;
    }
    Ok(())
}

fn text<T: serde::Serialize>(v: &T) -> Message {
    Message::Text(serde_json::to_string(v).unwrap_or_else(|_| "{}".into()).into())
}

/// `https://host:port` → `wss://host:port/api/v1/agent/connect`.
pub fn socket_url(server: &str) -> Result<String, String> {
    let base = server.trim_end_matches('/');
    let rest = base
        .strip_prefix("https://")
        .map(|r| format!("wss://{r}"))
        .or_else(|| base.strip_prefix("http://").map(|r| format!("ws://{r}")))
        .ok_or_else(|| format!("server URL {server:?} must start with https:// or http://"))?;
    Ok(format!("{rest}/api/v1/agent/connect"))
}

/// Exponential backoff with jitter: 1 s, 2 s, 4 s … capped at 60 s, each scaled by a random
/// factor in [0.5, 1.0] so that agents reconnecting after a server restart spread out, and
/// never outside [`BACKOFF_MIN`, `BACKOFF_MAX`].
pub fn backoff(attempt: u32) -> Duration {
    let base = BACKOFF_MIN.saturating_mul(1u32 << attempt.min(6)).min(BACKOFF_MAX);
    let jitter = rand::thread_rng().gen_range(0.5..=1.0);
    base.mul_f64(jitter).clamp(BACKOFF_MIN, BACKOFF_MAX)
}

#[cfg(test)]
mod tests;
