//! The tray's engine: the agent core running inside this process (one relay, never the CLI),
//! sharing `agent.toml` and the keyring credential with `sessionforge-agent`, and the
//! [`TrayState`] it derives for the icon, the menu and the settings window. No Tauri here.

use std::sync::Arc;
use std::time::Duration;

use sessionforge_agent::agent::{Agent, AgentError};
use sessionforge_agent::config::{AgentConfig, Paths};
use sessionforge_agent::link::LinkState;
use sessionforge_agent::pty::Spawn;
use sessionforge_agent::{credentials, enroll, update};
use sessionforge_shared::ids::SessionId;
use sessionforge_shared::protocol::AgentMode;
use tokio::sync::{Mutex, Notify, watch};

use crate::seen::merge;
use crate::state::{Connection, SessionView, TrayState};

/// How often the state is rederived (sessions start waiting by going quiet, so time matters).
const REFRESH: Duration = Duration::from_secs(1);
/// Time given to deliver pending output when the tray quits or signs out.
const STOP_GRACE: Duration = Duration::from_secs(5);

pub const ALREADY_RUNNING: &str = "Another SessionForge agent (`sessionforge-agent run`, or another tray) is already \
                                   running for this machine: quit it, then choose Resume relaying";

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Config(#[from] sessionforge_agent::config::ConfigError),
    #[error("{0}")]
    Enroll(#[from] enroll::EnrollError),
    #[error("{0}")]
    Update(#[from] update::UpdateError),
    #[error("{0}")]
    Agent(#[from] AgentError),
    #[error("{0}")]
    Usage(String),
}

struct Inner {
    cfg: AgentConfig,
    agent: Option<Agent>,
    /// Why the agent could not start, for the status line.
    blocked: Option<String>,
    /// Sessions of this tray, running or recently ended, oldest first.
    seen: Vec<SessionView>,
    update: Option<String>,
    /// The server's allowed commands, and those of them installed here.
    startable: (Vec<String>, Vec<String>),
}

pub struct Engine {
    paths: Paths,
    hostname: String,
    inner: Mutex<Inner>,
    view: watch::Sender<TrayState>,
    wake: Notify,
}

impl Engine {
    pub fn new(paths: Paths) -> Arc<Self> {
        let hostname = sessionforge_agent::machine::info().hostname;
        let cfg = AgentConfig::load(&paths).unwrap_or_default();
        Arc::new(Self {
            paths,
            hostname,
            inner: Mutex::new(Inner {
                cfg,
                agent: None,
                blocked: None,
                seen: Vec::new(),
                update: None,
                startable: (Vec::new(), Vec::new()),
            }),
            view: watch::channel(TrayState::default()).0,
            wake: Notify::new(),
        })
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// The current state; changes whenever what the tray shows changes.
    pub fn view(&self) -> watch::Receiver<TrayState> {
        self.view.subscribe()
    }

    /// The configuration as the engine uses it.
    pub async fn config(&self) -> AgentConfig {
        self.inner.lock().await.cfg.clone()
    }

    /// Starts relaying when this machine is enrolled.
    pub async fn start(&self) {
        let mut inner = self.inner.lock().await;
        self.start_locked(&mut inner).await;
        drop(inner);
        self.wake.notify_one();
    }

    async fn start_locked(&self, inner: &mut Inner) {
        if let Some(agent) = inner.agent.take() {
            agent.stop(STOP_GRACE).await;
        }
        inner.blocked = None;
        match AgentConfig::load(&self.paths) {
            Ok(cfg) => inner.cfg = cfg,
            Err(e) => {
                inner.blocked = Some(format!("Cannot read the agent configuration: {e}"));
                return;
            }
        }
        if !inner.cfg.is_enrolled() {
            return;
        }
        match Agent::start(&inner.cfg, &self.paths, AgentMode::Daemon, "tray").await {
            Ok(agent) => {
                agent.set_update_available(inner.update.clone());
                inner.agent = Some(agent);
            }
            Err(AgentError::AlreadyRunning) => {
                tracing::warn!("another agent runs for this machine; not relaying from the tray");
                inner.blocked = Some(ALREADY_RUNNING.into());
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the agent");
                inner.blocked = Some(e.to_string());
            }
        }
    }

    /// Stops relaying (running sessions are stopped, pending output gets a moment to go out).
    pub async fn stop(&self) {
        let agent = self.inner.lock().await.agent.take();
        if let Some(agent) = agent {
            agent.stop(STOP_GRACE).await;
        }
    }

    /// Enrolls this machine with `server` and starts relaying. Returns what to tell the user.
    pub async fn enroll(
        &self,
        server: &str,
        token: &str,
        fingerprint: Option<&str>,
        signing_key_id: Option<&str>,
    ) -> Result<String, EngineError> {
        let (server, token) = (server.trim(), token.trim());
        if server.is_empty() || token.is_empty() {
            return Err(EngineError::Usage("Give the server URL and the enrollment token.".into()));
        }
        let mut inner = self.inner.lock().await;
        if let Some(agent) = inner.agent.take() {
            agent.stop(STOP_GRACE).await;
        }
        let mut cfg = AgentConfig::load(&self.paths)?;
        // Nobody can be asked here: a certificate that does not validate needs its fingerprint
        // (the install line carries it; the settings window asks the person to confirm one).
        let options = enroll::EnrollOptions {
            fingerprint: fingerprint.filter(|f| !f.trim().is_empty()),
            signing_key_id: signing_key_id.filter(|k| !k.trim().is_empty()),
            confirm: &enroll::refuse_unverified,
        };
        let result = enroll::enroll(server, token, &options, &mut cfg, &self.paths).await;
        let done = match result {
            Ok(done) => done,
            Err(e) => {
                // Keep relaying with the enrollment there was, if any.
                self.start_locked(&mut inner).await;
                return Err(e.into());
            }
        };
        self.start_locked(&mut inner).await;
        drop(inner);
        self.wake.notify_one();
        let mut msg = format!("Connected this machine to {} (credential in the {}).", cfg.server_url, done.stored_in);
        if let Some(fp) = done.pinned {
            msg += &format!(" The server's certificate is self-signed; pinned its fingerprint {fp}.");
        }
        Ok(msg)
    }

    /// Forgets this machine's enrollment and credential and stops relaying.
    pub async fn sign_out(&self) -> Result<(), EngineError> {
        let mut inner = self.inner.lock().await;
        if let Some(agent) = inner.agent.take() {
            agent.stop(STOP_GRACE).await;
        }
        if let Some(machine) = inner.cfg.machine_id {
            credentials::delete_async(self.paths.state_dir.clone(), machine.to_string()).await;
        }
        AgentConfig::forget_enrollment(&self.paths)?;
        inner.cfg = AgentConfig::load(&self.paths)?;
        inner.blocked = None;
        inner.update = None;
        drop(inner);
        self.wake.notify_one();
        Ok(())
    }

    /// Saves which AI CLIs to discover. Discovery picks the list up when the agent restarts,
    /// which happens now unless sessions are running. Returns what to tell the user.
    pub async fn set_discover(&self, clis: Vec<String>) -> Result<String, EngineError> {
        let mut inner = self.inner.lock().await;
        let mut cfg = AgentConfig::load(&self.paths)?;
        if cfg.discover == clis {
            return Ok("Preferences saved.".into());
        }
        cfg.discover = clis;
        cfg.save_discover(&self.paths)?;
        let busy = inner.agent.as_ref().is_some_and(|a| a.sessions.running() > 0);
        if busy {
            inner.cfg.discover = cfg.discover;
            return Ok("Preferences saved. Discovery uses the new list once no session is running and the tray \
                       restarts."
                .into());
        }
        self.start_locked(&mut inner).await;
        drop(inner);
        self.wake.notify_one();
        Ok("Preferences saved.".into())
    }

    /// "Pause relaying" / "Resume relaying". Resuming also retries an agent that could not start.
    pub async fn set_paused(&self, paused: bool) {
        let mut inner = self.inner.lock().await;
        match &inner.agent {
            Some(agent) => agent.set_paused(paused),
            None if !paused => self.start_locked(&mut inner).await,
            None => {}
        }
        drop(inner);
        self.wake.notify_one();
    }

    /// Starts `command` (one the server allows) in a relayed PTY session in the home directory.
    /// Returns the session's page in the dashboard.
    pub async fn start_session(&self, command: &str) -> Result<String, EngineError> {
        let inner = self.inner.lock().await;
        let Some(agent) = &inner.agent else {
            return Err(EngineError::Usage("This machine is not relaying; connect it in Settings first.".into()));
        };
        if !inner.startable.1.iter().any(|c| c == command) {
            return Err(EngineError::Usage(format!("{command} is not an allowed command installed here.")));
        }
        let id = SessionId::new();
        let cwd = dirs_home().unwrap_or_default();
        let spec = Spawn { command: command.into(), args: vec![], cwd, cols: 120, rows: 32 };
        agent
            .sessions
            .start(id, spec, None, None)
            .map_err(|e| EngineError::Usage(format!("Cannot start {command}: {e}")))?;
        let url = dashboard_url(&inner.cfg, Some(&id.to_string()));
        drop(inner);
        self.wake.notify_one();
        Ok(url)
    }

    /// Checks the release channel. Returns the newer version, if there is one.
    pub async fn check_updates(&self) -> Result<Option<String>, EngineError> {
        let mut cfg = self.inner.lock().await.cfg.clone();
        let channel = cfg.update.channel.clone();
        let offer = update::check(&mut cfg, &self.paths, &channel).await?;
        let newer = offer.is_newer().then(|| offer.entry.version.clone());
        let mut inner = self.inner.lock().await;
        inner.cfg.signing_keys = cfg.signing_keys;
        inner.update = newer.clone();
        if let Some(agent) = &inner.agent {
            agent.set_update_available(newer.clone());
        }
        drop(inner);
        self.wake.notify_one();
        Ok(newer)
    }

    /// Forgets an ended session (its menu entry was clicked).
    pub async fn dismiss(&self, id: &str) {
        let mut inner = self.inner.lock().await;
        inner.seen.retain(|s| s.id != id || s.running);
        drop(inner);
        self.wake.notify_one();
    }

    /// The dashboard page of a session, or of the org.
    pub async fn dashboard_url(&self, session: Option<&str>) -> Option<String> {
        let inner = self.inner.lock().await;
        let cfg = &inner.cfg;
        if !cfg.is_enrolled() {
            return None;
        }
        Some(dashboard_url(cfg, session))
    }

    /// Rederives the state every second, and at once after each change, until `shutdown`.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            let next = self.derive().await;
            self.view.send_if_modified(|v| {
                let changed = *v != next;
                *v = next;
                changed
            });
            tokio::select! {
                _ = tokio::time::sleep(REFRESH) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    async fn derive(&self) -> TrayState {
        let mut inner = self.inner.lock().await;
        let enrolled = inner.cfg.is_enrolled();
        let mut state = TrayState {
            server_url: enrolled.then(|| inner.cfg.server_url.clone()),
            hostname: self.hostname.clone(),
            update_available: inner.update.clone(),
            ..TrayState::default()
        };
        state.connection = Some(match (&inner.blocked, &inner.agent) {
            (_, _) if !enrolled => Connection::NotEnrolled,
            (Some(reason), _) => Connection::Blocked { reason: reason.clone() },
            (None, None) => Connection::Offline { reason: "not started".into() },
            (None, Some(agent)) => match &*agent.link.borrow() {
                LinkState::Connecting => Connection::Connecting,
                LinkState::Connected | LinkState::Paused => Connection::Connected,
                LinkState::Offline { reason } | LinkState::Rejected { reason } => {
                    Connection::Offline { reason: reason.clone() }
                }
                LinkState::Stopped => Connection::Offline { reason: "stopped".into() },
            },
        });
        let Some(agent) = &inner.agent else {
            state.sessions = inner.seen.clone();
            return state;
        };
        state.paused = agent.paused();
        let allowed = agent.policy.borrow().command_names();
        let summaries = agent.sessions.summaries();
        let exits: Vec<(String, Option<Option<i32>>)> = inner
            .seen
            .iter()
            .filter(|s| s.running && !summaries.iter().any(|x| x.session_id.to_string() == s.id))
            .map(|s| (s.id.clone(), s.id.parse::<SessionId>().ok().and_then(|id| agent.sessions.exit_of(id))))
            .collect();
        if inner.startable.0 != allowed {
            let installed = allowed.iter().filter(|c| which::which(c).is_ok()).cloned().collect();
            inner.startable = (allowed, installed);
        }
        state.startable = inner.startable.1.clone();
        merge(&mut inner.seen, &summaries, &exits);
        state.sessions = inner.seen.clone();
        state
    }
}

/// The dashboard page of `session`, or the org's sessions list.
fn dashboard_url(cfg: &AgentConfig, session: Option<&str>) -> String {
    let base = cfg.server_url.trim_end_matches('/');
    match (cfg.org_id, session) {
        (Some(org), Some(id)) => format!("{base}/orgs/{org}/sessions/{id}"),
        (Some(org), None) => format!("{base}/orgs/{org}/sessions"),
        (None, _) => format!("{base}/"),
    }
}

fn dirs_home() -> Option<String> {
    std::env::var_os(if cfg!(windows) { "USERPROFILE" } else { "HOME" }).map(|h| h.to_string_lossy().into_owned())
}
