//! Each running agent process (`run`, `wrap`, the tray) writes a small status file; `status`
//! reads them all, ignoring files of processes that are gone. `update` reads them too, to find
//! relayed sessions that replacing the agent would disturb.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sessionforge_shared::files;

use crate::link::LinkState;
use crate::sessions::Summary;

/// Subdirectory of the state dir holding one `<pid>.json` per agent process.
const DIR: &str = "status";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub pid: u32,
    /// `daemon`, `wrap` or `tray`.
    pub mode: String,
    pub server_url: String,
    pub machine_id: Option<uuid::Uuid>,
    pub link: LinkState,
    pub sessions: Vec<Summary>,
    /// Unix seconds.
    pub updated_at: i64,
    /// A newer agent version the daemon found on its release channel (for the tray to show).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_available: Option<String>,
}

/// A relayed session that is running in some agent process.
#[derive(Debug, Clone, PartialEq)]
pub struct Busy {
    /// The agent process relaying it.
    pub agent_pid: u32,
    pub mode: String,
    /// The session's command, or a note when the process has not listed it yet.
    pub what: String,
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (agent {} pid {})", self.what, self.mode, self.agent_pid)
    }
}

fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join(DIR)
}

/// Writes this process's status file.
/// A Unix time for people (RFC 3339, UTC).
pub fn format_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

pub fn write(state_dir: &Path, status: &Status) -> std::io::Result<()> {
    let d = dir(state_dir);
    files::create_private_dir(&d)?;
    let text = serde_json::to_vec_pretty(status).map_err(std::io::Error::other)?;
    files::write_private_atomic(&d.join(format!("{}.json", status.pid)), &text)
}

/// Removes this process's status file (on exit).
pub fn remove(state_dir: &Path, pid: u32) {
    let _ = std::fs::remove_file(dir(state_dir).join(format!("{pid}.json")));
}

/// Statuses of agent processes that are still running; stale files are deleted.
pub fn read_all(state_dir: &Path) -> Vec<Status> {
    let Ok(entries) = std::fs::read_dir(dir(state_dir)) else { return Vec::new() };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(status) = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<Status>(&b).ok()) else {
            continue;
        };
        if process_alive(status.pid) {
            out.push(status);
        } else {
            let _ = std::fs::remove_file(&path);
        }
    }
    out.sort_by_key(|s| s.pid);
    out
}

/// Relayed sessions running in live agent processes other than `except_pid`. A `wrap` process
/// that has not listed its session yet counts too: it exists only to run one.
pub fn running_sessions(state_dir: &Path, except_pid: u32) -> Vec<Busy> {
    let mut out = Vec::new();
    for s in read_all(state_dir).into_iter().filter(|s| s.pid != except_pid) {
        let running: Vec<_> = s.sessions.iter().filter(|x| x.running).collect();
        for sess in &running {
            out.push(Busy {
                agent_pid: s.pid,
                mode: s.mode.clone(),
                what: format!("{} {}", sess.session_id, sess.command),
            });
        }
        if running.is_empty() && s.mode == "wrap" && s.sessions.is_empty() {
            out.push(Busy { agent_pid: s.pid, mode: s.mode.clone(), what: "a session that is starting".into() });
        }
    }
    out
}

/// Whether a process with this pid exists.
pub fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = i32::try_from(pid) else { return false };
        // Signal 0 checks existence without sending anything.
        matches!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None), Ok(()) | Err(nix::errno::Errno::EPERM))
    }
    #[cfg(not(unix))]
    {
        let mut sys = sysinfo::System::new();
        let pid = sysinfo::Pid::from_u32(pid);
        sys.refresh_processes(sysinfo::ProcessesToUpdate::Some(&[pid]), true);
        sys.process(pid).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_files_are_ignored_and_removed() {
        let d = tempfile::tempdir().expect("tempdir");
        let me = Status {
            pid: std::process::id(),
            mode: "daemon".into(),
            server_url: "https://s".into(),
            machine_id: None,
            link: LinkState::Connected,
            sessions: vec![],
            updated_at: 0,
            update_available: None,
        };
        write(d.path(), &me).expect("write");
        let gone = Status { pid: 999_999_999, ..me.clone() };
        write(d.path(), &gone).expect("write");
        assert_eq!(read_all(d.path()), vec![me.clone()]);
        assert!(!d.path().join(DIR).join("999999999.json").exists());
        assert!(running_sessions(d.path(), 0).is_empty(), "an idle daemon blocks nothing");

        // A wrap process blocks updates from the start, and so does any running session.
        let wrap = Status { mode: "wrap".into(), ..me.clone() };
        write(d.path(), &wrap).expect("write");
        let busy = running_sessions(d.path(), 0);
        assert_eq!(busy.len(), 1, "{busy:?}");
        assert!(busy[0].to_string().contains("starting"), "{}", busy[0]);
        assert!(running_sessions(d.path(), std::process::id()).is_empty(), "a process never blocks itself");
    }
}
