//! Running a command in a pseudo-terminal (portable-pty): output is read on a blocking thread
//! and handed to a callback; input goes through a bounded queue to a writer thread of its own
//! (a process that does not read its terminal never blocks the caller); resize and stop go
//! through [`PtyHandle`]; the exit status arrives on a channel once the process ends and its
//! output is drained.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use portable_pty::{ChildKiller, CommandBuilder, MasterPty, PtySize, native_pty_system};
use tokio::sync::oneshot;

#[cfg(unix)]
mod stop;

/// Bytes read from the PTY at a time; also the largest output frame the agent sends.
pub const READ_CHUNK: usize = 16 * 1024;
/// How long to wait for the last output after the process exits.
const DRAIN_AFTER_EXIT: std::time::Duration = std::time::Duration::from_secs(2);
/// Input chunks queued for the writer thread. A process that leaves this many unread is not
/// reading its terminal; further input is refused rather than blocking whoever sends it.
const INPUT_QUEUE: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum PtyError {
    #[error("cannot open a pseudo-terminal: {0}")]
    Open(String),
    #[error("cannot start {command}: {reason}")]
    Spawn { command: String, reason: String },
}

/// Why input did not reach the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("the process is not reading its input; input dropped")]
    Full,
    #[error("the terminal is closed")]
    Closed,
}

/// How a session's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// The exit code, or `None` when a signal ended it.
    pub code: Option<i32>,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Spawn {
    pub command: String,
    pub args: Vec<String>,
    /// Empty means the current directory.
    pub cwd: String,
    pub cols: u16,
    pub rows: u16,
}

/// Control over a running PTY session. Cheap to clone.
#[derive(Clone)]
pub struct PtyHandle {
    input: SyncSender<Vec<u8>>,
    master: Arc<Mutex<Box<dyn MasterPty + Send>>>,
    /// portable-pty's killer: TerminateProcess on Windows; on Unix only SIGHUP to the child,
    /// so there it is the fallback for a child without a pid.
    killer: Arc<Mutex<Box<dyn ChildKiller + Send + Sync>>>,
    /// Set once a stop began, so that repeated stops do not start more escalations.
    stopping: Arc<AtomicBool>,
    pub pid: Option<u32>,
}

impl std::fmt::Debug for PtyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PtyHandle").field("pid", &self.pid).finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl PtyHandle {
    /// Queues input for the process without ever blocking: [`InputError::Full`] when the
    /// process has left [`INPUT_QUEUE`] chunks unread (the input is dropped).
    pub fn try_write(&self, data: &[u8]) -> Result<(), InputError> {
        match self.input.try_send(data.to_vec()) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(InputError::Full),
            Err(TrySendError::Disconnected(_)) => Err(InputError::Closed),
        }
    }

    /// Queues input, waiting while the queue is full. Only for threads that may block (the
    /// local terminal of `wrap`), never on the async runtime.
    pub fn write(&self, data: &[u8]) -> Result<(), InputError> {
        self.input.send(data.to_vec()).map_err(|_| InputError::Closed)
    }

    pub fn resize(&self, cols: u16, rows: u16) {
        let size = PtySize { rows: rows.max(1), cols: cols.max(1), pixel_width: 0, pixel_height: 0 };
        if let Err(e) = lock(&self.master).resize(size) {
            tracing::warn!(error = %e, "cannot resize the terminal");
        }
    }

    /// Ends the process without waiting for it. On Unix its whole process group gets SIGHUP,
    /// then SIGTERM and finally SIGKILL if it is still there after a short grace each (see
    /// `pty/stop.rs`); on Windows the process is terminated (TerminateProcess).
    pub fn kill(&self) {
        if self.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        #[cfg(unix)]
        if let Some(pid) = self.pid {
            stop::escalate(pid);
            return;
        }
        if let Err(e) = lock(&self.killer).kill() {
            tracing::debug!(error = %e, "kill failed (the process may have exited already)");
        }
    }
}

