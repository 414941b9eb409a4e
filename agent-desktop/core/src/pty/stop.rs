//! Stopping a session's process on Unix. portable-pty makes the child a session leader, so its
//! process group id is its pid and the group holds everything it started in the terminal. The
//! group gets SIGHUP (what closing a terminal sends), then SIGTERM, then SIGKILL, each only if
//! something in it is still alive after a short grace: a process that ignores SIGHUP and
//! SIGTERM still ends.

use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// How long the group gets to end after SIGHUP before SIGTERM (a shell hangs up its jobs and
/// exits at once).
const HUP_GRACE: Duration = Duration::from_secs(1);
/// How long the group gets after SIGTERM before SIGKILL. Both graces together stay below the
/// agent's 5 s shutdown grace, so the agent sees its sessions end before it exits.
const TERM_GRACE: Duration = Duration::from_secs(2);
/// How often the group is checked while waiting for it to end.
const POLL: Duration = Duration::from_millis(20);

/// Starts stopping the process group led by `pid` on a thread of its own and returns at once.
pub(super) fn escalate(pid: u32) {
    let Some(group) = group_of(pid) else {
        tracing::warn!(pid, "refusing to signal the process group of this pid");
        return;
    };
    let spawned = std::thread::Builder::new().name("pty-stop".into()).spawn(move || {
        for (signal, grace) in [(Signal::SIGHUP, HUP_GRACE), (Signal::SIGTERM, TERM_GRACE)] {
            if !send(group, signal) || gone_within(group, grace) {
                return;
            }
            tracing::debug!(pid, ?signal, "the session's processes outlived the signal; escalating");
        }
        send(group, Signal::SIGKILL);
    });
    if let Err(e) = spawned {
        tracing::warn!(pid, error = %e, "cannot start the stop thread; sending SIGKILL at once");
        send(group, Signal::SIGKILL);
    }
}

/// The group to signal, refusing the ones that are never a session's: 0 and 1 (`killpg`
/// would hit our own group or init's) and our own group.
fn group_of(pid: u32) -> Option<Pid> {
    let raw = i32::try_from(pid).ok().filter(|p| *p > 1)?;
    let group = Pid::from_raw(raw);
    (group != nix::unistd::getpgrp()).then_some(group)
}

/// Signals the group; false when it is gone (or cannot be signalled).
fn send(group: Pid, signal: Signal) -> bool {
    match killpg(group, signal) {
        Ok(()) => true,
        Err(Errno::ESRCH) => false,
        Err(e) => {
            tracing::warn!(group = group.as_raw(), ?signal, error = %e, "cannot signal the session's processes");
            false
        }
    }
}

/// Waits up to `grace` for the group to have no processes left.
fn gone_within(group: Pid, grace: Duration) -> bool {
    let deadline = Instant::now() + grace;
    loop {
        if matches!(killpg(group, None), Err(Errno::ESRCH)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::pty::{Spawn, spawn};

    #[test]
    fn never_signals_our_own_group_or_init() {
        assert_eq!(group_of(0), None);
        assert_eq!(group_of(1), None);
        assert_eq!(group_of(u32::MAX), None);
        let own = u32::try_from(nix::unistd::getpgrp().as_raw()).expect("pgid");
        assert_eq!(group_of(own), None);
    }

    /// Processes of `group` that are alive (zombies waiting for init to reap them are not).
    #[cfg(target_os = "linux")]
    fn live_members(group: i32) -> Vec<i32> {
        let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
                // After "pid (comm)": state, ppid, pgrp.
                let Some((_, rest)) = stat.rsplit_once(')') else { return false };
                let fields: Vec<&str> = rest.split_whitespace().collect();
                fields.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(group) && fields.first() != Some(&"Z")
            })
            .collect()
    }

    #[tokio::test]
    async fn a_process_ignoring_hup_and_term_is_killed() {
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        let spec = Spawn {
            command: "sh".into(),
            args: vec!["-c".into(), r#"trap "" HUP TERM; echo ready; while :; do sleep 1; done"#.into()],
            cwd: String::new(),
            cols: 80,
            rows: 24,
        };
        let (h, exit) =
            spawn(&spec, move |d| sink.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(d)).expect("spawn");
        let deadline = Instant::now() + Duration::from_secs(20);
        // Only once the traps are set does the test prove anything.
        while !String::from_utf8_lossy(&out.lock().expect("output")).contains("ready") {
            assert!(Instant::now() < deadline, "the shell never got ready");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        h.kill();
        h.kill(); // a second stop does not start a second escalation
        let exit = tokio::time::timeout(Duration::from_secs(20), exit).await.expect("gone in time").expect("status");
        assert_eq!(exit.code, None, "ended by a signal");
        #[cfg(target_os = "linux")]
        {
            let group = i32::try_from(h.pid.expect("pid")).expect("pid");
            while !live_members(group).is_empty() {
                assert!(Instant::now() < deadline, "left alive: {:?}", live_members(group));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}
