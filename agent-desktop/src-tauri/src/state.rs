//! The tray's state model: a plain struct with what the tray knows (connection, sessions,
//! update, pause), and pure functions from it to what the icon, tooltip and menu show. No Tauri
//! types here, so every transition is unit-tested without a display.

/// How the agent's link to the server is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Connection {
    /// Not enrolled with any server yet.
    NotEnrolled,
    Connecting,
    Connected,
    /// Disconnected (retrying), or refused by the server.
    Offline {
        reason: String,
    },
    /// The agent could not start here (another agent runs for this machine, no credential…);
    /// `reason` says what to do.
    Blocked {
        reason: String,
    },
}

/// One local session as the tray shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionView {
    pub id: String,
    /// What ran: `claude`, `codex --full-auto`, …
    pub title: String,
    pub running: bool,
    pub exit_code: Option<i32>,
    /// The program asked for the user (rang the bell, or went quiet after printing).
    pub waiting_for_input: bool,
}

impl SessionView {
    /// Waiting for the user, or ended badly.
    pub fn needs_attention(&self) -> bool {
        (self.running && self.waiting_for_input) || (!self.running && self.exit_code != Some(0))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrayState {
    pub server_url: Option<String>,
    pub hostname: String,
    pub connection: Option<Connection>,
    /// Relaying is paused by the user (the agent is disconnected on purpose).
    pub paused: bool,
    /// A newer agent version the server offers.
    pub update_available: Option<String>,
    pub sessions: Vec<SessionView>,
    /// Commands "Start session…" offers (the configured AI CLIs found on this machine).
    pub startable: Vec<String>,
}

/// What a notification is about (each kind can be switched off in Settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeKind {
    Ended,
    Failed,
    Waiting,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub kind: NoticeKind,
    pub title: String,
    pub body: String,
}

/// Which icon the tray shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Icon {
    Connected,
    Connecting,
    Offline,
    /// Connected, and a newer version is available.
    UpdateAvailable,
    /// A session waits for input or ended with an error.
    Attention,
}

/// What a menu item does when clicked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    OpenSession(String),
    StartSession(String),
    OpenDashboard,
    Pause,
    Resume,
    CheckForUpdates,
    Settings,
    Quit,
}

/// One menu entry, declaratively; `menu.rs` turns these into native items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MenuEntry {
    /// Text that cannot be clicked.
    Label(String),
    Item {
        label: String,
        action: Action,
        enabled: bool,
    },
    Submenu {
        label: String,
        entries: Vec<MenuEntry>,
    },
    Separator,
}

fn item(label: impl Into<String>, action: Action) -> MenuEntry {
    MenuEntry::Item { label: label.into(), action, enabled: true }
}

impl TrayState {
    pub fn attention(&self) -> bool {
        self.sessions.iter().any(SessionView::needs_attention)
    }

    pub fn icon(&self) -> Icon {
        if self.attention() {
            return Icon::Attention;
        }
        match (&self.connection, self.paused) {
            (_, true)
            | (None | Some(Connection::NotEnrolled | Connection::Offline { .. } | Connection::Blocked { .. }), _) => {
                Icon::Offline
            }
            (Some(Connection::Connecting), _) => Icon::Connecting,
            (Some(Connection::Connected), _) if self.update_available.is_some() => Icon::UpdateAvailable,
            (Some(Connection::Connected), _) => Icon::Connected,
        }
    }

    /// One line about the server and this machine, for the menu and the tooltip.
    pub fn status_line(&self) -> String {
        let server = self.server_url.as_deref().unwrap_or("no server");
        match (&self.connection, self.paused) {
            (Some(Connection::NotEnrolled) | None, _) => {
                "Not connected to a server — open Settings to add this machine".into()
            }
            (Some(Connection::Blocked { reason }), _) => reason.clone(),
            (_, true) => format!("Paused — not relaying to {server}"),
            (Some(Connection::Connecting), _) => format!("Connecting to {server}…"),
            (Some(Connection::Connected), _) => format!("{} — connected to {server}", self.hostname),
            (Some(Connection::Offline { reason }), _) => format!("Offline ({reason}) — retrying {server}"),
        }
    }

    pub fn tooltip(&self) -> String {
        let running = self.sessions.iter().filter(|s| s.running).count();
        let mut t = format!("SessionForge: {}", self.status_line());
        if running > 0 {
            t += &format!("\n{running} session{} running", if running == 1 { "" } else { "s" });
        }
        if let Some(s) = self.sessions.iter().find(|s| s.needs_attention()) {
            t += &format!("\n{} needs attention", s.title);
        }
        if let Some(v) = &self.update_available {
            t += &format!("\nUpdate available: {v}");
        }
        t
    }

