//! Finds AI coding CLIs running on this machine (outside SessionForge) with sysinfo, and notices
//! when they end. A process matches when its name, its executable, or (for script interpreters
//! such as node or python) its script is one of the configured command names.
//!
//! Discovered sessions get a stable id derived from machine, pid and start time, so restarting
//! the agent does not register them twice.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use sessionforge_shared::ids::SessionId;
use sessionforge_shared::protocol::{SessionInfo, SessionSource};
use sysinfo::{Pid, Process, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};
use uuid::Uuid;

/// Programs that run AI CLIs written as scripts; for these the script name is what matters.
const INTERPRETERS: &[&str] = &["node", "nodejs", "bun", "deno", "python", "python3", "sh", "bash", "zsh", "dash"];
/// Scans between refreshes of a discovered session's CPU and memory figures.
const STATS_EVERY: u32 = 6;
/// Deepest parent chain followed when checking whether a process is one of ours.
const MAX_ANCESTRY: usize = 64;
/// Namespace for discovered-session ids (UUIDv5).
const NAMESPACE: Uuid = Uuid::from_u128(0x5e55_10f0_46e0_4d1a_9c55_0d15_c0fe_a11d);

/// What changed since the previous scan.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Found(SessionInfo),
    /// Fresh CPU and memory figures for a known session.
    Updated(SessionInfo),
    Ended(SessionId),
}

#[derive(Debug)]
pub struct Discovery {
    sys: System,
    commands: Vec<String>,
    machine: Uuid,
    tracked: HashMap<SessionId, SessionInfo>,
    scans: u32,
}

fn base_name(s: &str) -> String {
    let name = Path::new(s).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    for ext in [".exe", ".cmd", ".bat", ".js", ".mjs", ".py"] {
        if let Some(stem) = lower.strip_suffix(ext) {
            return stem.to_string();
        }
    }
    lower
}

/// The configured command this process runs, if any.
fn kind_of(process: &Process, commands: &[String]) -> Option<String> {
    let cmd: Vec<String> = process.cmd().iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let mut names = vec![base_name(&process.name().to_string_lossy())];
    if let Some(first) = cmd.first() {
        let first = base_name(first);
        if INTERPRETERS.contains(&first.as_str()) {
            if let Some(script) = cmd.iter().skip(1).find(|a| !a.starts_with('-')) {
                names.push(base_name(script));
            }
        } else {
            names.push(first);
        }
    }
    names.into_iter().find(|n| commands.iter().any(|c| c.eq_ignore_ascii_case(n)))
}

impl Discovery {
    pub fn new(commands: Vec<String>, machine: Uuid) -> Self {
        Self { sys: System::new(), commands, machine, tracked: HashMap::new(), scans: 0 }
    }

    /// Sessions currently known (for `hello` after a reconnect).
    pub fn current(&self) -> Vec<SessionInfo> {
        self.tracked.values().cloned().collect()
    }

    /// Whether `pid` is `roots` or descends from one of them (the agent and its PTY sessions).
    fn is_ours(&self, pid: Pid, roots: &HashSet<u32>) -> bool {
        let mut cur = Some(pid);
        for _ in 0..MAX_ANCESTRY {
            let Some(p) = cur else { return false };
            if roots.contains(&p.as_u32()) {
                return true;
            }
            cur = self.sys.process(p).and_then(Process::parent);
        }
        false
    }

    /// Refreshes the process list and reports what appeared, changed or ended. `own` holds the
    /// pids whose process trees belong to SessionForge (skipped: they are relayed sessions).
    pub fn scan(&mut self, own: &HashSet<u32>) -> Vec<Change> {
        let refresh = ProcessRefreshKind::nothing()
            .with_cmd(UpdateKind::OnlyIfNotSet)
            .with_cwd(UpdateKind::OnlyIfNotSet)
            .with_cpu()
            .with_memory();
        self.sys.refresh_processes_specifics(ProcessesToUpdate::All, true, refresh);
        self.scans = self.scans.wrapping_add(1);
        let refresh_stats = self.scans.is_multiple_of(STATS_EVERY);

        let mut seen = HashSet::new();
        let mut changes = Vec::new();
        for (pid, process) in self.sys.processes() {
            if process.thread_kind().is_some() {
                continue; // a thread, not a process
            }
            let Some(kind) = kind_of(process, &self.commands) else { continue };
            if self.is_ours(*pid, own) {
                continue;
            }
            let id = SessionId(Uuid::new_v5(
                &NAMESPACE,
                format!("{}:{}:{}", self.machine, pid.as_u32(), process.start_time()).as_bytes(),
            ));
            seen.insert(id);
            let cmd: Vec<String> = process.cmd().iter().map(|a| a.to_string_lossy().into_owned()).collect();
            let info = SessionInfo {
                session_id: id,
                source: SessionSource::Discovered,
                kind,
                command: cmd.first().cloned().unwrap_or_else(|| process.name().to_string_lossy().into_owned()),
                args: cmd.iter().skip(1).cloned().collect(),
                cwd: process.cwd().map(|p| p.display().to_string()).unwrap_or_default(),
                pid: Some(pid.as_u32()),
                started_at: i64::try_from(process.start_time()).unwrap_or(0),
                cols: 0,
                rows: 0,
                cpu_percent: process.cpu_usage(),
                memory_bytes: process.memory(),
                local_terminal: false,
            };
            match self.tracked.insert(id, info.clone()) {
                None => changes.push(Change::Found(info)),
                Some(_) if refresh_stats => changes.push(Change::Updated(info)),
                Some(_) => {}
            }
        }
        let ended: Vec<SessionId> = self.tracked.keys().filter(|id| !seen.contains(id)).copied().collect();
        for id in ended {
            self.tracked.remove(&id);
            changes.push(Change::Ended(id));
        }
        changes
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn finds_a_cli_by_script_name_and_notices_its_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("claude");
        std::fs::write(&script, "#!/bin/sh\nwhile true; do sleep 1; done\n").expect("write");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        // No inherited output: the script's `sleep` outlives a kill and would hold the test's pipes.
        let mut child = std::process::Command::new(&script)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn fake claude");
        let pid = child.id();
        let mut d = Discovery::new(vec!["claude".into()], Uuid::new_v4());
        let found = (0..50)
            .find_map(|_| {
                let changes = d.scan(&HashSet::new());
                let hit = changes.into_iter().find_map(|c| match c {
                    Change::Found(info) if info.pid == Some(pid) => Some(info),
                    _ => None,
                });
                if hit.is_none() {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                hit
            })
            .expect("discovered");
        assert_eq!(found.kind, "claude");
        assert_eq!(found.source, SessionSource::Discovered);

        // Our own process trees are skipped.
        let mut mine = Discovery::new(vec!["claude".into()], Uuid::new_v4());
        let own: HashSet<u32> = [pid].into_iter().collect();
        assert!(mine.scan(&own).iter().all(|c| !matches!(c, Change::Found(i) if i.pid == Some(pid))));

        child.kill().expect("kill");
        child.wait().expect("wait");
        let ended = d.scan(&HashSet::new());
        assert!(ended.contains(&Change::Ended(found.session_id)), "{ended:?}");
    }

    #[test]
    fn interpreters_match_their_script_not_themselves() {
        assert_eq!(base_name("/usr/lib/node_modules/.bin/claude.js"), "claude");
        assert_eq!(base_name("/opt/bin/Codex.EXE"), "codex");
    }
}
