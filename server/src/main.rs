//! `sessionforge-server`: flag parsing, logging set-up and subcommand dispatch. Everything else
//! lives in the library.

mod cmd;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use cmd::admin::AdminCommand;
use cmd::billing::BillingCommand;
use cmd::license::LicenseCommand;
use cmd::release::ReleaseCommand;
use sessionforge_server::settings::{LogFormat, LogOverrides, Overrides, Settings};
use sessionforge_server::{Server, bootstrap::bootstrap, settings};
use tracing_subscriber::EnvFilter;

#[derive(Parser, Debug)]
#[command(name = "sessionforge-server", version, about = "SessionForge server: relay hub, registry and web dashboard")]
struct Cli {
    #[command(flatten)]
    global: GlobalFlags,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args, Debug)]
struct GlobalFlags {
    /// Config file (TOML). Default: ./sessionforge.toml if it exists.
    #[arg(long, global = true, env = "SESSIONFORGE_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (database, keys, certificate).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Address to listen on, such as 0.0.0.0:8443 or 127.0.0.1:0.
    #[arg(long, global = true)]
    listen: Option<SocketAddr>,
    /// Public URL used in setup links and install commands.
    #[arg(long, global = true)]
    public_url: Option<String>,
    /// Log format.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormatArg>,
    /// Log filter, such as info or sessionforge_server=debug.
    #[arg(long, global = true)]
    log_level: Option<String>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Create the data dir, database, keys and certificate, print the setup details, and exit.
    Init,
    /// Print the commented default configuration.
    DefaultConfig,
    /// Print the OpenAPI document (or write it to a file).
    ExportOpenapi {
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Administer accounts directly in the database.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The license this instance runs under: install a file, show it, remove it.
    #[command(subcommand)]
    License(LicenseCommand),
    /// Billing: reconcile subscriptions with Stripe.
    #[command(subcommand)]
    Billing(BillingCommand),
    /// Publish, list, yank and verify agent releases (works while the server runs), and sign
    /// manifests off the server.
    #[command(subcommand)]
    Release(ReleaseCommand),
    /// Write a backup of the data dir (database, secrets, certificate, artifacts) to FILE, while
    /// the server runs.
    Backup {
        /// The backup file to write (a .tar.gz).
        file: PathBuf,
    },
    /// Restore a backup into the data dir. Refuses while a server runs on it, and over an
    /// existing data dir unless --force (which moves that aside, never deletes it).
    Restore {
        file: PathBuf,
        #[arg(long)]
        force: bool,
    },
}

#[tokio::main]
async fn main() {
    if let Err(err) = run(Cli::parse()).await {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<()> {
    let command = cli.command.unwrap_or(Command::Serve);
    match command {
        Command::DefaultConfig => {
            print!("{}", settings::DEFAULT_CONFIG_TOML);
            return Ok(());
        }
        Command::ExportOpenapi { output } => {
            let spec = sessionforge_server::openapi_json();
            match output {
                Some(path) => std::fs::write(&path, spec).with_context(|| format!("writing {}", path.display()))?,
                None => print!("{spec}"),
            }
            return Ok(());
        }
        Command::Release(cmd) if cmd.runs_anywhere() => return cmd::release::run_offline(cmd),
        _ => {}
    }

    let settings = load_settings(&cli.global)?;
    init_tracing(&settings)?;
    match command {
        Command::Serve => serve(settings).await,
        Command::Init => {
            let boot = bootstrap(&settings).await?;
            println!("data dir {} is ready", settings.data_dir.display());
            if !boot.generated.is_empty() {
                println!("generated: {}", boot.generated.join(", "));
            }
            if let Some(tls) = &boot.tls {
                println!("TLS certificate SHA-256 fingerprint: {}", tls.fingerprint);
            }
            if let Some(token) = &boot.keys.setup_token {
                println!("setup token: {token}");
                println!("finish setup at {}/setup?token={token}", settings.public_url_for(settings.listen));
            }
            Ok(())
        }
        Command::Admin(cmd) => cmd::admin::run(settings, cmd).await,
        Command::License(cmd) => cmd::license::run(settings, cmd).await,
        Command::Billing(cmd) => cmd::billing::run(settings, cmd).await,
        Command::Release(cmd) => cmd::release::run(settings, cmd).await,
        Command::Backup { file } => {
            let busy = std::time::Duration::from_millis(settings.database.busy_timeout_ms);
            let dir = settings.data_dir.clone();
            let info = tokio::task::spawn_blocking(move || {
                sessionforge_server::backup::backup(&dir, &file, busy).map(|i| (i, file))
            })
            .await??;
            println!(
                "wrote a backup of {} to {} (schema {})",
                settings.data_dir.display(),
                info.1.display(),
                info.0.schema_version
            );
            Ok(())
        }
        Command::Restore { file, force } => {
            let (info, aside) = sessionforge_server::backup::restore(&file, &settings.data_dir, force)?;
            println!(
                "restored the backup of {} (server {}, schema {}) into {}",
                sessionforge_server::api_time(info.created_at),
                info.server_version,
                info.schema_version,
                settings.data_dir.display()
            );
            if let Some(aside) = aside {
                println!("the previous data dir is kept in {}", aside.display());
            }
            Ok(())
        }
        Command::DefaultConfig | Command::ExportOpenapi { .. } => Ok(()),
    }
}

fn load_settings(flags: &GlobalFlags) -> Result<Settings> {
    let overrides = Overrides {
        data_dir: flags.data_dir.clone(),
        listen: flags.listen,
        public_url: flags.public_url.clone(),
        log: Some(LogOverrides {
            format: flags.log_format.map(|f| match f {
                LogFormatArg::Text => LogFormat::Text,
                LogFormatArg::Json => LogFormat::Json,
            }),
            level: flags.log_level.clone(),
        }),
    };
    Ok(Settings::load(flags.config.as_deref(), &overrides)?)
}

fn init_tracing(settings: &Settings) -> Result<()> {
    let filter = EnvFilter::try_new(&settings.log.level)
        .with_context(|| format!("invalid log level {:?}", settings.log.level))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match settings.log.format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
    Ok(())
}

/// File descriptors the server needs besides its connections (database, artifacts, logs).
const SPARE_FILES: u64 = 256;

async fn serve(settings: Settings) -> Result<()> {
    let wanted = u64::from(settings.connections.max) + SPARE_FILES;
    if let Some(warning) = sessionforge_server::raise_open_file_limit(wanted) {
        tracing::warn!("{warning}");
    }
    let server = Server::bind(settings).await?;
    // The banner goes to stdout for people (and tests); logs go to stderr.
    print!("{}", server.banner());
    std::io::stdout().flush().ok();
    server.run(shutdown_signal()).await.context("server failed")?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM (Ctrl-C on Windows).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
