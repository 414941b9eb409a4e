//! The SessionForge server as a library: [`Server::bind`] does the first-run bootstrap and binds
//! the socket, [`Server::run`] serves until the shutdown future resolves. Tests and the binary
//! both use it; `main.rs` only parses flags.
#![forbid(unsafe_code)]

pub mod access;
pub mod api;
pub mod auth;
pub mod backup;
pub mod billing;
pub mod bootstrap;
pub mod email;
pub mod error;
pub mod http;
pub mod installers;
pub mod keys;
pub mod licensing;
pub mod metrics;
pub mod plans;
pub mod relay;
pub mod releases;
pub mod settings;
pub mod state;
pub mod store;
pub mod tls;
pub mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};

use crate::http::conn::{Caps, Limited, NoDelay};
use crate::http::deadline::HeadDeadline;
use crate::http::either::Either;
use crate::http::tls_acceptor::TlsAcceptor;

/// The listening socket, with TLS or without: connections capped in all and per address (and
/// counted for `/metrics`) before anything is read, then deadlines for the handshake and for
/// request heads.
type TcpSide = Limited<NoDelay<TcpAcceptor>>;
/// Plain HTTP: on Linux, release downloads are sent with `sendfile(2)` (see `http::sendfile`).
#[cfg(target_os = "linux")]
type PlainSide = http::sendfile::Sendfile<TcpSide>;
#[cfg(not(target_os = "linux"))]
type PlainSide = TcpSide;
type ServerAcceptor = Either<HeadDeadline<TlsAcceptor<TcpSide>>, HeadDeadline<PlainSide>>;

#[cfg(target_os = "linux")]
fn plain_side(tcp: TcpSide, state: &AppState, head: Duration, stopping: &http::stopping::Stopping) -> PlainSide {
    let send_timeout = Duration::from_secs(state.settings.releases.send_timeout_secs);
    let app = poem::EndpointExt::boxed(poem::EndpointExt::map_to_response(http::app(state.clone())));
    let sent = state.metrics.sendfile_bytes.clone();
    http::sendfile::Sendfile::new(tcp, app, head, send_timeout, sent, stopping.clone())
}

#[cfg(not(target_os = "linux"))]
fn plain_side(tcp: TcpSide, _state: &AppState, _head: Duration, _stopping: &http::stopping::Stopping) -> PlainSide {
    tcp
}

use crate::bootstrap::{BootstrapError, bootstrap};
use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::state::AppState;

