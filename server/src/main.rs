//! `sessionforge-server`: flag parsing, logging set-up and subcommand dispatch. Everything else
//! lives in the library.

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use sessionforge_server::settings::{LogFormat, LogOverrides, Overrides, Settings};
use sessionforge_server::store::users::NewUser;
use sessionforge_server::{Server, auth::password, bootstrap::bootstrap, settings};
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
    /// Publish, list and yank agent releases (works while the server runs).
    #[command(subcommand)]
    Release(ReleaseCommand),
}

#[derive(Subcommand, Debug)]
enum ReleaseCommand {
    /// Publish an agent build: `release publish --version 1.2.0 --target x86_64-unknown-linux-musl FILE`.
    Publish {
        #[arg(long)]
        version: String,
        /// Rust target triple of the build.
        #[arg(long)]
        target: String,
        #[arg(long, default_value = "stable", value_parser = ["stable", "beta"])]
        channel: String,
        /// Release notes shown to people updating.
        #[arg(long, default_value = "")]
        notes: String,
        /// The agent binary.
        file: PathBuf,
    },
    /// Take a release out of the manifests.
    Yank {
        #[arg(long)]
        version: String,
        #[arg(long)]
        target: String,
    },
    /// List every release.
    List,
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Create an account (and its personal org).
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "")]
        display_name: String,
        /// Make the account a server administrator.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password for an account and end its browser sign-ins.
    ResetPassword {
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
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
        Command::Admin(cmd) => admin(settings, cmd).await,
        Command::Release(cmd) => release(settings, cmd).await,
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

async fn admin(settings: Settings, cmd: AdminCommand) -> Result<()> {
    let boot = bootstrap(&settings).await?;
    let store = boot.store;
    match cmd {
        AdminCommand::CreateUser { email, display_name, admin, password_stdin } => {
            let pw = read_password(password_stdin)?;
            let hash = password::hash(pw).await?;
            let new = NewUser { email: email.trim().to_string(), display_name, password_hash: hash, is_admin: admin };
            let (user, org) = store.create_user(new).await?;
            println!("created user {} ({}) with personal org {}", user.email, user.id, org);
            if admin {
                // The first administrator now exists: the setup token is spent.
                bootstrap(&settings).await?;
            }
        }
        AdminCommand::ResetPassword { email, password_stdin } => {
            let user = store.user_by_email(&email).await.with_context(|| format!("no account with email {email}"))?;
            let pw = read_password(password_stdin)?;
            let hash = password::hash(pw).await?;
            store.set_password(user.id, hash).await?;
            println!("password reset for {}; their browser sign-ins have ended", user.email);
        }
    }
    Ok(())
}

async fn release(settings: Settings, cmd: ReleaseCommand) -> Result<()> {
    use sessionforge_server::releases::{self, Publish, artifacts::Artifacts};
    let boot = bootstrap(&settings).await?;
    let store = boot.store;
    match cmd {
        ReleaseCommand::Publish { version, target, channel, notes, file } => {
            let req = Publish { version, target, channel, notes, file_name: None };
            req.validate()?;
            let f = tokio::fs::File::open(&file).await.with_context(|| format!("cannot open {}", file.display()))?;
            let body = tokio_util::io::ReaderStream::new(f);
            let artifacts = Artifacts::new(&settings.data_dir);
            let limit = settings.releases.max_upload_bytes;
            let r = releases::publish(&store, &artifacts, req, body, limit, None).await?;
            println!("published {} {} on {} ({} bytes, sha256 {})", r.target, r.version, r.channel, r.size, r.sha256);
        }
        ReleaseCommand::Yank { version, target } => {
            let r = store
                .yank_release(target.clone(), version.clone())
                .await
                .with_context(|| format!("no release {version} for {target}"))?;
            println!("yanked {} {}; it is no longer offered", r.target, r.version);
        }
        ReleaseCommand::List => {
            for r in store.releases().await? {
                let yanked = if r.yanked_at.is_some() { " (yanked)" } else { "" };
                println!("{:<28} {:<14} {:<7} {:>10}  {}{yanked}", r.target, r.version, r.channel, r.size, r.sha256);
            }
        }
    }
    Ok(())
}

fn read_password(from_stdin: bool) -> Result<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading password from stdin")?;
        let pw = line.trim_end_matches(['\r', '\n']).to_string();
        if pw.is_empty() {
            bail!("no password on standard input");
        }
        return Ok(pw);
    }
    let first = rpassword::prompt_password("New password: ")?;
    let second = rpassword::prompt_password("Repeat it: ")?;
    if first != second {
        bail!("the passwords do not match");
    }
    Ok(first)
}
