//! Update checks inside `run`: shortly after start and then every `update.check_interval_hours`,
//! check the channel; say when a newer build exists (in the log and the status file); when the
//! org's update policy is `automatic` (and `update.auto` allows it), install it once no relayed
//! session runs on this machine, and hand back to `run`, which restarts into the new binary.
//! The org's policy `off` stops the checks; `notify` (the default) only tells.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use sessionforge_shared::protocol::UpdatePolicy;

use crate::config::{AgentConfig, Paths};
use crate::link::ServerPolicy;
use crate::sessions::Sessions;
use crate::status;

/// The first check waits this long after start (or one interval, when that is shorter), so that
/// a machine that boots often still checks.
const FIRST_CHECK_AFTER: Duration = Duration::from_secs(60);
/// While running sessions hold an update back, how often to look whether they ended (locally).
const SESSIONS_POLL: Duration = Duration::from_secs(15);

/// The daemon's update checker.
pub struct Updater {
    pub cfg: AgentConfig,
    pub paths: Paths,
    /// This daemon's executable, as found at start.
    pub exe: PathBuf,
    /// The daemon's own sessions.
    pub sessions: Arc<Sessions>,
    /// Where "update available" goes (the status file).
    pub notify: watch::Sender<Option<String>>,
    /// The org's policy, as the server last said.
    pub policy: watch::Receiver<ServerPolicy>,
}

/// What this machine does about updates: the org's policy (notify until the server says), at
/// most `notify` when `update.auto` is off here.
pub fn effective_policy(org: Option<UpdatePolicy>, local_auto: bool) -> UpdatePolicy {
    match org.unwrap_or_default() {
        UpdatePolicy::Automatic if !local_auto => UpdatePolicy::Notify,
        p => p,
    }
}

/// Why waiting ended.
enum Waited {
    /// No session runs (now; `waited` says whether any did at first).
    Idle {
        waited: bool,
    },
    Deadline,
    Stopped,
}

impl Updater {
    /// Relayed sessions running anywhere on this machine (this daemon's and other processes').
    fn busy(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .sessions
            .summaries()
            .into_iter()
            .filter(|s| s.running)
            .map(|s| format!("{} {}", s.session_id, s.command))
            .collect();
        out.extend(status::running_sessions(&self.paths.state_dir, std::process::id()).iter().map(|b| b.to_string()));
        out
    }

    /// Waits until no session runs, `deadline` passes, or the daemon stops.
    async fn wait_idle(&self, deadline: Option<Instant>, shutdown: &mut watch::Receiver<bool>) -> Waited {
        let mut said = false;
        loop {
            let busy = self.busy();
            if busy.is_empty() {
                return Waited::Idle { waited: said };
            }
            if !said {
                tracing::info!(sessions = ?busy, "the update waits until the running sessions end");
                said = true;
            }
            let mut next = Instant::now() + SESSIONS_POLL;
            if let Some(d) = deadline {
                if Instant::now() >= d {
                    return Waited::Deadline;
                }
                next = next.min(d);
            }
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = shutdown.changed() => return Waited::Stopped,
            }
        }
    }

    /// Checks every `interval` until stopped. Returns the version it installed, after which the
    /// caller restarts into the new binary; `None` when the daemon is stopping.
    pub async fn run(mut self, interval: Duration, mut shutdown: watch::Receiver<bool>) -> Option<String> {
        let channel = self.cfg.update.channel.clone();
        let mut next = Instant::now() + interval.min(FIRST_CHECK_AFTER);
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = shutdown.changed() => return None,
            }
            next = Instant::now() + interval;
            let policy = effective_policy(self.policy.borrow().update_policy, self.cfg.update.auto);
            if policy == UpdatePolicy::Off {
                tracing::debug!("the org turned update checks off");
                self.notify.send_replace(None);
                continue;
            }
            let offer = match super::check(&mut self.cfg, &self.paths, &channel).await {
                Ok(offer) => offer,
                Err(e @ super::UpdateError::NoBuild { .. }) => {
                    tracing::debug!(error = %e, "no build to update to");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "update check failed");
                    continue;
                }
            };
            if !offer.is_newer() {
                tracing::debug!(offered = %offer.entry.version, "no newer agent on the {channel} channel");
                self.notify.send_replace(None);
                continue;
            }
            let version = offer.entry.version.clone();
            tracing::info!(current = crate::version::VERSION, available = %version, %channel, "a newer agent is available");
            self.notify.send_replace(Some(version.clone()));
            if policy != UpdatePolicy::Automatic {
                continue;
            }
            let mut entry = offer.entry;
            let waited = match self.wait_idle(Some(next), &mut shutdown).await {
                Waited::Idle { waited } => waited,
                Waited::Deadline => continue,
                Waited::Stopped => return None,
            };
            if waited {
                // Sessions held it back: the manifest's download links may have expired since.
                match super::check(&mut self.cfg, &self.paths, &channel).await {
                    Ok(o) if o.is_newer() => entry = o.entry,
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "update check failed");
                        continue;
                    }
                }
            }
            if super::install::self_check(&self.exe, &entry.version).await.is_ok() {
                tracing::info!(version = %entry.version, "the installed agent is already this version (updated outside this \
                    daemon); restarting into it");
                return Some(entry.version);
            }
            tracing::info!(version = %entry.version, "installing the newer agent");
            match super::install(&self.cfg, &entry).await {
                Ok(path) => {
                    tracing::info!(version = %entry.version, path = %path.display(), "installed; restarting into it");
                    // A session may have started meanwhile: restarting would end it.
                    return match self.wait_idle(None, &mut shutdown).await {
                        Waited::Stopped => None,
                        _ => Some(entry.version),
                    };
                }
                Err(e) => tracing::error!(error = %e, "the update failed; will try again at the next check"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_org_decides_and_this_machine_can_only_hold_back() {
        assert_eq!(effective_policy(None, true), UpdatePolicy::Notify, "notify until told");
        assert_eq!(effective_policy(Some(UpdatePolicy::Automatic), true), UpdatePolicy::Automatic);
        assert_eq!(effective_policy(Some(UpdatePolicy::Automatic), false), UpdatePolicy::Notify);
        assert_eq!(effective_policy(Some(UpdatePolicy::Off), true), UpdatePolicy::Off);
        assert_eq!(effective_policy(Some(UpdatePolicy::Notify), true), UpdatePolicy::Notify);
    }
}
