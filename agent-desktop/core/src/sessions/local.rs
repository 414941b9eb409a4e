//! One relayed session as the agent holds it: its process, its output buffer, and what the
//! server has been told about it. [`super::Sessions`] decides across sessions; this file
//! decides what one session has to say next.

use sessionforge_shared::frame;
use sessionforge_shared::protocol::{AgentMessage, SessionInfo};

use super::attention::Attention;
use super::{Outgoing, Summary};
use crate::outbuf::{OutputBuffer, Pending};
use crate::pty::PtyHandle;

/// Largest output frame sent (matches the PTY read size).
pub const MAX_FRAME: usize = crate::pty::READ_CHUNK;
/// Error code of the message telling the server that viewer input was dropped.
pub const INPUT_DROPPED: &str = "INPUT_DROPPED";

#[derive(Debug)]
pub(super) struct LocalSession {
    pub info: SessionInfo,
    pub buffer: OutputBuffer,
    pub pty: Option<PtyHandle>,
    /// Exit code (None for a signal) and end time, once the process ended.
    pub exit: Option<(Option<i32>, i64)>,
    /// Why it failed to start, if it did.
    pub crashed: Option<String>,
    pub request_id: Option<String>,
    pub started_reported: bool,
    /// The exit was handed to the current connection. A new connection clears it
    /// ([`super::Sessions::for_hello`]), since the old one may have lost it.
    pub exit_reported: bool,
    /// Input bytes dropped because the process was not reading them, not yet reported.
    pub dropped_input: usize,
    /// Whether it waits for its user (for the tray).
    pub attention: Attention,
    /// The PTY's size changed since the server was last told (`session_resized`), at this
    /// output offset: the message goes out right after the output before it.
    pub size_changed_at: Option<u64>,
    /// Whether the server was last told the session waits for its user.
    pub waiting_reported: bool,
}

impl LocalSession {
    pub fn new(info: SessionInfo, buffer: OutputBuffer, request_id: Option<String>) -> Self {
        Self {
            info,
            buffer,
            pty: None,
            exit: None,
            crashed: None,
            request_id,
            started_reported: false,
            exit_reported: false,
            dropped_input: 0,
            attention: Attention::default(),
            size_changed_at: None,
            waiting_reported: false,
        }
    }

    /// The process ended and the server stored all its output: nothing is left to resume.
    pub fn output_settled(&self) -> bool {
        self.exit.is_some() && self.buffer.fully_acked()
    }

    /// Over and fully delivered (exit reported, all output stored): the session can be forgotten.
    pub fn done(&self) -> bool {
        self.exit_reported && self.output_settled()
    }

    pub fn has_pending(&self) -> bool {
        self.crashed.is_some()
            || !self.started_reported
            || self.dropped_input > 0
            || self.size_changed_at.is_some()
            || self.buffer.has_pending()
            || (self.exit.is_some() && !self.exit_reported)
    }

    /// `session_attention`, when whether it waits for its user changed since the server was
    /// last told (an ended session waits for nobody).
    pub fn attention_message(&mut self, now: std::time::Instant) -> Option<Outgoing> {
        let waiting = self.exit.is_none() && self.crashed.is_none() && self.attention.waiting(now);
        if waiting == self.waiting_reported || !self.started_reported {
            return None;
        }
        self.waiting_reported = waiting;
        Some(Outgoing::Message(AgentMessage::SessionAttention {
            session_id: self.info.session_id,
            waiting_for_input: waiting,
        }))
    }

    /// `session_crashed`, when the session failed to start.
    pub fn crash_message(&self) -> Option<Outgoing> {
        let reason = self.crashed.as_ref()?;
        Some(Outgoing::Message(AgentMessage::SessionCrashed {
            session_id: self.info.session_id,
            reason: reason.clone(),
            request_id: self.request_id.clone(),
        }))
    }

    /// `session_started`, once; it must precede the session's output.
    pub fn start_message(&mut self) -> Option<Outgoing> {
        if self.started_reported {
            return None;
        }
        self.started_reported = true;
        Some(Outgoing::Message(AgentMessage::SessionStarted {
            session: self.info.clone(),
            request_id: self.request_id.clone(),
        }))
    }

    /// An error message about input dropped since the last one.
    pub fn dropped_input_message(&mut self) -> Option<Outgoing> {
        if self.dropped_input == 0 {
            return None;
        }
        let bytes = std::mem::take(&mut self.dropped_input);
        Some(Outgoing::Message(AgentMessage::Error {
            code: INPUT_DROPPED.into(),
            message: format!(
                "session {}: {bytes} bytes of input were dropped because the process is not reading its terminal",
                self.info.session_id
            ),
        }))
    }

    /// The next output frame or gap report, or `session_resized` once the output before a
    /// resize went out (frames stop at the resize, so recordings replay it exactly there).
    pub fn next_output(&mut self) -> Option<Outgoing> {
        let id = self.info.session_id;
        let mut max = MAX_FRAME;
        if let Some(at) = self.size_changed_at {
            if self.buffer.sent() >= at {
                self.size_changed_at = None;
                let (cols, rows) = (self.info.cols, self.info.rows);
                return Some(Outgoing::Message(AgentMessage::SessionResized { session_id: id, cols, rows }));
            }
            max = usize::try_from(at - self.buffer.sent()).unwrap_or(MAX_FRAME).min(MAX_FRAME);
        }
        Some(match self.buffer.next_pending(max)? {
            Pending::Data { offset, data } => Outgoing::Frame(frame::encode_output(id, offset, &data)),
            Pending::Gap { offset, length } => Outgoing::Message(AgentMessage::Gap { session_id: id, offset, length }),
        })
    }

    /// `session_exited`, once the process ended and all its output went out before it.
    pub fn exit_message(&mut self) -> Option<Outgoing> {
        let (exit_code, ended_at) = self.exit?;
        if self.exit_reported || self.buffer.has_pending() {
            return None;
        }
        self.exit_reported = true;
        Some(Outgoing::Message(AgentMessage::SessionExited { session_id: self.info.session_id, exit_code, ended_at }))
    }

    pub fn summary(&self, now: std::time::Instant) -> Summary {
        let running = self.exit.is_none() && self.crashed.is_none();
        Summary {
            session_id: self.info.session_id,
            kind: self.info.kind.clone(),
            command: self.info.command.clone(),
            pid: self.info.pid,
            running,
            exit_code: self.exit.and_then(|(c, _)| c),
            unacked_bytes: self.buffer.held(),
            waiting_for_input: running && self.attention.waiting(now),
        }
    }
}
