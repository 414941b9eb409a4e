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

/// Terminal size used when a session's size is unknown or degenerate (0 or 1 in either
/// dimension, as a `wrap` without a terminal reports): the classic 80×24.
pub const DEFAULT_COLS: u16 = 80;
pub const DEFAULT_ROWS: u16 = 24;
/// Largest terminal dimension anyone may ask for (a resize or a start request).
pub const MAX_TERM_DIM: u16 = 1000;

/// `(cols, rows)`, with a degenerate or unknown size replaced by [`DEFAULT_COLS`]×[`DEFAULT_ROWS`].
pub fn usable_size(cols: u16, rows: u16) -> (u16, u16) {
    if cols <= 1 || rows <= 1 { (DEFAULT_COLS, DEFAULT_ROWS) } else { (cols.min(MAX_TERM_DIM), rows.min(MAX_TERM_DIM)) }
}

/// What the server assumes an agent's unacknowledged-output buffer holds when `hello` does not
/// say (the bound older agents used).
pub const DEFAULT_AGENT_BUFFER: u64 = 8 * 1024 * 1024;

/// Why an agent connection exists: a long-running daemon (`run`, the tray app) receives start
/// requests; a `wrap` process only relays its own session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum AgentMode {
    Daemon,
    Wrap,
}

/// Where a session came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
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
#[cfg_attr(test, derive(schemars::JsonSchema))]
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
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct MachineInfo {
    // The rules `problem` checks, in the OpenAPI spec too (the patterns are the server's
    // `api::fields::patterns`, which a server test keeps in step).
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 100,
            pattern = r"^[^\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]*[^\x00-\x20\x7f-\xa0\u061c\u1680\u2000-\u200a\u200e\u200f\u2028\u2029\u202a-\u202f\u205f\u2066-\u2069\u3000][^\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]*$"
        ))
    )]
    pub hostname: String,
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 100,
            pattern = r"^[^\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]*[^\x00-\x20\x7f-\xa0\u061c\u1680\u2000-\u200a\u200e\u200f\u2028\u2029\u202a-\u202f\u205f\u2066-\u2069\u3000][^\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]*$"
        ))
    )]
    pub os: String,
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 200,
            pattern = r"^[^\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]*$"
        ))
    )]
    pub os_version: String,
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 100,
            pattern = r"^[^\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]*[^\x00-\x20\x7f-\xa0\u061c\u1680\u2000-\u200a\u200e\u200f\u2028\u2029\u202a-\u202f\u205f\u2066-\u2069\u3000][^\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]*$"
        ))
    )]
    pub arch: String,
    #[cfg_attr(feature = "openapi", oai(validator(minimum(value = "0"), maximum(value = "4294967295"))))]
    pub cpus: u32,
    /// At most 2^53 − 1, the integers JSON readers in JavaScript keep exact.
    #[cfg_attr(feature = "openapi", oai(validator(minimum(value = "0"), maximum(value = "9007199254740991"))))]
    pub memory_bytes: u64,
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 200,
            pattern = r"^[^\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]*$"
        ))
    )]
    pub agent_version: String,
}

/// Limits on what agents may report, checked by the server like enrollment checks its input.
pub mod limits {
    /// Host names, OS names, architectures and session kinds.
    pub const NAME: usize = 100;
    /// OS and agent version strings.
    pub const VERSION: usize = 200;
    /// A command, an argument or a working directory.
    pub const ARG: usize = 4096;
    /// Arguments of one session.
    pub const ARGS: usize = 64;
}

impl MachineInfo {
    /// What is wrong with these facts, if anything (for an error message).
    pub fn problem(&self) -> Option<String> {
        use crate::text::is_display_safe;
        for (field, value) in [("hostname", &self.hostname), ("os", &self.os), ("arch", &self.arch)] {
            if value.trim().is_empty() || !is_display_safe(value, limits::NAME) {
                return Some(format!("{field} must be 1 to {} characters without control characters", limits::NAME));
            }
        }
        for (field, value) in [("os_version", &self.os_version), ("agent_version", &self.agent_version)] {
            if !is_display_safe(value, limits::VERSION) {
                return Some(format!(
                    "{field} must be at most {} characters without control characters",
                    limits::VERSION
                ));
            }
        }
        None
    }
}

