//! The agent's relayed sessions: each PTY process with its output buffer and what the server
//! has been told about it. The connection task pulls whatever is pending ([`Sessions::drain`])
//! whenever [`Sessions::changed`] fires, so output produced while offline simply waits in the
//! bounded buffer and is resent after a reconnect.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use sessionforge_shared::frame;
use sessionforge_shared::ids::SessionId;
use sessionforge_shared::protocol::{AgentMessage, KNOWN_AI_CLIS, ResumePoint, SessionInfo, SessionSource};
use tokio::sync::Notify;

use crate::outbuf::{OutputBuffer, Pending};
use crate::pty::{self, PtyHandle, Spawn};

/// Largest output frame sent (matches the PTY read size).
pub const MAX_FRAME: usize = pty::READ_CHUNK;

/// Receives a copy of every output chunk (the local terminal of `wrap`).
pub type Echo = Box<dyn FnMut(&[u8]) + Send>;

/// Something to send to the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    Message(AgentMessage),
    /// An encoded binary output frame.
    Frame(Vec<u8>),
}

#[derive(Debug)]
struct LocalSession {
    info: SessionInfo,
    buffer: OutputBuffer,
    pty: Option<PtyHandle>,
    /// Exit code (None for a signal) and end time, once the process ended.
    exit: Option<(Option<i32>, i64)>,
    /// Why it failed to start, if it did.
    crashed: Option<String>,
    request_id: Option<String>,
    started_reported: bool,
    exit_reported: bool,
}

/// A session as shown by `status` and the tray.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub session_id: SessionId,
    pub kind: String,
    pub command: String,
    pub pid: Option<u32>,
    pub running: bool,
    pub exit_code: Option<i32>,
    /// Output bytes not yet stored by the server.
    pub unacked_bytes: usize,
}

/// Exit codes of sessions already forgotten, kept for whoever waits on them (at most this many).
const FINISHED_KEPT: usize = 256;

