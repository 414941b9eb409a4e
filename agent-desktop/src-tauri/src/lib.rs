//! The SessionForge tray app over the agent core: one in-process agent ([`engine`]), a state
//! model unit-tested without a display ([`state`]), and the Tauri wiring ([`tray`], [`menu`],
//! [`commands`]). The settings window's pages are static files in `agent-desktop/ui`.

pub mod commands;
pub mod engine;
pub mod icons;
pub mod menu;
pub mod prefs;
pub mod seen;
pub mod state;
pub mod tray;

use std::path::PathBuf;

use clap::Parser;
use tauri::RunEvent;
use tauri_plugin_autostart::MacosLauncher;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "sessionforge-tray", version = sessionforge_agent::version::VERSION, about = "SessionForge in your tray")]
struct Args {
    /// Keep config, credential file and status here instead of the platform directories.
    #[arg(long, env = "SESSIONFORGE_CONFIG_DIR")]
    config_dir: Option<PathBuf>,
    /// Log filter (logs go to stderr).
    #[arg(long, env = "SESSIONFORGE_LOG", default_value = "info")]
    log_level: String,
    /// Open the settings window at start.
    #[arg(long)]
    settings: bool,
    /// Enroll with this server at start (unless already enrolled with it); needs --token.
    #[arg(long, env = "SESSIONFORGE_SERVER_URL", requires = "token")]
    server: Option<String>,
    /// One-time enrollment token for --server.
    #[arg(long, env = "SESSIONFORGE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Expected SHA-256 fingerprint of a self-signed server certificate.
    #[arg(long)]
    fingerprint: Option<String>,
}

/// Runs the tray app until it quits; returns the process exit code.
pub fn run() -> i32 {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&args.log_level).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let paths = sessionforge_agent::config::Paths::resolve(args.config_dir.as_deref());
    let engine = engine::Engine::new(paths);
    let startup = tray::Startup {
        show_settings: args.settings,
        enroll: match (args.server, args.token) {
            (Some(s), Some(t)) => Some((s, t, args.fingerprint)),
            _ => None,
        },
    };
    let built = tauri::Builder::default()
        // First, so that a second start hands over before anything else happens.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| tray::show_settings(app)))
        .plugin(tauri_plugin_autostart::init(MacosLauncher::LaunchAgent, None))
        .plugin(tauri_plugin_notification::init())
        .manage(engine.clone())
        .invoke_handler(tauri::generate_handler![
            commands::settings,
            commands::enroll,
            commands::sign_out,
            commands::save_preferences
        ])
        .setup(move |app| {
            tray::setup(app.handle(), engine, startup)?;
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match built {
        Ok(app) => app,
        Err(e) => {
            eprintln!("error: cannot start the SessionForge tray: {e}");
            return 1;
        }
    };
    app.run(|_app, event| {
        // Closing the settings window leaves the tray running; only Quit (or a signal) exits.
        if let RunEvent::ExitRequested { api, code: None, .. } = event {
            api.prevent_exit();
        }
    });
    0
}