/// A session as the agent reports it, in `hello` (to reconcile after reconnects) and in
/// lifecycle messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
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
    /// Share of one CPU, in percent (0 when unknown; never NaN or infinite).
    #[serde(default, with = "crate::finite::f32_or_zero")]
    #[cfg_attr(test, schemars(with = "f32"))]
    pub cpu_percent: f32,
    #[serde(default)]
    pub memory_bytes: u64,
    /// A local terminal (`wrap`) shows this session: its size wins over viewers' unless a
    /// member forces a resize.
    #[serde(default, skip_serializing_if = "is_false")]
    pub local_terminal: bool,
}

impl SessionInfo {
    /// What is wrong with this report, if anything (for an error message). Commands and
    /// arguments are shown to people, so they may not carry control characters either.
    pub fn problem(&self) -> Option<String> {
        use crate::text::is_display_safe;
        if self.command.is_empty() || !is_display_safe(&self.command, limits::ARG) {
            return Some(format!("command must be 1 to {} characters without control characters", limits::ARG));
        }
        if !is_display_safe(&self.kind, limits::NAME) || !is_display_safe(&self.cwd, limits::ARG) {
            return Some("kind or cwd is too long or has control characters".into());
        }
        if self.args.len() > limits::ARGS || !self.args.iter().all(|a| is_display_safe(a, limits::ARG)) {
            return Some(format!(
                "at most {} arguments of {} characters, without control characters",
                limits::ARGS,
                limits::ARG
            ));
        }
        None
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// How an org wants its agents to update themselves (org admins choose; agents follow).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
pub enum UpdatePolicy {
    /// Never check for updates.
    Off,
    /// Check and tell the user (status, tray); install only when asked.
    #[default]
    Notify,
    /// Check and install by itself (between sessions).
    Automatic,
}

/// One command an org allows starting remotely, optionally restricted in its arguments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct AllowedCommand {
    /// The command exactly as a start request must name it (`claude`, `/usr/bin/aider`).
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 4096,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
        ))
    )]
    pub command: String,
    /// When present, every argument must match one of these glob patterns (`*` matches any
    /// run of characters, `?` any one character); absent means any arguments. At most 64
    /// patterns of 1 to 4096 characters without control characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        oai(
            skip_serializing_if_is_none,
            validator(max_items = 64, max_length = 4096, pattern = r"^[^\x00-\x1f\x7f-\x9f]+$")
        )
    )]
    pub args: Option<Vec<String>>,
}

impl AllowedCommand {
    /// Allows `command` with any arguments.
    pub fn any_args(command: impl Into<String>) -> Self {
        Self { command: command.into(), args: None }
    }

    /// Whether this entry allows starting `command` with `args`.
    pub fn permits(&self, command: &str, args: &[String]) -> bool {
        self.command == command
            && self.args.as_ref().is_none_or(|patterns| args.iter().all(|a| patterns.iter().any(|p| glob_match(p, a))))
    }
}

/// Whether any entry of `list` allows starting `command` with `args`.
pub fn allowed_by(list: &[AllowedCommand], command: &str, args: &[String]) -> bool {
    list.iter().any(|e| e.permits(command, args))
}

/// Glob matching with `*` (any run of characters, including none) and `?` (exactly one),
/// over characters; everything else matches itself. Linear-time (no backtracking blow-up).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it is currently assumed to cover up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Where the server's stored output of a session ends: the agent resends from here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ResumePoint {
    pub session_id: SessionId,
    pub offset: u64,
}

/// Messages from an agent to the server (JSON text frames).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
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
        /// Most unacknowledged output the agent holds per session, in bytes: output may be
        /// resent from at most this far behind what it has sent. Absent from older agents (the
        /// server then assumes [`DEFAULT_AGENT_BUFFER`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        buffer_bytes: Option<u64>,
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
    /// The session's terminal size changed (its local terminal resized, or a viewer's resize
    /// was applied). Carries the size the PTY has now.
    SessionResized {
        session_id: SessionId,
        cols: u16,
        rows: u16,
    },
    /// The session started or stopped waiting for its user (a bell, or quiet after output).
    SessionAttention {
        session_id: SessionId,
        waiting_for_input: bool,
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
    #[cfg_attr(test, schemars(skip))]
    Unknown,
}

/// Messages from the server to an agent (JSON text frames).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
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
        /// The same allow-list with argument patterns: the agent refuses a start request that
        /// no entry permits. Absent from older servers (then `allowed_commands` applies).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        allow_list: Option<Vec<AllowedCommand>>,
        /// The org's update policy. Absent from older servers (the agent's own setting applies).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        update_policy: Option<UpdatePolicy>,
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
        /// Environment variables the command needs; the agent refuses to start it (with a
        /// `session_crashed` naming them) when one is not set on the machine.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        env_names: Vec<String>,
    },
    /// The org's allow-list or update policy changed (sent to connected agents at once).
    Policy {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        allow_list: Option<Vec<AllowedCommand>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        update_policy: Option<UpdatePolicy>,
    },
    StopSession {
        session_id: SessionId,
    },
    Error {
        code: String,
        message: String,
    },
    #[serde(other)]
    #[cfg_attr(test, schemars(skip))]
    Unknown,
}

