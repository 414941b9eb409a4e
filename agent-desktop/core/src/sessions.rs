//! The agent's relayed sessions: each PTY process with its output buffer and what the server
//! has been told about it. The connection task pulls whatever is pending ([`Sessions::drain`])
//! whenever [`Sessions::changed`] fires, so output produced while offline simply waits in the
//! bounded buffer and is resent after a reconnect. A session is forgotten once it is over and
//! fully delivered; the per-session state lives in [`local`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use sessionforge_shared::ids::SessionId;
use sessionforge_shared::protocol::{
    AgentMessage, KNOWN_AI_CLIS, ResumePoint, SessionInfo, SessionSource, usable_size,
};
use tokio::sync::Notify;

use crate::outbuf::OutputBuffer;
use crate::pty::{self, InputError, PtyHandle, Spawn};
use crate::spool;

pub mod attention;
mod local;
#[cfg(all(test, unix))]
mod tests;

use local::LocalSession;
pub use local::{INPUT_DROPPED, MAX_FRAME};

/// Receives a copy of every output chunk (the local terminal of `wrap`).
pub type Echo = Box<dyn FnMut(&[u8]) + Send>;

/// Something to send to the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    Message(AgentMessage),
    /// An encoded binary output frame.
    Frame(Vec<u8>),
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
    /// Running and waiting for its user (see [`attention`]).
    #[serde(default)]
    pub waiting_for_input: bool,
}

/// Exit codes of sessions already forgotten, kept for whoever waits on them (at most this many).
const FINISHED_KEPT: usize = 256;

/// Where sessions keep their unacknowledged output.
#[derive(Clone, Debug, Default)]
pub struct Spooling {
    /// The spool directory (`state_dir/spool`); `None` keeps output in memory only.
    pub root: Option<std::path::PathBuf>,
    /// Most unacknowledged output per spooled session before its PTY reader waits.
    pub limit: u64,
}

#[derive(Debug)]
pub struct Sessions {
    map: Mutex<HashMap<SessionId, LocalSession>>,
    /// Woken when buffers shrink (acks) or sessions go, for PTY readers waiting for room.
    room: Condvar,
    /// Set at shutdown: PTY readers stop waiting for room.
    closing: std::sync::atomic::AtomicBool,
    /// Exit codes of sessions that are over and fully delivered.
    finished: Mutex<HashMap<SessionId, Option<i32>>>,
    /// Fires when there may be something to send.
    pub changed: Notify,
    buffer_limit: usize,
    spooling: Spooling,
    /// Counts drains, so that each one starts with a different session.
    turn: AtomicUsize,
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
    /// Sessions whose output is held in memory, at most `buffer_limit` bytes unacknowledged.
    pub fn new(buffer_limit: usize) -> Arc<Self> {
        Self::with_spool(buffer_limit, Spooling::default())
    }

    /// Sessions whose output is spooled to disk as `spooling` says (in memory when it cannot be).
    pub fn with_spool(buffer_limit: usize, spooling: Spooling) -> Arc<Self> {
        Arc::new(Self {
            map: Mutex::new(HashMap::new()),
            room: Condvar::new(),
            closing: std::sync::atomic::AtomicBool::new(false),
            finished: Mutex::new(HashMap::new()),
            changed: Notify::new(),
            buffer_limit,
            spooling,
            turn: AtomicUsize::new(0),
        })
    }

    /// Most unacknowledged output held per session.
    pub fn buffer_limit(&self) -> usize {
        match &self.spooling.root {
            Some(_) => usize::try_from(self.spooling.limit).unwrap_or(usize::MAX),
            None => self.buffer_limit,
        }
    }

    /// A buffer for a new session: spooled when it can be, else in memory.
    fn new_buffer(&self, info: &SessionInfo, request_id: Option<String>) -> OutputBuffer {
        if let Some(root) = &self.spooling.root {
            let meta = spool::Meta { session: info.clone(), request_id, exit: None };
            match spool::Spool::create(root, &meta, 0) {
                Ok(s) => return OutputBuffer::spooled(s, self.spooling.limit),
                Err(e) => tracing::warn!(error = %e, "cannot spool the session's output; holding it in memory"),
            }
        }
        OutputBuffer::new(self.buffer_limit)
    }

