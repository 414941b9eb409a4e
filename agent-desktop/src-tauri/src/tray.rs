//! Wires the engine to the desktop: the tray icon, its menu and tooltip follow the engine's
//! state; menu clicks become engine calls; state changes raise native notifications and tell
//! the settings window (`status-changed`); SIGINT/SIGTERM quit cleanly.

use std::sync::Arc;

use tauri::image::Image;
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Emitter, Manager, Runtime, WebviewUrl, WebviewWindowBuilder};
use tauri_plugin_notification::NotificationExt;
use tokio::sync::watch;

use crate::engine::Engine;
use crate::prefs::TrayPrefs;
use crate::state::{Action, TrayState};
use crate::{icons, menu};

const TRAY_ID: &str = "sessionforge";
const SETTINGS_WINDOW: &str = "settings";

/// What to do once the tray is up.
#[derive(Debug, Default)]
pub struct Startup {
    /// Open the settings window at once (also done when the machine is not enrolled).
    pub show_settings: bool,
    /// Enroll with this server and token first (from flags or the environment).
    pub enroll: Option<(String, String, Option<String>)>,
}

/// Shows (or creates) the settings window and focuses it.
pub fn show_settings<R: Runtime>(app: &AppHandle<R>) {
    if let Some(w) = app.get_webview_window(SETTINGS_WINDOW) {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
        return;
    }
    let built = WebviewWindowBuilder::new(app, SETTINGS_WINDOW, WebviewUrl::App("settings.html".into()))
        .title("SessionForge settings")
        .inner_size(560.0, 760.0)
        .min_inner_size(380.0, 480.0)
        .build();
    if let Err(e) = built {
        tracing::error!(error = %e, "cannot open the settings window");
    }
}

/// Builds the tray icon and starts the engine, the state follower and the signal handler.
pub fn setup<R: Runtime>(app: &AppHandle<R>, engine: Arc<Engine>, startup: Startup) -> tauri::Result<()> {
    let state = TrayState::default();
    let tray = TrayIconBuilder::with_id(TRAY_ID)
        .icon(Image::from_bytes(icons::png(state.icon()))?)
        .tooltip(state.tooltip())
        .menu(&menu::build(app, &state.menu())?)
        .show_menu_on_left_click(true)
        .on_menu_event(|app, event| {
            if let Some(action) = menu::parse_action(event.id().as_ref()) {
                let app = app.clone();
                tauri::async_runtime::spawn(async move { act(&app, action).await });
            }
        })
        .build(app)?;

    let (stop_tx, stop_rx) = watch::channel(false);
    app.manage(Stopping(stop_tx));
    let view = engine.view();
    tauri::async_runtime::spawn(follow(app.clone(), tray, view));
    tauri::async_runtime::spawn(engine.clone().run(stop_rx));
    let app2 = app.clone();
    tauri::async_runtime::spawn(async move {
        if let Some((server, token, fingerprint)) = startup.enroll {
            if engine.config().await.enrolled_with(&server) {
                tracing::info!(server, "already enrolled with this server; not enrolling again");
            } else {
                match engine.enroll(&server, &token, fingerprint.as_deref(), None).await {
                    Ok(said) => tracing::info!("{said}"),
                    Err(e) => {
                        tracing::error!(error = %e, "enrollment failed");
                        notify(&app2, "Cannot connect this machine", &e.to_string());
                    }
                }
            }
        }
        engine.start().await;
        if startup.show_settings || !engine.config().await.is_enrolled() {
            show_settings(&app2);
        }
    });
    listen_for_signals(app.clone());
    Ok(())
}

/// Tells the engine's loop to end.
struct Stopping(watch::Sender<bool>);

/// Stops relaying (delivering what is pending), then exits with 0.
pub async fn quit<R: Runtime>(app: &AppHandle<R>) {
    tracing::info!("quitting");
    let engine = app.state::<Arc<Engine>>().inner().clone();
    engine.stop().await;
    let _ = app.state::<Stopping>().0.send(true);
    app.exit(0);
}