/// Messages from a viewer (browser, CLI) to the server on a session's attach socket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ViewerMessage {
    Input {
        data: String,
    },
    /// Resize the session's terminal. While a local terminal holds the size, only `force`
    /// (a member's explicit "resize to my window") overrides it.
    Resize {
        cols: u16,
        rows: u16,
        #[serde(default, skip_serializing_if = "is_false")]
        force: bool,
    },
    /// Stop sending output until `resume` (flow control; the server resyncs from storage).
    Pause,
    Resume,
    #[serde(other)]
    #[cfg_attr(test, schemars(skip))]
    Unknown,
}

/// Messages from the server to a viewer (JSON text frames; output arrives as binary frames).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
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
        /// The terminal's size now (0 from older servers: unknown).
        #[serde(default)]
        cols: u16,
        #[serde(default)]
        rows: u16,
        /// A local terminal holds the size (see `size`).
        #[serde(default)]
        size_locked: bool,
    },
    /// The terminal's size (or who holds it) changed.
    Size {
        cols: u16,
        rows: u16,
        size_locked: bool,
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
    #[cfg_attr(test, schemars(skip))]
    Unknown,
}

#[cfg(test)]
mod asyncapi;
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
        assert_eq!(m, ViewerMessage::Resize { cols: 80, rows: 24, force: false });
    }

    /// Found by the `protocol` fuzz target's round trip: `"cpu_percent": 1e39` parsed as
    /// infinity, which serializes as `null`, which no longer parses (and which the server would
    /// have stored and served as `null`).
    #[test]
    fn out_of_range_cpu_readings_do_not_spoil_a_session_report() {
        let json = r#"{"type":"session_discovered","session":{"session_id":"8d0c3f0a-5d1e-5c4b-9a3e-1f2d3c4b5a69",
            "source":"discovered","kind":"claude","command":"node","cwd":"/","pid":1,"started_at":0,"cpu_percent":1e39}}"#;
        let m: AgentMessage = serde_json::from_str(json).expect("parses");
        let AgentMessage::SessionDiscovered { session } = &m else { panic!("{m:?}") };
        assert_eq!(session.cpu_percent, 0.0);
        let again: AgentMessage = serde_json::from_str(&serde_json::to_string(&m).expect("json")).expect("round trip");
        assert_eq!(again, m);
    }

    #[test]
    fn globs() {
        for (p, t) in [("*", ""), ("*", "abc"), ("a?c", "abc"), ("--model=*", "--model=opus"), ("*.md", "a.b.md")] {
            assert!(glob_match(p, t), "{p} should match {t}");
        }
        for (p, t) in [("a?c", "ac"), ("--model=*", "--mode"), ("abc", "abcd"), ("*.md", "a.mdx"), ("", "x")] {
            assert!(!glob_match(p, t), "{p} should not match {t}");
        }
        // Many stars against a long non-match stays fast (no exponential backtracking).
        assert!(!glob_match(&"*a".repeat(50), &format!("{}b", "a".repeat(5000))));
    }

    #[test]
    fn allow_list_entries_restrict_arguments() {
        let list = vec![
            AllowedCommand::any_args("claude"),
            AllowedCommand { command: "aider".into(), args: Some(vec!["--model".into(), "gpt-*".into()]) },
        ];
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(allowed_by(&list, "claude", &args(&["--dangerously-skip-permissions"])));
        assert!(allowed_by(&list, "aider", &args(&["--model", "gpt-5"])));
        assert!(allowed_by(&list, "aider", &[]));
        assert!(!allowed_by(&list, "aider", &args(&["--model", "gpt-5", "--yes-always"])));
        assert!(!allowed_by(&list, "bash", &[]));
    }

    #[test]
    fn degenerate_sizes_fall_back_to_80x24() {
        assert_eq!(usable_size(1, 1), (80, 24));
        assert_eq!(usable_size(0, 50), (80, 24));
        assert_eq!(usable_size(100, 30), (100, 30));
        assert_eq!(usable_size(5000, 30), (MAX_TERM_DIM, 30));
    }
}