    pub fn menu(&self) -> Vec<MenuEntry> {
        let enrolled = !matches!(self.connection, None | Some(Connection::NotEnrolled | Connection::Blocked { .. }));
        let mut m = vec![MenuEntry::Label(self.status_line()), MenuEntry::Separator];
        let active: Vec<&SessionView> = self.sessions.iter().filter(|s| s.running || s.needs_attention()).collect();
        if active.is_empty() {
            m.push(MenuEntry::Label("No active sessions".into()));
        }
        for s in active {
            let marker =
                if s.needs_attention() { if s.running { " — waiting for you" } else { " — failed" } } else { "" };
            m.push(MenuEntry::Item {
                label: format!("{}{marker}", s.title),
                action: Action::OpenSession(s.id.clone()),
                enabled: enrolled,
            });
        }
        m.push(MenuEntry::Separator);
        let start: Vec<MenuEntry> =
            self.startable.iter().map(|c| item(c.clone(), Action::StartSession(c.clone()))).collect();
        if enrolled && !start.is_empty() {
            m.push(MenuEntry::Submenu { label: "Start session…".into(), entries: start });
        } else {
            m.push(MenuEntry::Item { label: "Start session…".into(), action: Action::Settings, enabled: false });
        }
        m.push(MenuEntry::Item { label: "Open dashboard".into(), action: Action::OpenDashboard, enabled: enrolled });
        let blocked = matches!(self.connection, Some(Connection::Blocked { .. }));
        if self.paused || blocked {
            // Blocked: resuming retries starting the agent (say, after the other one quit).
            m.push(MenuEntry::Item {
                label: "Resume relaying".into(),
                action: Action::Resume,
                enabled: enrolled || blocked,
            });
        } else {
            m.push(MenuEntry::Item { label: "Pause relaying".into(), action: Action::Pause, enabled: enrolled });
        }
        let update = match &self.update_available {
            Some(v) => format!("Install update {v}…"),
            None => "Check for updates".into(),
        };
        m.push(MenuEntry::Item { label: update, action: Action::CheckForUpdates, enabled: enrolled });
        m.push(MenuEntry::Separator);
        m.push(item("Settings…", Action::Settings));
        m.push(item("Quit", Action::Quit));
        m
    }