/// Starts `spec` in a new PTY. `on_output` runs on a reader thread for every chunk of output;
/// the returned receiver yields the exit once the process has ended and all output was read.
pub fn spawn(
    spec: &Spawn,
    mut on_output: impl FnMut(&[u8]) + Send + 'static,
) -> Result<(PtyHandle, oneshot::Receiver<Exit>), PtyError> {
    let size = PtySize { rows: spec.rows.max(1), cols: spec.cols.max(1), pixel_width: 0, pixel_height: 0 };
    let pair = native_pty_system().openpty(size).map_err(|e| PtyError::Open(e.to_string()))?;
    let mut cmd = CommandBuilder::new(&spec.command);
    cmd.args(&spec.args);
    let cwd = if spec.cwd.is_empty() { std::env::current_dir().ok() } else { Some(spec.cwd.clone().into()) };
    if let Some(dir) = cwd {
        cmd.cwd(dir);
    }
    if std::env::var_os("TERM").is_none() {
        cmd.env("TERM", "xterm-256color");
    }
    cmd.env("SESSIONFORGE_SESSION", "1");
    let mut child = pair
        .slave
        .spawn_command(cmd)
        .map_err(|e| PtyError::Spawn { command: spec.command.clone(), reason: e.to_string() })?;
    // The slave end belongs to the child now; keeping it open would hide the child's exit.
    drop(pair.slave);
    let reader = pair.master.try_clone_reader().map_err(|e| PtyError::Open(e.to_string()))?;
    let writer = pair.master.take_writer().map_err(|e| PtyError::Open(e.to_string()))?;
    let (input, queued) = std::sync::mpsc::sync_channel(INPUT_QUEUE);
    let handle = PtyHandle {
        input,
        pid: child.process_id(),
        killer: Arc::new(Mutex::new(child.clone_killer())),
        stopping: Arc::new(AtomicBool::new(false)),
        master: Arc::new(Mutex::new(pair.master)),
    };
    std::thread::Builder::new()
        .name("pty-writer".into())
        .spawn(move || write_loop(writer, queued))
        .map_err(|e| PtyError::Open(e.to_string()))?;

    let (exit_tx, exit_rx) = oneshot::channel();
    let (drained_tx, drained_rx) = std::sync::mpsc::channel::<()>();
    // Set while the reader hands output over (which may wait for the server: backpressure).
    let handing_over = Arc::new(AtomicBool::new(false));
    let busy = handing_over.clone();
    std::thread::Builder::new()
        .name("pty-reader".into())
        .spawn(move || {
            read_loop(reader, |data| {
                busy.store(true, Ordering::SeqCst);
                on_output(data);
                busy.store(false, Ordering::SeqCst);
            });
            let _ = drained_tx.send(());
        })
        .map_err(|e| PtyError::Open(e.to_string()))?;
    std::thread::Builder::new()
        .name("pty-wait".into())
        .spawn(move || {
            let status = child.wait();
            // Output written just before the exit is still in the PTY; wait for the reader to
            // drain it — as long as it takes while it is handing output over (the relay may be
            // slow: nothing may be left behind), but not forever once it only waits for more
            // (a background grandchild may keep the PTY open).
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = drained_rx.recv_timeout(DRAIN_AFTER_EXIT) {
                if !handing_over.load(Ordering::SeqCst) {
                    break;
                }
            }
            let code = match status {
                Ok(s) if s.signal().is_some() => None,
                Ok(s) => i32::try_from(s.exit_code()).ok(),
                Err(_) => None,
            };
            let _ = exit_tx.send(Exit { code });
        })
        .map_err(|e| PtyError::Open(e.to_string()))?;
    Ok((handle, exit_rx))
}

/// Writes queued input until every [`PtyHandle`] is gone or the terminal fails.
fn write_loop(mut writer: Box<dyn Write + Send>, queued: Receiver<Vec<u8>>) {
    for chunk in queued {
        if let Err(e) = writer.write_all(&chunk).and_then(|()| writer.flush()) {
            tracing::debug!(error = %e, "cannot write input (the process may have exited)");
            break;
        }
    }
}

fn read_loop(mut reader: Box<dyn Read + Send>, mut on_output: impl FnMut(&[u8])) {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => on_output(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // EIO is how Linux reports that the slave side closed.
            Err(_) => break,
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_a_command_and_reports_output_and_exit_code() {
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        let spec = Spawn {
            command: "sh".into(),
            args: vec!["-c".into(), "printf 'hi there'; exit 7".into()],
            cwd: String::new(),
            cols: 80,
            rows: 24,
        };
        let (_h, exit) = spawn(&spec, move |d| lock(&sink).extend_from_slice(d)).expect("spawn");
        let exit =
            tokio::time::timeout(std::time::Duration::from_secs(20), exit).await.expect("exits").expect("status");
        assert_eq!(exit.code, Some(7));
        assert_eq!(String::from_utf8_lossy(&lock(&out)), "hi there");
    }

    #[tokio::test]
    async fn input_reaches_the_process_and_echoes() {
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        let spec = Spawn { command: "cat".into(), args: vec![], cwd: String::new(), cols: 80, rows: 24 };
        let (h, exit) = spawn(&spec, move |d| lock(&sink).extend_from_slice(d)).expect("spawn");
        h.write(b"ping\n").expect("write");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !String::from_utf8_lossy(&lock(&out)).contains("ping") {
            assert!(std::time::Instant::now() < deadline, "no echo");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        h.kill();
        let exit =
            tokio::time::timeout(std::time::Duration::from_secs(20), exit).await.expect("exits").expect("status");
        assert_ne!(exit.code, Some(0));
    }

    #[test]
    fn input_to_a_process_that_does_not_read_never_blocks() {
        let spec = Spawn { command: "sleep".into(), args: vec!["60".into()], cwd: String::new(), cols: 80, rows: 24 };
        let (h, _exit) = spawn(&spec, |_| {}).expect("spawn");
        let (tx, rx) = std::sync::mpsc::channel();
        let writer = h.clone();
        std::thread::spawn(move || {
            let paste = vec![b'x'; 64 * 1024];
            let refused = loop {
                if let Err(e) = writer.try_write(&paste) {
                    break e;
                }
            };
            let _ = tx.send(refused);
        });
        let refused = rx.recv_timeout(std::time::Duration::from_secs(20)).expect("try_write returned");
        assert_eq!(refused, InputError::Full);
        h.kill();
    }

    #[test]
    fn a_missing_command_is_a_clear_error() {
        let spec = Spawn { command: "/nonexistent/xyz".into(), args: vec![], cwd: String::new(), cols: 80, rows: 24 };
        let err = spawn(&spec, |_| {}).expect_err("error");
        assert!(err.to_string().contains("/nonexistent/xyz"), "{err}");
    }
}
