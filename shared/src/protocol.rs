//! The versioned WebSocket protocol between agents, the server and viewers: one enum per
//! direction, JSON text frames for control messages, and binary frames (see [`crate::frame`])
//! for terminal output. Unknown message kinds deserialize to `Unknown` and are logged and
//! ignored, so older peers keep working with newer ones. Documented in `docs/protocol.md`.

use serde::{Deserialize, Serialize};

use crate::ids::{MachineId, SessionId};

/// Version of this protocol. The server accepts agents that speak a version in
/// [`MIN_SUPPORTED_PROTOCOL`]`..=`[`PROTOCOL_VERSION`].
pub const PROTOCOL_VERSION: u32 = 1;
/// Oldest agent protocol the server still accepts.
pub const MIN_SUPPORTED_PROTOCOL: u32 = 1;

/// The AI coding CLIs agents discover by default, and the commands an org may start remotely
/// unless it sets its own allow-list.
pub const KNOWN_AI_CLIS: &[&str] = &["claude", "codex", "gemini", "aider", "opencode", "cursor-agent", "goose", "amp"];

/// Why an agent connection exists: a long-running daemon (`run`, the tray app) receives start
/// requests; a `wrap` process only relays its own session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentMode {
    Daemon,
    Wrap,
}

/// Where a session came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
pub enum SessionSource {
    /// Runs in the agent's PTY and is relayed live.
    Relayed,
    /// An AI CLI the agent found running on the machine; visible, but not relayed.
    Discovered,
}

/// The life of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
pub enum SessionState {
    /// Requested; the agent has not confirmed the start yet.
    Starting,
    Running,
    /// Ended by itself or by a stop request; `exit_code` is set when known.
    Exited,
    /// Failed to start, or the agent lost it abnormally.
    Crashed,
    /// Its agent went away and has not reported it since.
    Stale,
}

impl SessionState {
    pub fn is_live(self) -> bool {
        matches!(self, SessionState::Starting | SessionState::Running)
    }
}

/// Machine facts sent once per connection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct MachineInfo {
    pub hostname: String,
    pub os: String,
    pub os_version: String,
    pub arch: String,
    pub cpus: u32,
    pub memory_bytes: u64,
    pub agent_version: String,
}

/// A session as the agent reports it, in `hello` (to reconcile after reconnects) and in
/// lifecycle messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub session_id: SessionId,
    pub source: SessionSource,
    /// The AI CLI it runs (`claude`, `codex`, …) or `other`.
    pub kind: String,
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    pub cwd: String,
    pub pid: Option<u32>,
    /// Unix seconds.
    pub started_at: i64,
    #[serde(default)]
    pub cols: u16,
    #[serde(default)]
    pub rows: u16,
    #[serde(default)]
    pub cpu_percent: f32,
    #[serde(default)]
    pub memory_bytes: u64,
}

/// Where the server's stored output of a session ends: the agent resends from here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumePoint {
    pub session_id: SessionId,
    pub offset: u64,
}

/// Messages from an agent to the server (JSON text frames).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentMessage {
    /// First message on every connection.
    Hello {
        protocol_version: u32,
        agent_version: String,
        mode: AgentMode,
        machine: MachineInfo,
        /// Every session the agent currently has (relayed and discovered).
        sessions: Vec<SessionInfo>,
    },
    /// Every 10 s.
    Heartbeat {
        /// One-minute load average (0 where the OS has none).
        load: f64,
        memory_used_bytes: u64,
        memory_total_bytes: u64,
        sessions: u32,
    },
    /// A known AI CLI was found running.
    SessionDiscovered {
        session: SessionInfo,
    },
    /// A relayed session started (possibly answering `start_session`).
    SessionStarted {
        session: SessionInfo,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
    },
    /// A session ended. `exit_code` is absent when the process was killed by a signal.
    SessionExited {
        session_id: SessionId,
        exit_code: Option<i32>,
        ended_at: i64,
    },
    /// A session could not start or failed abnormally.
    SessionCrashed {
        session_id: SessionId,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
    },
    /// Output in `[offset, offset + length)` was lost on the agent (its buffer overflowed while
    /// the server could not keep up or was unreachable). Offsets still count the lost bytes.
    Gap {
        session_id: SessionId,
        offset: u64,
        length: u64,
    },
    Error {
        code: String,
        message: String,
    },
    #[serde(other)]
    Unknown,
}