    /// Takes over the spooled sessions of agents that died (killed, crashed, restarted): their
    /// output is resent and their end reported. Returns how many were adopted.
    pub fn adopt_orphans(&self) -> usize {
        let Some(root) = &self.spooling.root else { return 0 };
        let orphans = spool::orphans(root);
        let n = orphans.len();
        let mut map = self.lock();
        for o in orphans {
            let id = o.meta.session.session_id;
            if map.contains_key(&id) {
                continue;
            }
            tracing::info!(session = %id, "resending the output of a session whose agent stopped");
            let buffer = OutputBuffer::spooled(o.spool, self.spooling.limit);
            let mut session = LocalSession::new(o.meta.session, buffer, o.meta.request_id);
            // Its process went with its agent (a PTY's child gets SIGHUP when the PTY closes).
            session.exit = Some(o.meta.exit.unwrap_or((None, now())));
            map.insert(id, session);
        }
        drop(map);
        if n > 0 {
            self.changed.notify_one();
        }
        n
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<SessionId, LocalSession>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts `spec` in a PTY as session `id`. `echo` also receives every output chunk (the
    /// local terminal of `wrap`). A start failure is recorded and reported as a crash.
    pub fn start(
        self: &Arc<Self>,
        id: SessionId,
        mut spec: Spawn,
        request_id: Option<String>,
        mut echo: Option<Echo>,
    ) -> Result<PtyHandle, pty::PtyError> {
        (spec.cols, spec.rows) = usable_size(spec.cols, spec.rows);
        let info = Self::info(id, &spec, echo.is_some());
        let buffer = self.new_buffer(&info, request_id.clone());
        self.lock().insert(id, LocalSession::new(info, buffer, request_id));
        let sink = Arc::clone(self);
        // Stored (spooled) first, so that what the local terminal shows is never more than what
        // survives the agent being killed; then shown; then, if the server is behind, the reader
        // waits (the local terminal has already shown this chunk).
        let spawned = pty::spawn(&spec, move |data| {
            sink.output(id, data);
            if let Some(echo) = echo.as_mut() {
                echo(data);
            }
            sink.wait_for_room(id);
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
            sessions.exited(id, code);
        });
        self.changed.notify_one();
        Ok(handle)
    }

    /// Records a start request this agent refuses (not allowed here, a required variable is
    /// missing): the server hears `session_crashed` with `reason`.
    pub fn refuse(&self, id: SessionId, spec: &Spawn, request_id: Option<String>, reason: String) {
        let buffer = OutputBuffer::new(self.buffer_limit);
        let mut session = LocalSession::new(Self::info(id, spec, false), buffer, request_id);
        session.crashed = Some(reason);
        self.lock().insert(id, session);
        self.changed.notify_one();
    }

    /// What the server is told about a session of ours.
    fn info(id: SessionId, spec: &Spawn, local_terminal: bool) -> SessionInfo {
        SessionInfo {
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
            local_terminal,
        }
    }

    /// Adds a session without a process, fed through [`Self::output`] and [`Self::exited`].
    #[cfg(test)]
    pub(crate) fn insert_detached(&self, id: SessionId) {
        let info = SessionInfo {
            session_id: id,
            source: SessionSource::Relayed,
            kind: "other".into(),
            command: "test".into(),
            args: vec![],
            cwd: String::new(),
            pid: None,
            started_at: now(),
            cols: 80,
            rows: 24,
            cpu_percent: 0.0,
            memory_bytes: 0,
            local_terminal: false,
        };
        self.lock().insert(id, LocalSession::new(info, OutputBuffer::new(self.buffer_limit), None));
    }

    /// Output of session `id` (from its PTY reader), stored (spooled) at once.
    pub(crate) fn output(&self, id: SessionId, data: &[u8]) {
        if let Some(s) = self.lock().get_mut(&id) {
            s.buffer.push(data);
            s.attention.output(data, std::time::Instant::now());
        }
        self.changed.notify_one();
    }

    /// Waits while session `id` holds its limit of output the server has not acknowledged.
    /// The PTY is not read meanwhile, so the program blocks on its writes, exactly as behind a
    /// slow terminal.
    pub(crate) fn wait_for_room(&self, id: SessionId) {
        let mut map = self.lock();
        while !self.closing.load(Ordering::Relaxed) && map.get(&id).is_some_and(|s| s.buffer.is_full()) {
            map = self.room.wait(map).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Session `id`'s process ended (`code` is `None` for a signal).
    pub(crate) fn exited(&self, id: SessionId, code: Option<i32>) {
        if let Some(s) = self.lock().get_mut(&id) {
            s.exit = Some((code, now()));
            s.pty = None;
            let meta = spool::Meta { session: s.info.clone(), request_id: s.request_id.clone(), exit: s.exit };
            s.buffer.write_meta(&meta);
        }
        self.changed.notify_one();
    }

    /// Viewer input for session `id`. Never blocks: a process that is not reading gets its
    /// input dropped, with a warning here and an error message to the server.
    pub fn input(&self, id: SessionId, data: &[u8]) {
        let mut map = self.lock();
        let Some(s) = map.get_mut(&id) else { return };
        let Some(pty) = &s.pty else { return };
        match pty.try_write(data) {
            Ok(()) => s.attention.input(),
            Err(InputError::Full) => {
                if s.dropped_input == 0 {
                    tracing::warn!(session = %id, "the process is not reading its input; dropping viewer input");
                }
                s.dropped_input = s.dropped_input.saturating_add(data.len());
                drop(map);
                self.changed.notify_one();
            }
            Err(e @ InputError::Closed) => tracing::debug!(session = %id, error = %e, "cannot write input"),
        }
    }

    /// Resizes session `id`'s terminal (a degenerate size becomes 80×24) and, when the size
    /// changed, tells the server.
    pub fn resize(&self, id: SessionId, cols: u16, rows: u16) {
        let (cols, rows) = usable_size(cols, rows);
        let pty = {
            let mut map = self.lock();
            let Some(s) = map.get_mut(&id) else { return };
            if (s.info.cols, s.info.rows) == (cols, rows) {
                return;
            }
            s.info.cols = cols;
            s.info.rows = rows;
            s.size_changed_at = Some(s.buffer.end());
            s.pty.clone()
        };
        if let Some(pty) = pty {
            pty.resize(cols, rows);
        }
        self.changed.notify_one();
    }

    pub fn stop(&self, id: SessionId) {
        let pty = self.lock().get(&id).and_then(|s| s.pty.clone());
        if let Some(pty) = pty {
            pty.kill();
        }
    }

    /// Stops every running session (agent shutdown); PTY readers stop waiting for room (what
    /// they read still goes to the spool).
    pub fn stop_all(&self) {
        self.closing.store(true, Ordering::Relaxed);
        self.room.notify_all();
        let ptys: Vec<PtyHandle> = self.lock().values().filter_map(|s| s.pty.clone()).collect();
        for p in ptys {
            p.kill();
        }
    }

    /// The sessions to list in `hello`: those with something left to resume. Everything about
    /// them will be (re)reported on this connection: starts are implied by `hello`, exits are
    /// sent again (also for the sessions left out, whose output is all stored).
    pub fn for_hello(&self) -> Vec<SessionInfo> {
        let mut map = self.lock();
        map.values_mut()
            .filter_map(|s| {
                s.exit_reported = false;
                if s.crashed.is_some() || s.output_settled() {
                    return None;
                }
                s.started_reported = true;
                Some(s.info.clone())
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

    /// The server stored session `id`'s output before `offset`.
    pub fn ack(&self, id: SessionId, offset: u64) {
        let mut map = self.lock();
        let Some(s) = map.get_mut(&id) else { return };
        s.buffer.ack(offset);
        // Acks are read only after every drained batch went out, so a reported exit was sent.
        if s.done() {
            self.forget(&mut map, id);
        }
        drop(map);
        self.room.notify_all();
    }

    /// Removes a session that is over and fully delivered, keeping its exit code.
    fn forget(&self, map: &mut HashMap<SessionId, LocalSession>, id: SessionId) {
        let Some(mut s) = map.remove(&id) else { return };
        s.buffer.discard();
        let mut finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
        if finished.len() >= FINISHED_KEPT {
            finished.clear();
        }
        finished.insert(id, s.exit.and_then(|(c, _)| c));
    }

    /// What is pending, in the order the server must see it (a session's start before its
    /// output, its output before its exit): lifecycle messages and up to `max` output frames
    /// or gaps. Output is taken one frame per session in turn, starting with a different
    /// session each time, so that one busy session cannot crowd out the others.
    pub fn drain(&self, max: usize) -> Vec<Outgoing> {
        let mut out = Vec::new();
        let now = std::time::Instant::now();
        let mut map = self.lock();
        // The connection sends each batch whole before it asks for the next one (and a new
        // connection starts with `for_hello`), so exits reported by earlier drains were sent.
        let done: Vec<SessionId> = map.iter().filter(|(_, s)| s.done()).map(|(id, _)| *id).collect();
        for id in done {
            self.forget(&mut map, id);
        }
        let mut ids: Vec<SessionId> = map.keys().copied().collect();
        ids.sort_unstable();
        if !ids.is_empty() {
            let turn = self.turn.fetch_add(1, Ordering::Relaxed) % ids.len();
            ids.rotate_left(turn);
        }
        ids.retain(|id| {
            let Some(s) = map.get_mut(id) else { return false };
            if let Some(crash) = s.crash_message() {
                out.push(crash);
                if let Some(mut gone) = map.remove(id) {
                    gone.buffer.discard();
                }
                return false;
            }
            out.extend(s.start_message());
            out.extend(s.dropped_input_message());
            out.extend(s.attention_message(now));
            true
        });
        let mut busy = ids.clone();
        let mut taken = 0;
        while taken < max && !busy.is_empty() {
            busy.retain(|id| {
                if taken >= max {
                    return true;
                }
                let Some(next) = map.get_mut(id).and_then(LocalSession::next_output) else { return false };
                out.push(next);
                taken += 1;
                true
            });
        }
        let mut settled = false;
        for id in &ids {
            if let Some(s) = map.get_mut(id)
                && let Some(exit) = s.exit_message()
            {
                out.push(exit);
                settled |= s.done();
            }
        }
        drop(map);
        if settled {
            // Come back once this batch is sent, to forget the sessions it finished.
            self.changed.notify_one();
        }
        out
    }

    /// Whether there is anything left to send.
    pub fn has_pending(&self) -> bool {
        self.lock().values().any(LocalSession::has_pending)
    }

    /// Whether the session is over and the server has everything (or it is gone).
    pub fn settled(&self, id: SessionId) -> bool {
        self.lock().get(&id).is_none_or(LocalSession::done)
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
        let now = std::time::Instant::now();
        let mut v: Vec<Summary> = self.lock().values().map(|s| s.summary(now)).collect();
        v.sort_by_key(|s| s.session_id);
        v
    }
}
