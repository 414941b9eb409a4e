//! `wrap -- <command>`: runs a command in a PTY on this terminal, fully interactive, while the
//! agent relays it to the server. The local terminal is put in raw mode and restored on exit;
//! the command's exit code becomes ours.

use std::io::{IsTerminal, Read, Write};
use std::time::Duration;

use sessionforge_shared::ids::SessionId;
use sessionforge_shared::protocol::AgentMode;

use crate::agent::{Agent, AgentError};
use crate::config::{AgentConfig, Paths};
use crate::pty::Spawn;
use crate::sessions::Echo;

/// How long to wait after the command exits for the server to store the last output.
const FLUSH_AFTER_EXIT: Duration = Duration::from_secs(10);
/// How often the exit is checked for.
const EXIT_POLL: Duration = Duration::from_millis(25);

#[derive(Debug, thiserror::Error)]
pub enum WrapError {
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error(transparent)]
    Start(#[from] crate::pty::PtyError),
}

/// Restores the terminal's mode when dropped.
struct RawMode;

impl RawMode {
    fn enable() -> Option<Self> {
        if !std::io::stdin().is_terminal() {
            return None;
        }
        crossterm::terminal::enable_raw_mode().ok().map(|_| RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// Runs the command and returns its exit code (`None` when a signal ended it).
pub async fn run(
    cfg: &AgentConfig,
    paths: &Paths,
    command: String,
    args: Vec<String>,
) -> Result<Option<i32>, WrapError> {
    let agent = Agent::start(cfg, paths, AgentMode::Wrap, "wrap").await?;
    let (cols, rows) = crossterm::terminal::size().unwrap_or((80, 24));
    let spec = Spawn { command, args, cwd: String::new(), cols, rows };
    let id = SessionId::new();
    let echo: Echo = Box::new(|data: &[u8]| {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(data);
        let _ = out.flush();
    });
    let raw = RawMode::enable();
    let pty = match agent.sessions.start(id, spec, None, Some(echo)) {
        Ok(p) => p,
        Err(e) => {
            drop(raw);
            agent.stop(Duration::from_secs(2)).await;
            return Err(e.into());
        }
    };

    let input = pty.clone();
    std::thread::Builder::new()
        .name("wrap-stdin".into())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdin.read(&mut buf) {
                if n == 0 || input.write(&buf[..n]).is_err() {
                    break;
                }
            }
        })
        .ok();

    #[cfg(unix)]
    let mut winch = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok();
    let code = loop {
        if let Some(code) = agent.sessions.exit_of(id) {
            break code;
        }
        #[cfg(unix)]
        if let Some(w) = winch.as_mut() {
            tokio::select! {
                _ = w.recv() => {
                    if let Ok((c, r)) = crossterm::terminal::size() {
                        agent.sessions.resize(id, c, r);
                    }
                }
                _ = tokio::time::sleep(EXIT_POLL) => {}
            }
            continue;
        }
        tokio::time::sleep(EXIT_POLL).await;
    };
    drop(raw);

    let deadline = tokio::time::Instant::now() + FLUSH_AFTER_EXIT;
    while !agent.sessions.settled(id) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(EXIT_POLL).await;
    }
    if !agent.sessions.settled(id) {
        eprintln!(
            "sessionforge: the server has not confirmed all output of this session yet; it stays spooled and \
             `sessionforge-agent run` (or the tray) sends it once the server is back"
        );
    }
    agent.stop(Duration::from_secs(1)).await;
    Ok(code)
}