#[derive(Debug)]
pub struct Sessions {
    map: Mutex<HashMap<SessionId, LocalSession>>,
    /// Exit codes of sessions that are over and fully delivered.
    finished: Mutex<HashMap<SessionId, Option<i32>>>,
    /// Fires when there may be something to send.
    pub changed: Notify,
    buffer_limit: usize,
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn kind_of(command: &str) -> String {
    let base =
        std::path::Path::new(command).file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    let base = base.trim_end_matches(".exe").to_string();
    if KNOWN_AI_CLIS.contains(&base.as_str()) { base } else { "other".into() }
}

impl Sessions {
    pub fn new(buffer_limit: usize) -> Arc<Self> {
        Arc::new(Self {
            map: Mutex::new(HashMap::new()),
            finished: Mutex::new(HashMap::new()),
            changed: Notify::new(),
            buffer_limit,
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<SessionId, LocalSession>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts `spec` in a PTY as session `id`. `echo` also receives every output chunk (the
    /// local terminal of `wrap`). A start failure is recorded and reported as a crash.
    pub fn start(
        self: &Arc<Self>,
        id: SessionId,
        spec: Spawn,
        request_id: Option<String>,
        mut echo: Option<Echo>,
    ) -> Result<PtyHandle, pty::PtyError> {
        let info = SessionInfo {
            session_id: id,
            source: SessionSource::Relayed,
            kind: kind_of(&spec.command),
            command: spec.command.clone(),
            args: spec.args.clone(),
            cwd: if spec.cwd.is_empty() {
                std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default()
            } else {
                spec.cwd.clone()
            },
            pid: None,
            started_at: now(),
            cols: spec.cols,
            rows: spec.rows,
            cpu_percent: 0.0,
            memory_bytes: 0,
        };
        self.lock().insert(
            id,
            LocalSession {
                info,
                buffer: OutputBuffer::new(self.buffer_limit),
                pty: None,
                exit: None,
                crashed: None,
                request_id,
                started_reported: false,
                exit_reported: false,
            },
        );
        let sink = Arc::clone(self);
        let spawned = pty::spawn(&spec, move |data| {
            if let Some(echo) = echo.as_mut() {
                echo(data);
            }
            if let Some(s) = sink.lock().get_mut(&id) {
                s.buffer.push(data);
            }
            sink.changed.notify_one();
        });
        let (handle, exit) = match spawned {
            Ok(ok) => ok,
            Err(e) => {
                if let Some(s) = self.lock().get_mut(&id) {
                    s.crashed = Some(e.to_string());
                }
                self.changed.notify_one();
                return Err(e);
            }
        };
        if let Some(s) = self.lock().get_mut(&id) {
            s.info.pid = handle.pid;
            s.pty = Some(handle.clone());
        }
        let sessions = Arc::clone(self);
        tokio::spawn(async move {
            let code = exit.await.ok().and_then(|e| e.code);
            if let Some(s) = sessions.lock().get_mut(&id) {
                s.exit = Some((code, now()));
                s.pty = None;
            }
            sessions.changed.notify_one();
        });
        self.changed.notify_one();
        Ok(handle)
    }

    pub fn input(&self, id: SessionId, data: &[u8]) {
        let pty = self.lock().get(&id).and_then(|s| s.pty.clone());
        if let Some(pty) = pty
            && let Err(e) = pty.write(data)
        {
            tracing::warn!(session = %id, error = %e, "cannot write input");
        }
    }

    pub fn resize(&self, id: SessionId, cols: u16, rows: u16) {
        let pty = {
            let mut map = self.lock();
            let Some(s) = map.get_mut(&id) else { return };
            s.info.cols = cols;
            s.info.rows = rows;
            s.pty.clone()
        };
        if let Some(pty) = pty {
            pty.resize(cols, rows);
        }
    }

    pub fn stop(&self, id: SessionId) {
        let pty = self.lock().get(&id).and_then(|s| s.pty.clone());
        if let Some(pty) = pty {
            pty.kill();
        }
    }

    /// Stops every running session (agent shutdown).
    pub fn stop_all(&self) {
        let ptys: Vec<PtyHandle> = self.lock().values().filter_map(|s| s.pty.clone()).collect();
        for p in ptys {
            p.kill();
        }
    }

    /// The sessions to list in `hello`. Everything about them will be (re)reported on this
    /// connection: starts are implied by `hello`, exits are sent again.
    pub fn for_hello(&self) -> Vec<SessionInfo> {
        let mut map = self.lock();
        map.values_mut()
            .filter(|s| s.crashed.is_none())
            .map(|s| {
                s.started_reported = true;
                s.exit_reported = false;
                s.info.clone()
            })
            .collect()
    }

    /// Applies the server's resume points from `welcome`.
    pub fn resume(&self, points: &[ResumePoint]) {
        let mut map = self.lock();
        for p in points {
            if let Some(s) = map.get_mut(&p.session_id) {
                s.buffer.resume_from(p.offset);
            }
        }
        drop(map);
        self.changed.notify_one();
    }

    pub fn ack(&self, id: SessionId, offset: u64) {
        let mut map = self.lock();
        let Some(s) = map.get_mut(&id) else { return };
        s.buffer.ack(offset);
        if s.exit_reported && s.buffer.fully_acked() {
            let code = s.exit.and_then(|(c, _)| c);
            map.remove(&id);
            drop(map);
            let mut finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
            if finished.len() >= FINISHED_KEPT {
                finished.clear();
            }
            finished.insert(id, code);
        }
    }

    /// Up to `max` pending messages and frames, in the order the server must see them.
    pub fn drain(&self, max: usize) -> Vec<Outgoing> {
        let mut out = Vec::new();
        let mut map = self.lock();
        let mut finished = Vec::new();
        for (id, s) in map.iter_mut() {
            if let Some(reason) = &s.crashed {
                out.push(Outgoing::Message(AgentMessage::SessionCrashed {
                    session_id: *id,
                    reason: reason.clone(),
                    request_id: s.request_id.clone(),
                }));
                finished.push(*id);
                continue;
            }
            if !s.started_reported {
                s.started_reported = true;
                out.push(Outgoing::Message(AgentMessage::SessionStarted {
                    session: s.info.clone(),
                    request_id: s.request_id.clone(),
                }));
            }
            while out.len() < max {
                match s.buffer.next_pending(MAX_FRAME) {
                    Some(Pending::Data { offset, data }) => {
                        out.push(Outgoing::Frame(frame::encode_output(*id, offset, &data)))
                    }
                    Some(Pending::Gap { offset, length }) => {
                        out.push(Outgoing::Message(AgentMessage::Gap { session_id: *id, offset, length }))
                    }
                    None => break,
                }
            }
            if let Some((code, ended_at)) = s.exit
                && !s.exit_reported
                && !s.buffer.has_pending()
            {
                s.exit_reported = true;
                out.push(Outgoing::Message(AgentMessage::SessionExited { session_id: *id, exit_code: code, ended_at }));
            }
            if out.len() >= max {
                break;
            }
        }
        for id in finished {
            map.remove(&id);
        }
        out
    }

    /// Whether there is anything left to send.
    pub fn has_pending(&self) -> bool {
        self.lock().values().any(|s| {
            s.crashed.is_some()
                || !s.started_reported
                || s.buffer.has_pending()
                || (s.exit.is_some() && !s.exit_reported)
        })
    }

    /// Whether the session is over and the server has everything (or it is gone).
    pub fn settled(&self, id: SessionId) -> bool {
        self.lock().get(&id).is_none_or(|s| s.exit_reported && s.buffer.fully_acked())
    }

    /// `Some(exit code)` once the session's process has ended (the code is `None` for a signal).
    pub fn exit_of(&self, id: SessionId) -> Option<Option<i32>> {
        if let Some(s) = self.lock().get(&id) {
            return s.exit.map(|(code, _)| code);
        }
        self.finished.lock().unwrap_or_else(|p| p.into_inner()).get(&id).copied()
    }

    /// Pids of running sessions (discovery skips their process trees).
    pub fn pids(&self) -> HashSet<u32> {
        self.lock().values().filter(|s| s.exit.is_none()).filter_map(|s| s.info.pid).collect()
    }

    pub fn running(&self) -> usize {
        self.lock().values().filter(|s| s.exit.is_none() && s.crashed.is_none()).count()
    }

    pub fn summaries(&self) -> Vec<Summary> {
        let mut v: Vec<Summary> = self
            .lock()
            .values()
            .map(|s| Summary {
                session_id: s.info.session_id,
                kind: s.info.kind.clone(),
                command: s.info.command.clone(),
                pid: s.info.pid,
                running: s.exit.is_none() && s.crashed.is_none(),
                exit_code: s.exit.and_then(|(c, _)| c),
                unacked_bytes: s.buffer.held(),
            })
            .collect();
        v.sort_by_key(|s| s.session_id);
        v
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn drain_until(s: &Sessions, pred: impl Fn(&[Outgoing]) -> bool) -> Vec<Outgoing> {
        let mut all = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !pred(&all) {
            assert!(std::time::Instant::now() < deadline, "timed out; got {all:?}");
            all.extend(s.drain(64));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        all
    }

    #[tokio::test]
    async fn reports_start_output_and_exit_in_order() {
        let s = Sessions::new(1 << 20);
        let id = SessionId::new();
        let spec = Spawn {
            command: "sh".into(),
            args: vec!["-c".into(), "printf abc; exit 3".into()],
            cwd: String::new(),
            cols: 80,
            rows: 24,
        };
        s.start(id, spec, Some("req".into()), None).expect("start");
        let out =
            drain_until(&s, |o| o.iter().any(|m| matches!(m, Outgoing::Message(AgentMessage::SessionExited { .. }))))
                .await;
        assert!(
            matches!(&out[0], Outgoing::Message(AgentMessage::SessionStarted { request_id: Some(r), .. }) if r == "req")
        );
        let mut data = Vec::new();
        for o in &out {
            if let Outgoing::Frame(f) = o {
                data.extend_from_slice(frame::decode(f).expect("frame").data);
            }
        }
        assert_eq!(data, b"abc");
        assert!(matches!(out.last(), Some(Outgoing::Message(AgentMessage::SessionExited { exit_code: Some(3), .. }))));
        assert!(!s.settled(id), "not settled until the server acks");
        s.ack(id, 3);
        assert!(s.settled(id));
    }

    #[tokio::test]
    async fn a_failed_start_is_reported_as_a_crash() {
        let s = Sessions::new(1 << 20);
        let id = SessionId::new();
        let spec = Spawn { command: "/no/such/binary".into(), args: vec![], cwd: String::new(), cols: 80, rows: 24 };
        assert!(s.start(id, spec, Some("r1".into()), None).is_err());
        let out = s.drain(10);
        assert!(
            matches!(&out[..], [Outgoing::Message(AgentMessage::SessionCrashed { request_id: Some(r), .. })] if r == "r1")
        );
        assert!(s.settled(id));
    }
}
