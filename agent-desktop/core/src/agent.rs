//! One running agent: its sessions, its connection, discovery (for daemons) and its status
//! file. The headless `run` and `wrap` commands and the tray app all start one of these.

use std::fs::File;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sessionforge_shared::protocol::{AgentMode, SessionInfo};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::{AgentConfig, CredentialStore, Paths};
use crate::credentials::{self, CredentialError};
use crate::discovery::Discovery;
use crate::link::{Link, LinkConfig, LinkState, ServerPolicy};
use crate::sessions::{Sessions, Spooling};
use crate::status::{self, Status};
use crate::tls::Trust;

/// How often the status file is rewritten.
const STATUS_EVERY: Duration = Duration::from_secs(2);
/// Discovery changes queued while the connection is busy (the next `hello` reconciles anyway).
const DISCOVERY_QUEUE: usize = 256;
/// File in the state dir held locked by the one daemon (headless or tray) of this machine.
const LOCK_FILE: &str = "agent.lock";

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("this machine is not enrolled yet: run `sessionforge-agent enroll --server URL --token TOKEN`")]
    NotEnrolled,
    #[error(transparent)]
    Credential(#[from] CredentialError),
    #[error(
        "another SessionForge agent (the tray app or `sessionforge-agent run`) is already running for this \
         machine; stop it first"
    )]
    AlreadyRunning,
    #[error("cannot use the state directory: {0}")]
    State(std::io::Error),
}

pub struct Agent {
    pub sessions: Arc<Sessions>,
    pub link: watch::Receiver<LinkState>,
    /// What the server's org asks of this agent: the commands it allows starting and its
    /// update policy (from the last welcome or policy message).
    pub policy: watch::Receiver<ServerPolicy>,
    shutdown: watch::Sender<bool>,
    pause: watch::Sender<bool>,
    /// A newer version found by the update check, shown in the status file.
    update_available: watch::Sender<Option<String>>,
    tasks: Vec<JoinHandle<()>>,
    paths: Paths,
    _lock: Option<File>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent").field("link", &*self.link.borrow()).finish_non_exhaustive()
    }
}

/// Takes the per-machine daemon lock, or fails when another daemon holds it.
fn daemon_lock(paths: &Paths) -> Result<File, AgentError> {
    sessionforge_shared::files::create_private_dir(&paths.state_dir).map_err(AgentError::State)?;
    sessionforge_shared::files::try_lock_file(&paths.state_dir.join(LOCK_FILE))
        .map_err(AgentError::State)?
        .ok_or(AgentError::AlreadyRunning)
}

impl Agent {
    /// Starts the agent. `mode_label` names it in status files (`daemon`, `wrap`, `tray`).
    /// Async because loading the credential may wait on the Secret Service (on a blocking thread).
    pub async fn start(
        cfg: &AgentConfig,
        paths: &Paths,
        mode: AgentMode,
        mode_label: &str,
    ) -> Result<Agent, AgentError> {
        let machine_id = cfg.machine_id.filter(|_| cfg.is_enrolled()).ok_or(AgentError::NotEnrolled)?;
        let lock = match mode {
            AgentMode::Daemon => Some(daemon_lock(paths)?),
            AgentMode::Wrap => None,
        };
        let location = cfg.credential_location.unwrap_or(CredentialStore::Auto);
        let credential = credentials::load_async(location, paths.state_dir.clone(), machine_id.to_string()).await?;
        let spooling = Spooling {
            root: (cfg.spool_bytes > 0).then(|| paths.state_dir.join(crate::spool::DIR)),
            limit: cfg.spool_bytes,
        };
        let sessions = Sessions::with_spool(cfg.buffer_bytes, spooling);
        if mode == AgentMode::Daemon {
            // Sessions of agents that died (this daemon before a restart, or a killed `wrap`):
            // their spooled output is resent before anything else.
            let adopted = sessions.adopt_orphans();
            if adopted > 0 {
                tracing::info!(sessions = adopted, "resending the spooled output of stopped agents");
            }
        }
        let discovered = Arc::new(Mutex::new(Vec::new()));
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (state_tx, state_rx) = watch::channel(LinkState::Connecting);
        let mut tasks = Vec::new();

        let changes = if mode == AgentMode::Daemon {
            let (tx, rx) = mpsc::channel(DISCOVERY_QUEUE);
            let d = Discovery::new(cfg.discover.clone(), machine_id);
            let interval = Duration::from_secs(cfg.discovery_interval_secs.max(1));
            tasks.push(tokio::spawn(discover(
                d,
                interval,
                sessions.clone(),
                discovered.clone(),
                tx,
                shutdown_rx.clone(),
            )));
            tasks.push(tokio::spawn(adopt_orphans(sessions.clone(), shutdown_rx.clone())));
            Some(rx)
        } else {
            None
        };
        let link_cfg = LinkConfig {
            server_url: cfg.server_url.clone(),
            credential,
            trust: Trust::from_fingerprint(&cfg.server_fingerprint),
            mode,
            local_allow: cfg.allow.clone(),
        };
        let (pause_tx, pause_rx) = watch::channel(false);
        let (policy_tx, policy_rx) = watch::channel(ServerPolicy::default());
        let link = Link::new(link_cfg, sessions.clone(), discovered, changes, state_tx)
            .with_pause(pause_rx)
            .with_policy(policy_tx);
        tasks.push(tokio::spawn(link.run(shutdown_rx.clone())));

        let base = Status {
            pid: std::process::id(),
            mode: mode_label.into(),
            server_url: cfg.server_url.clone(),
            machine_id: Some(machine_id),
            link: LinkState::Connecting,
            sessions: vec![],
            updated_at: 0,
            update_available: None,
        };
        let (update_tx, update_rx) = watch::channel(None);
        let watched = Watched { link: state_rx.clone(), update: update_rx };
        tasks.push(tokio::spawn(write_status(base, paths.clone(), sessions.clone(), watched, shutdown_rx)));
        Ok(Agent {
            sessions,
            link: state_rx,
            policy: policy_rx,
            shutdown: shutdown_tx,
            pause: pause_tx,
            update_available: update_tx,
            tasks,
            paths: paths.clone(),
            _lock: lock,
        })
    }