    /// Notifications to show when moving from `before` to `self`: sessions that just ended,
    /// failed, or started waiting for input.
    pub fn notifications(&self, before: &TrayState) -> Vec<Notice> {
        let mut out = Vec::new();
        for s in &self.sessions {
            let prev = before.sessions.iter().find(|p| p.id == s.id);
            let was_running = prev.is_none_or(|p| p.running);
            if was_running && !s.running {
                let body = match s.exit_code {
                    Some(0) => "finished".to_string(),
                    Some(code) => format!("failed with exit code {code}"),
                    None => "was stopped".to_string(),
                };
                let (kind, title) = if s.exit_code == Some(0) {
                    (NoticeKind::Ended, "Session ended")
                } else {
                    (NoticeKind::Failed, "Session failed")
                };
                out.push(Notice { kind, title: title.into(), body: format!("{} {body}", s.title) });
            } else if s.running && s.waiting_for_input && !prev.is_some_and(|p| p.waiting_for_input) {
                out.push(Notice {
                    kind: NoticeKind::Waiting,
                    title: "Waiting for you".into(),
                    body: format!("{} is waiting for input", s.title),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connected() -> TrayState {
        TrayState {
            server_url: Some("https://forge.example".into()),
            hostname: "laptop".into(),
            connection: Some(Connection::Connected),
            startable: vec!["claude".into(), "codex".into()],
            ..TrayState::default()
        }
    }

    fn session(id: &str, running: bool, exit_code: Option<i32>, waiting: bool) -> SessionView {
        SessionView { id: id.into(), title: format!("claude {id}"), running, exit_code, waiting_for_input: waiting }
    }

    fn labels(m: &[MenuEntry]) -> Vec<String> {
        m.iter()
            .map(|e| match e {
                MenuEntry::Label(l) => format!("[{l}]"),
                MenuEntry::Item { label, enabled, .. } => {
                    if *enabled {
                        label.clone()
                    } else {
                        format!("({label})")
                    }
                }
                MenuEntry::Submenu { label, entries } => format!("{label} > {}", labels(entries).join(", ")),
                MenuEntry::Separator => "-".into(),
            })
            .collect()
    }

    #[test]
    fn the_icon_follows_the_connection() {
        let mut s = TrayState::default();
        assert_eq!(s.icon(), Icon::Offline);
        s = connected();
        assert_eq!(s.icon(), Icon::Connected);
        s.connection = Some(Connection::Connecting);
        assert_eq!(s.icon(), Icon::Connecting);
        s.connection = Some(Connection::Offline { reason: "server unreachable".into() });
        assert_eq!(s.icon(), Icon::Offline);
        assert!(s.status_line().contains("server unreachable"));
        s = connected();
        s.paused = true;
        assert_eq!(s.icon(), Icon::Offline);
        assert!(s.status_line().starts_with("Paused"));
    }

    #[test]
    fn updates_show_when_connected_and_attention_beats_everything() {
        let mut s = connected();
        s.update_available = Some("1.4.0".into());
        assert_eq!(s.icon(), Icon::UpdateAvailable);
        assert!(labels(&s.menu()).contains(&"Install update 1.4.0…".to_string()));
        s.sessions = vec![session("a", true, None, true)];
        assert_eq!(s.icon(), Icon::Attention);
        s.connection = Some(Connection::Offline { reason: "x".into() });
        assert_eq!(s.icon(), Icon::Attention, "a waiting session matters even while offline");
        s.sessions = vec![session("a", false, Some(0), false)];
        assert_eq!(s.icon(), Icon::Offline, "a clean exit needs nobody");
        s.sessions = vec![session("a", false, Some(2), false)];
        assert_eq!(s.icon(), Icon::Attention);
    }

    #[test]
    fn the_menu_lists_active_sessions_and_every_action() {
        let mut s = connected();
        s.sessions =
            vec![session("a", true, None, false), session("b", false, Some(0), false), session("c", true, None, true)];
        let menu = s.menu();
        assert_eq!(
            labels(&menu),
            vec![
                "[laptop — connected to https://forge.example]",
                "-",
                "claude a",
                "claude c — waiting for you",
                "-",
                "Start session… > claude, codex",
                "Open dashboard",
                "Pause relaying",
                "Check for updates",
                "-",
                "Settings…",
                "Quit",
            ]
        );
        assert!(menu.contains(&MenuEntry::Item {
            label: "claude a".into(),
            action: Action::OpenSession("a".into()),
            enabled: true
        }));
        s.paused = true;
        assert!(labels(&s.menu()).contains(&"Resume relaying".to_string()));
    }

    #[test]
    fn an_unenrolled_tray_only_offers_settings_and_quit() {
        let s = TrayState { connection: Some(Connection::NotEnrolled), ..TrayState::default() };
        let l = labels(&s.menu());
        assert!(l[0].contains("open Settings"));
        assert!(l.contains(&"[No active sessions]".to_string()), "{l:?}");
        for disabled in ["(Start session…)", "(Open dashboard)", "(Pause relaying)", "(Check for updates)"] {
            assert!(l.contains(&disabled.to_string()), "{disabled} in {l:?}");
        }
        assert!(l.contains(&"Settings…".to_string()) && l.contains(&"Quit".to_string()));
    }

    #[test]
    fn a_second_agent_is_refused_with_a_clear_line() {
        let reason = "Another SessionForge agent is already running for this machine".to_string();
        let s = TrayState { connection: Some(Connection::Blocked { reason: reason.clone() }), ..connected() };
        assert_eq!(s.icon(), Icon::Offline);
        assert_eq!(s.status_line(), reason);
        let l = labels(&s.menu());
        assert!(l.contains(&"Resume relaying".to_string()), "resuming retries: {l:?}");
        assert!(l.contains(&"(Open dashboard)".to_string()) && l.contains(&"Settings…".to_string()), "{l:?}");
    }

    #[test]
    fn notifications_for_endings_failures_and_waiting() {
        let before = TrayState {
            sessions: vec![
                session("a", true, None, false),
                session("b", true, None, false),
                session("c", true, None, false),
            ],
            ..connected()
        };
        let after = TrayState {
            sessions: vec![
                session("a", false, Some(0), false),
                session("b", false, Some(1), false),
                session("c", true, None, true),
            ],
            ..connected()
        };
        let n: Vec<(NoticeKind, String, String)> =
            after.notifications(&before).into_iter().map(|n| (n.kind, n.title, n.body)).collect();
        assert_eq!(
            n,
            vec![
                (NoticeKind::Ended, "Session ended".to_string(), "claude a finished".to_string()),
                (NoticeKind::Failed, "Session failed".to_string(), "claude b failed with exit code 1".to_string()),
                (NoticeKind::Waiting, "Waiting for you".to_string(), "claude c is waiting for input".to_string()),
            ]
        );
        assert!(after.notifications(&after).is_empty(), "nothing new, nothing to say");
    }
}
