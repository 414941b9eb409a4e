//! The commands the settings window calls (`window.__TAURI__.core.invoke`). Errors go back as
//! plain sentences, which the page shows as they are. Tokens are never logged.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sessionforge_shared::protocol::KNOWN_AI_CLIS;
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_autostart::ManagerExt;

use crate::engine::Engine;
use crate::prefs::TrayPrefs;

#[derive(Serialize)]
pub struct StatusView {
    status_line: String,
    enrolled: bool,
    server_url: Option<String>,
    hostname: String,
    machine_id: Option<String>,
    credential_location: Option<String>,
    version: &'static str,
}

#[derive(Serialize, Deserialize)]
pub struct Preferences {
    autostart: bool,
    /// AI CLIs to discover.
    clis: Vec<String>,
    /// The CLIs SessionForge knows (for the checkboxes); ignored when saving.
    #[serde(default, skip_deserializing)]
    known_clis: Vec<String>,
    notify_ended: bool,
    notify_failed: bool,
    notify_waiting: bool,
}

#[derive(Serialize)]
pub struct SettingsView {
    status: StatusView,
    preferences: Preferences,
}

#[tauri::command]
pub async fn settings<R: Runtime>(app: AppHandle<R>, engine: State<'_, Arc<Engine>>) -> Result<SettingsView, String> {
    let cfg = engine.config().await;
    let state = engine.view().borrow().clone();
    let prefs = TrayPrefs::load(engine.paths());
    let autostart = app.autolaunch().is_enabled().unwrap_or(false);
    Ok(SettingsView {
        status: StatusView {
            status_line: state.status_line(),
            enrolled: cfg.is_enrolled(),
            server_url: cfg.is_enrolled().then(|| cfg.server_url.clone()),
            hostname: engine.hostname().to_string(),
            machine_id: cfg.machine_id.map(|m| m.to_string()),
            credential_location: cfg.is_enrolled().then(|| cfg.credential_place()),
            version: sessionforge_agent::version::VERSION,
        },
        preferences: Preferences {
            autostart,
            clis: cfg.discover.clone(),
            known_clis: KNOWN_AI_CLIS.iter().map(|s| s.to_string()).collect(),
            notify_ended: prefs.notify_ended,
            notify_failed: prefs.notify_failed,
            notify_waiting: prefs.notify_waiting,
        },
    })
}

#[tauri::command]
pub async fn enroll(
    engine: State<'_, Arc<Engine>>,
    server: String,
    token: String,
    fingerprint: Option<String>,
    signing_key_id: Option<String>,
) -> Result<String, String> {
    engine.enroll(&server, &token, fingerprint.as_deref(), signing_key_id.as_deref()).await.map_err(|e| e.to_string())
}

#[tauri::command]
pub async fn sign_out(engine: State<'_, Arc<Engine>>) -> Result<(), String> {
    engine.sign_out().await.map_err(|e| e.to_string())
}

#[tauri::command]
pub async fn save_preferences<R: Runtime>(
    app: AppHandle<R>,
    engine: State<'_, Arc<Engine>>,
    preferences: Preferences,
) -> Result<String, String> {
    let clis: Vec<String> = preferences.clis.iter().map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect();
    if let Some(bad) = clis.iter().find(|c| c.len() > 64 || c.contains(['/', '\\', ' '])) {
        return Err(format!("{bad:?} is not a program name (no paths or spaces)."));
    }
    let autolaunch = app.autolaunch();
    let result = if preferences.autostart { autolaunch.enable() } else { autolaunch.disable() };
    result.map_err(|e| format!("Cannot change start at login: {e}"))?;
    TrayPrefs {
        notify_ended: preferences.notify_ended,
        notify_failed: preferences.notify_failed,
        notify_waiting: preferences.notify_waiting,
    }
    .save(engine.paths())
    .map_err(|e| e.to_string())?;
    engine.set_discover(clis).await.map_err(|e| e.to_string())
}