/// Messages from the server to an agent (JSON text frames).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The answer to `hello`. When `accepted` is false the server closes the connection.
    Welcome {
        accepted: bool,
        protocol_version: u32,
        server_version: String,
        machine_id: MachineId,
        /// Where stored output ends for each session the agent reported.
        resume: Vec<ResumePoint>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// Commands the machine's org allows starting (what the tray offers under "Start
        /// session…"). Absent from older servers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        allowed_commands: Vec<String>,
    },
    /// Output up to `offset` is stored; the agent may forget it.
    Ack {
        session_id: SessionId,
        offset: u64,
    },
    /// Keystrokes (or pasted text) from a viewer.
    Input {
        session_id: SessionId,
        data: String,
    },
    Resize {
        session_id: SessionId,
        cols: u16,
        rows: u16,
    },
    /// Start a relayed session without a local terminal.
    StartSession {
        request_id: String,
        session_id: SessionId,
        command: String,
        args: Vec<String>,
        cwd: String,
        cols: u16,
        rows: u16,
    },
    StopSession {
        session_id: SessionId,
    },
    Error {
        code: String,
        message: String,
    },
    #[serde(other)]
    Unknown,
}

/// Messages from a viewer (browser, CLI) to the server on a session's attach socket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ViewerMessage {
    Input {
        data: String,
    },
    Resize {
        cols: u16,
        rows: u16,
    },
    /// Stop sending output until `resume` (flow control; the server resyncs from storage).
    Pause,
    Resume,
    #[serde(other)]
    Unknown,
}

/// Messages from the server to a viewer (JSON text frames; output arrives as binary frames).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ViewerEvent {
    /// First message after attaching.
    Attached {
        session_id: SessionId,
        /// Whether this viewer may send input and resize.
        can_input: bool,
        state: SessionState,
        /// The exit code, when the session has already exited with one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        /// The first offset that will be sent (the requested one, or the oldest retained).
        from: u64,
        /// Where output currently ends.
        end: u64,
    },
    /// Output in `[offset, offset + length)` is missing (lost on the agent, or outside retention).
    Gap {
        offset: u64,
        length: u64,
    },
    /// The session's state changed.
    State {
        state: SessionState,
        exit_code: Option<i32>,
    },
    /// The viewer fell behind and is being caught up from stored output.
    Resync {
        from: u64,
    },
    /// The live stream reached everything stored: what follows is live.
    Live {
        offset: u64,
    },
    Error {
        code: String,
        message: String,
    },
    #[serde(other)]
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_tagged_snake_case_json() {
        let m = ServerMessage::Ack { session_id: SessionId::new(), offset: 42 };
        let json = serde_json::to_value(&m).expect("json");
        assert_eq!(json["type"], "ack");
        assert_eq!(json["offset"], 42);
        let back: ServerMessage = serde_json::from_value(json).expect("parse");
        assert_eq!(back, m);
    }

    #[test]
    fn unknown_kinds_parse_as_unknown() {
        let m: AgentMessage = serde_json::from_str(r#"{"type":"from_the_future","x":1}"#).expect("parse");
        assert_eq!(m, AgentMessage::Unknown);
        let m: ServerMessage = serde_json::from_str(r#"{"type":"telemetry_v9"}"#).expect("parse");
        assert_eq!(m, ServerMessage::Unknown);
        let m: ViewerMessage = serde_json::from_str(r#"{"type":"zoom","level":2}"#).expect("parse");
        assert_eq!(m, ViewerMessage::Unknown);
    }

    #[test]
    fn extra_fields_are_ignored_for_forward_compatibility() {
        let m: ViewerMessage = serde_json::from_str(r#"{"type":"resize","cols":80,"rows":24,"dpi":2}"#).expect("parse");
        assert_eq!(m, ViewerMessage::Resize { cols: 80, rows: 24 });
    }
}