/// How often counted usage is written.
const USAGE_FLUSH_EVERY: Duration = Duration::from_secs(5);
/// How long shutdown waits for queued output to be stored.
const PERSIST_DRAIN: Duration = Duration::from_secs(5);
/// How often idle rate-limit entries are dropped.
const LIMITER_SHRINK_EVERY: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot start the relay: {0}")]
    Relay(#[from] store::StoreError),
    #[error("{0} (is another sessionforge-server using this data dir?)")]
    Locked(#[from] backup::BackupError),
    #[error("{0}")]
    Email(#[from] email::EmailError),
}

/// A bootstrapped server with its socket bound, not yet serving.
pub struct Server {
    state: AppState,
    acceptor: ServerAcceptor,
    local_addr: SocketAddr,
    generated: Vec<&'static str>,
    relay_tasks: relay::RelayTasks,
    /// Connections answered outside hyper (sendfile downloads), ended at shutdown.
    own_connections: http::stopping::Stopping,
    /// The data dir's lock, held while this server runs (restore refuses to run over it).
    _lock: std::fs::File,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

impl Server {
    /// Bootstraps the data dir (generating what is missing) and binds the listening socket.
    pub async fn bind(settings: Settings) -> Result<Self, ServerError> {
        let mut boot = bootstrap(&settings).await?;
        boot.store.set_catalogue(plans::Catalogue::new(&settings.plans));
        let lock = backup::lock_data_dir(&settings.data_dir)?;
        let metrics = Metrics::new();
        let addr = settings.listen;
        let bind_err = |source| ServerError::Bind { addr, source };
        let tcp = TcpListener::bind(addr).into_acceptor().await.map_err(bind_err)?;
        let local_addr = tcp
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .ok_or_else(|| bind_err(std::io::Error::other("no local address")))?;
        let tls_info = state::TlsInfo {
            fingerprint: boot.tls.as_ref().map(|t| t.fingerprint.clone()),
            pin: boot.tls.as_ref().filter(|t| t.self_signed).and_then(|t| tls::spki_pin(&t.key_pem)),
        };
        let c = &settings.connections;
        let caps = Caps { max: c.max, max_per_ip: c.max_per_ip };
        let tcp =
            Limited::new(NoDelay(tcp), caps, metrics.open_connections.clone(), metrics.refused_connections.clone());
        let head = Duration::from_secs(c.header_timeout_secs);
        let handshake = Duration::from_secs(c.handshake_timeout_secs);
        let tls_config = match &boot.tls {
            Some(material) => {
                Some(http::tls_acceptor::server_config(&material.cert_pem, &material.key_pem).map_err(bind_err)?)
            }
            None => None,
        };
        let latency = metrics.relay_output_latency.clone();
        let (relay, relay_tasks) = relay::Relay::start(boot.store.clone(), settings.relay.clone(), latency).await?;
        let public_url = settings.public_url_for(local_addr);
        let state = AppState::new(settings, boot.keys, boot.store, metrics, relay, public_url, tls_info)?;
        let own_connections = http::stopping::Stopping::default();
        let acceptor = match tls_config {
            Some(config) => Either::Left(HeadDeadline::new(TlsAcceptor::new(tcp, config, handshake), head)),
            None => Either::Right(HeadDeadline::new(plain_side(tcp, &state, head, &own_connections), head)),
        };
        if state.settings.releases.publish_bundled_agents {
            let limit = state.settings.releases.max_upload_bytes;
            releases::bundled::publish_bundled(&state.store, &state.artifacts, limit).await;
        }
        Ok(Self { state, acceptor, local_addr, generated: boot.generated, relay_tasks, own_connections, _lock: lock })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// What this start generated (data dir, database, keys, certificate, setup token).
    pub fn generated(&self) -> &[&'static str] {
        &self.generated
    }

    /// The start-up banner for people: where to connect, the certificate fingerprint, and the
    /// first-run setup link while no administrator exists.
    pub fn banner(&self) -> String {
        let s = &self.state.settings;
        let local = format!("{}://{}", s.scheme(), self.local_addr);
        let public = self.state.public_url();
        let mut out = format!("SessionForge server {}\n", env!("CARGO_PKG_VERSION"));
        out += &format!("  listening on {local}\n  public URL   {public}\n");
        out += &format!("  data dir     {}\n", s.data_dir.display());
        if !self.generated.is_empty() {
            out += &format!("  generated    {}\n", self.generated.join(", "));
        }
        if let Some(fp) = &self.state.tls_fingerprint {
            out += &format!("  TLS certificate SHA-256 fingerprint:\n    {fp}\n");
        }
        if let Some(token) = self.state.setup_token() {
            let cacert = if s.tls.enabled && s.tls.cert_file.as_os_str().is_empty() {
                format!(" --cacert {}", tls::generated_paths(&s.data_dir).0.display())
            } else {
                String::new()
            };
            out += &format!(
                "\n  No administrator yet. Finish setup in a browser:\n    {public}/setup?token={token}\n  \
                 or with curl:\n    curl{cacert} -X POST {public}/api/v1/setup -H 'content-type: application/json' \\\n      \
                 -d '{{\"token\":\"{token}\",\"email\":\"you@example.com\",\"password\":\"a long passphrase\"}}'\n"
            );
        }
        out
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish (up to the
    /// configured grace period).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let grace = Duration::from_secs(self.state.settings.shutdown_grace_secs);
        let housekeeping = tokio::spawn({
            let state = self.state.clone();
            async move {
                let mut tick = tokio::time::interval(LIMITER_SHRINK_EVERY);
                loop {
                    tick.tick().await;
                    state.limits.shrink();
                }
            }
        });
        let metering = tokio::spawn(flush_usage_every(self.state.store.clone(), USAGE_FLUSH_EVERY));
        let outbox = tokio::spawn(self.state.outbox.clone().run(self.state.store.clone()));
        let notices = tokio::spawn(email::notify::run(self.state.clone()));
        let license_checks = tokio::spawn(licensing::online::run(self.state.clone()));
        let app = http::app(self.state.clone());
        let idle = Duration::from_secs(self.state.settings.connections.idle_timeout_secs);
        let stopping = self.own_connections.clone();
        let shutdown = async move {
            shutdown.await;
            stopping.begin();
        };
        let result = poem::Server::new_with_acceptor(self.acceptor)
            .idle_timeout(idle)
            .run_with_graceful_shutdown(app, shutdown, Some(grace))
            .await;
        self.own_connections.finish(grace).await;
        housekeeping.abort();
        metering.abort();
        outbox.abort();
        notices.abort();
        license_checks.abort();
        self.relay_tasks.abort_housekeeping();
        relay::heartbeats::flush(&self.state.relay.hub).await;
        // Let the persister store what is queued: agents were told nothing beyond that.
        self.state.relay.hub.stop_persisting();
        let _ = tokio::time::timeout(PERSIST_DRAIN, self.relay_tasks.persister).await;
        if let Err(e) = self.state.store.flush_usage().await {
            tracing::warn!(error = %e, "cannot store the last usage counts");
        }
        result
    }
}

/// Writes counted usage every `every` (counting itself never writes).
async fn flush_usage_every(store: store::Store, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if let Err(e) = store.flush_usage().await {
            tracing::warn!(error = %e, "cannot store usage counts; keeping them for the next try");
        }
    }
}

/// Raises this process's open-file limit to at least `wanted` (up to the hard limit) so that
/// the connection caps, not the operating system, decide how many clients are served. Returns
/// a warning for people when the limit stays below `wanted`.
#[cfg(unix)]
pub fn raise_open_file_limit(wanted: u64) -> Option<String> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(limits) => limits,
        Err(e) => return Some(format!("cannot read the open-file limit: {e}")),
    };
    if soft >= wanted {
        return None;
    }
    let target = wanted.min(hard);
    if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
        return Some(format!("cannot raise the open-file limit from {soft} to {target}: {e}"));
    }
    (target < wanted).then(|| {
        format!(
            "the open-file limit is {target} (the hard limit), below the {wanted} that connections.max needs; \
             raise it (ulimit -n, LimitNOFILE=) or lower connections.max"
        )
    })
}

/// Elsewhere the operating system's defaults stand.
#[cfg(not(unix))]
pub fn raise_open_file_limit(_wanted: u64) -> Option<String> {
    None
}

/// Locks one of the server's short, in-memory mutexes. A panic while one was held leaves its
/// data consistent (every critical section is a few field updates), so a poisoned lock is
/// taken anyway rather than taking the server down.
pub fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A Unix time for people (RFC 3339, UTC).
pub fn api_time(unix: i64) -> String {
    api::dto::ts(unix).format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| unix.to_string())
}

/// The OpenAPI document, as `export-openapi` prints it.
pub fn openapi_json() -> String {
    api::spec_json()
}