async fn act<R: Runtime>(app: &AppHandle<R>, action: Action) {
    let engine = app.state::<Arc<Engine>>().inner().clone();
    match action {
        Action::OpenSession(id) => {
            engine.dismiss(&id).await;
            open_url(app, engine.dashboard_url(Some(&id)).await);
        }
        Action::StartSession(command) => match engine.start_session(&command).await {
            Ok(url) => open_url(app, Some(url)),
            Err(e) => notify(app, "Cannot start the session", &e.to_string()),
        },
        Action::OpenDashboard => open_url(app, engine.dashboard_url(None).await),
        Action::Pause => engine.set_paused(true).await,
        Action::Resume => engine.set_paused(false).await,
        Action::CheckForUpdates => {
            let had = engine.view().borrow().update_available.clone();
            match engine.check_updates().await {
                Ok(Some(v)) if had.as_deref() == Some(v.as_str()) => {
                    // Asked again: the tray is installed by a package, so send the user to the
                    // server's install page.
                    let url = engine.dashboard_url(None).await.map(|u| u.replace("/sessions", "/machines/add"));
                    open_url(app, url);
                }
                Ok(Some(v)) => notify(app, "Update available", &format!("SessionForge {v} is available.")),
                Ok(None) => notify(
                    app,
                    "SessionForge is up to date",
                    &format!("Version {} is the newest on this channel.", sessionforge_agent::version::VERSION),
                ),
                Err(e) => notify(app, "Cannot check for updates", &e.to_string()),
            }
        }
        Action::Settings => show_settings(app),
        Action::Quit => quit(app).await,
    }
}

/// Follows the engine's state: icon, tooltip, menu, notifications, and the settings window.
async fn follow<R: Runtime>(app: AppHandle<R>, tray: TrayIcon<R>, mut view: watch::Receiver<TrayState>) {
    let mut before = view.borrow().clone();
    while view.changed().await.is_ok() {
        let now = view.borrow_and_update().clone();
        if now.icon() != before.icon() {
            match Image::from_bytes(icons::png(now.icon())) {
                Ok(img) => {
                    let _ = tray.set_icon(Some(img));
                }
                Err(e) => tracing::warn!(error = %e, "bad tray icon"),
            }
        }
        let _ = tray.set_tooltip(Some(now.tooltip()));
        if now.menu() != before.menu() {
            match menu::build(&app, &now.menu()) {
                Ok(m) => {
                    let _ = tray.set_menu(Some(m));
                }
                Err(e) => tracing::warn!(error = %e, "cannot rebuild the tray menu"),
            }
        }
        let notices = now.notifications(&before);
        if !notices.is_empty() {
            // Read when needed: the settings window may have changed them.
            let prefs = TrayPrefs::load(app.state::<Arc<Engine>>().paths());
            for n in notices.into_iter().filter(|n| prefs.wants(n.kind)) {
                notify(&app, &n.title, &n.body);
            }
        }
        tracing::debug!(status = %now.status_line(), "tray state");
        let _ = app.emit("status-changed", ());
        before = now;
    }
}

fn notify<R: Runtime>(app: &AppHandle<R>, title: &str, body: &str) {
    tracing::info!(title, body, "notification");
    if let Err(e) = app.notification().builder().title(title).body(body).show() {
        tracing::debug!(error = %e, "cannot show a notification");
    }
}

fn open_url<R: Runtime>(app: &AppHandle<R>, url: Option<String>) {
    let Some(url) = url else {
        show_settings(app);
        return;
    };
    if let Err(e) = open::that_detached(&url) {
        notify(app, "Cannot open the browser", &format!("{url}: {e}"));
    }
}

fn listen_for_signals<R: Runtime>(app: AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
                tracing::warn!("cannot listen for SIGTERM/SIGINT");
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        #[cfg(windows)]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
        }
        quit(&app).await;
    });
}
