//! The tray's own preferences (which notifications to show), kept in the `[tray]` table of the
//! shared `agent.toml`; the headless agent ignores that table.

use serde::{Deserialize, Serialize};
use sessionforge_agent::config::{ConfigError, Paths, save_values};

use crate::state::NoticeKind;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrayPrefs {
    pub notify_ended: bool,
    pub notify_failed: bool,
    pub notify_waiting: bool,
}

impl Default for TrayPrefs {
    fn default() -> Self {
        Self { notify_ended: true, notify_failed: true, notify_waiting: true }
    }
}

impl TrayPrefs {
    /// The `[tray]` table of the config file; defaults when it is missing or unreadable.
    pub fn load(paths: &Paths) -> Self {
        #[derive(Deserialize, Default)]
        struct File {
            #[serde(default)]
            tray: TrayPrefs,
        }
        std::fs::read_to_string(&paths.config_file)
            .ok()
            .and_then(|t| toml::from_str::<File>(&t).ok())
            .map(|f| f.tray)
            .unwrap_or_default()
    }

    pub fn save(&self, paths: &Paths) -> Result<(), ConfigError> {
        let b = |v: bool| Some(toml::Value::Boolean(v));
        save_values(
            paths,
            &[
                ("tray.notify_ended", b(self.notify_ended)),
                ("tray.notify_failed", b(self.notify_failed)),
                ("tray.notify_waiting", b(self.notify_waiting)),
            ],
        )
    }

    pub fn wants(&self, kind: NoticeKind) -> bool {
        match kind {
            NoticeKind::Ended => self.notify_ended,
            NoticeKind::Failed => self.notify_failed,
            NoticeKind::Waiting => self.notify_waiting,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferences_round_trip_next_to_the_agent_settings() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = Paths::resolve(Some(dir.path()));
        assert_eq!(TrayPrefs::load(&paths), TrayPrefs::default());
        std::fs::write(&paths.config_file, "buffer_bytes = 65536\n").expect("write");
        let prefs = TrayPrefs { notify_waiting: false, ..TrayPrefs::default() };
        prefs.save(&paths).expect("save");
        assert_eq!(TrayPrefs::load(&paths), prefs);
        assert!(!prefs.wants(NoticeKind::Waiting) && prefs.wants(NoticeKind::Failed));
        let cfg = sessionforge_agent::config::AgentConfig::load(&paths).expect("the agent still reads it");
        assert_eq!(cfg.buffer_bytes, 65536);
    }
}
