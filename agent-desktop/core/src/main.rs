//! `sessionforge-agent`: flag parsing, logging and subcommand dispatch over the agent library.

mod enroll_cli;
mod update_cli;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use sessionforge_agent::agent::Agent;
use sessionforge_agent::config::{AgentConfig, Paths};
use sessionforge_agent::update::daemon::Updater;
use sessionforge_agent::version::VERSION;
use sessionforge_agent::{status, update, wrap};
use sessionforge_shared::protocol::AgentMode;
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;

#[derive(Parser, Debug)]
#[command(
    name = "sessionforge-agent",
    version = VERSION,
    about = "Relays AI coding sessions on this machine to a SessionForge server"
)]
struct Cli {
    /// Keep config, credential file and status here instead of the platform directories.
    #[arg(long, global = true, env = "SESSIONFORGE_CONFIG_DIR")]
    config_dir: Option<PathBuf>,
    /// Log filter (logs go to stderr).
    #[arg(long, global = true, env = "SESSIONFORGE_LOG")]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Exchange a one-time enrollment token for this machine's credential.
    Enroll(enroll_cli::EnrollArgs),
    /// Connect to the server, relay sessions and discover AI CLIs until stopped.
    Run,
    /// Run a command in a terminal relayed to the server: `sessionforge-agent wrap -- claude`.
    Wrap {
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Show whether agents are running and connected, and their sessions.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Install the newest agent build of a release channel, verified against the pinned key.
    Update(update_cli::UpdateArgs),
    /// Print version and target and exit (how `update` tests a new binary before using it).
    #[command(name = "self-check", hide = true)]
    SelfCheck,
}

fn main() {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Wrap { .. } => "warn",
        _ => "info",
    };
    let filter = cli.log_level.clone().unwrap_or_else(|| default_level.into());
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new(default_level)))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            std::process::exit(1);
        }
    };
    let code = match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            1
        }
    };
    runtime.shutdown_timeout(Duration::from_secs(1));
    std::process::exit(code);
}

async fn dispatch(cli: Cli) -> Result<i32> {
    if let Command::SelfCheck = cli.command {
        // Independent of any config: a new binary is checked before it is installed.
        let line = update::self_check_line().map_err(anyhow::Error::msg).context("self-check failed")?;
        println!("{line}");
        return Ok(0);
    }
    let paths = Paths::resolve(cli.config_dir.as_deref());
    let cfg = AgentConfig::load(&paths)?;
    match cli.command {
        Command::SelfCheck => Ok(0),
        Command::Update(args) => update_cli::update(cfg, &paths, args).await,
        Command::Enroll(args) => enroll_cli::enroll(cfg, &paths, args).await,
        Command::Run => {
            // Listen before saying we run, so that a signal sent right after is never fatal.
            let shutdown = shutdown_signal().context("cannot listen for shutdown signals")?;
            // Found now: once an update replaced the file, the running image's path may no
            // longer name it (Linux reports it "(deleted)").
            let exe = std::env::current_exe().and_then(|p| p.canonicalize());
            let mut agent = Agent::start(&cfg, &paths, AgentMode::Daemon, "daemon").await?;
            println!("SessionForge agent {VERSION} relaying to {}", cfg.server_url);
            let (stop_updates, stopping) = watch::channel(false);
            let updater = match (cfg.update_interval(), &exe) {
                (Some(every), Ok(exe)) => {
                    let u = Updater {
                        cfg: cfg.clone(),
                        paths: paths.clone(),
                        exe: exe.clone(),
                        sessions: agent.sessions.clone(),
                        notify: agent.update_notifier(),
                        policy: agent.policy.clone(),
                    };
                    Some(tokio::spawn(u.run(every, stopping)))
                }
                (Some(_), Err(e)) => {
                    tracing::warn!(error = %e, "cannot find this program's executable; not checking for updates");
                    None
                }
                (None, _) => None,
            };
            let installed = async move {
                match updater {
                    Some(task) => match task.await {
                        Ok(Some(version)) => version,
                        _ => std::future::pending().await,
                    },
                    None => std::future::pending().await,
                }
            };
            let mut link = agent.link.clone();
            tokio::spawn(async move {
                while link.changed().await.is_ok() {
                    let state = link.borrow().clone();
                    tracing::info!(?state, "connection state");
                }
            });
            let restart_into = tokio::select! {
                _ = shutdown => None,
                version = installed => Some(version),
            };
            tracing::info!("shutting down");
            let _ = stop_updates.send(true);
            let _ = agent.connected(Duration::ZERO).await;
            agent.stop(Duration::from_secs(5)).await;
            match (restart_into, exe) {
                (Some(version), Ok(exe)) => update_cli::restart(&exe, &version),
                _ => Ok(0),
            }
        }
        Command::Wrap { command } => {
            let mut parts = command.into_iter();
            let Some(program) = parts.next() else { bail!("give a command to run after --") };
            match wrap::run(&cfg, &paths, program, parts.collect()).await {
                Ok(Some(code)) => Ok(code),
                Ok(None) => Ok(129),
                Err(wrap::WrapError::Start(e)) => {
                    eprintln!("error: {e}");
                    Ok(127)
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Status { json } => {
            let all = status::read_all(&paths.state_dir);
            if json {
                println!("{}", serde_json::to_string_pretty(&all).context("encoding status")?);
            } else if all.is_empty() {
                println!("No SessionForge agent is running.");
                if cfg.is_enrolled() {
                    println!(
                        "Enrolled with {} as machine {} (credential in the {}).",
                        cfg.server_url,
                        cfg.machine_id.unwrap_or_default(),
                        cfg.credential_place()
                    );
                } else {
                    println!("Not enrolled.");
                }
            } else {
                for s in &all {
                    println!("{} (pid {}) → {}: {}", s.mode, s.pid, s.server_url, s.link);
                    if let Some(v) = &s.update_available {
                        println!("  update available: {v} (sessionforge-agent update)");
                    }
                    for sess in &s.sessions {
                        let state = match (sess.running, sess.waiting_for_input) {
                            (true, true) => "running, waiting for input".to_string(),
                            (true, false) => "running".to_string(),
                            (false, _) => format!("exited {:?}", sess.exit_code),
                        };
                        println!(
                            "  {} {} [{}] pid {:?}, {} bytes unconfirmed",
                            sess.session_id, sess.command, state, sess.pid, sess.unacked_bytes
                        );
                    }
                }
                if cfg.is_enrolled() {
                    println!("Credential in the {}.", cfg.credential_place());
                }
            }
            Ok(if all.is_empty() { 3 } else { 0 })
        }
    }
}

/// Starts listening for SIGINT and SIGTERM (Ctrl-C on Windows) at once; the returned future
/// resolves when one arrives.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(windows)]
    {
        let mut ctrl_c = tokio::signal::windows::ctrl_c()?;
        Ok(async move {
            ctrl_c.recv().await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_parsed_flags_hides_the_enrollment_token() {
        let token = "sfe_enrollment_token_that_must_stay_secret";
        let cli =
            Cli::try_parse_from(["sessionforge-agent", "enroll", "--server", "https://sf.example", "--token", token])
                .expect("parses");
        let debug = format!("{cli:?}");
        assert!(!debug.contains(token), "enrollment token leaked: {debug}");
        assert!(debug.contains("<redacted>") && debug.contains("https://sf.example"), "{debug}");
    }

    #[test]
    fn enroll_keeps_its_help_text() {
        let help = <Cli as clap::CommandFactory>::command().render_help().to_string();
        assert!(help.contains("Exchange a one-time enrollment token"), "{help}");
    }
}