    /// Records (or clears) a newer version available on the release channel; the status file
    /// shows it.
    pub fn set_update_available(&self, version: Option<String>) {
        self.update_available.send_if_modified(|v| {
            let changed = *v != version;
            *v = version;
            changed
        });
    }

    /// Pauses relaying (disconnects; sessions keep running and their output is kept within the
    /// buffer) or resumes it.
    pub fn set_paused(&self, paused: bool) {
        self.pause.send_if_modified(|p| std::mem::replace(p, paused) != paused);
    }

    pub fn paused(&self) -> bool {
        *self.pause.borrow()
    }

    /// A handle for [`Agent::set_update_available`] that other tasks can keep.
    pub fn update_notifier(&self) -> watch::Sender<Option<String>> {
        self.update_available.clone()
    }

    /// Waits until the link reports `Connected` (or `timeout` passes).
    pub async fn connected(&mut self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.link.wait_for(|s| *s == LinkState::Connected)).await.is_ok_and(|r| r.is_ok())
    }

    /// Stops every session, gives the connection up to `grace` to deliver what is pending,
    /// then disconnects.
    pub async fn stop(self, grace: Duration) {
        self.sessions.stop_all();
        let deadline = tokio::time::Instant::now() + grace;
        while self.sessions.has_pending() || self.sessions.running() > 0 {
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!("stopping with output the server has not received yet");
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        status::remove(&self.paths.state_dir, std::process::id());
    }
}

async fn discover(
    mut d: Discovery,
    every: Duration,
    sessions: Arc<Sessions>,
    current: Arc<Mutex<Vec<SessionInfo>>>,
    tx: mpsc::Sender<crate::discovery::Change>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let mut own = sessions.pids();
        own.insert(std::process::id());
        let Ok((back, changes)) = tokio::task::spawn_blocking(move || {
            let changes = d.scan(&own);
            (d, changes)
        })
        .await
        else {
            return;
        };
        d = back;
        *current.lock().unwrap_or_else(|p| p.into_inner()) = d.current();
        for c in changes {
            let _ = tx.try_send(c);
        }
    }
}

/// How often a daemon looks for spools whose `wrap` process died.
const ADOPT_EVERY: Duration = Duration::from_secs(10);

/// Adopts the spooled sessions of `wrap` processes that die while this daemon runs.
async fn adopt_orphans(sessions: Arc<Sessions>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(ADOPT_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let s = sessions.clone();
        if let Ok(n) = tokio::task::spawn_blocking(move || s.adopt_orphans()).await
            && n > 0
        {
            tracing::info!(sessions = n, "resending the spooled output of stopped agents");
        }
    }
}

/// What the status file follows besides the sessions.
struct Watched {
    link: watch::Receiver<LinkState>,
    update: watch::Receiver<Option<String>>,
}

async fn write_status(
    mut status: Status,
    paths: Paths,
    sessions: Arc<Sessions>,
    watched: Watched,
    mut shutdown: watch::Receiver<bool>,
) {
    let Watched { mut link, mut update } = watched;
    let mut tick = tokio::time::interval(STATUS_EVERY);
    loop {
        status.link = link.borrow().clone();
        status.update_available = update.borrow().clone();
        status.sessions = sessions.summaries();
        status.updated_at = time::OffsetDateTime::now_utc().unix_timestamp();
        if let Err(e) = status::write(&paths.state_dir, &status) {
            tracing::debug!(error = %e, "cannot write the status file");
        }
        tokio::select! {
            _ = tick.tick() => {}
            changed = link.changed() => {
                if changed.is_err() {
                    // The connection task ended; keep the periodic refresh only.
                    tick.tick().await;
                }
            }
            Ok(()) = update.changed() => {}
            _ = shutdown.changed() => return,
        }
    }
}
