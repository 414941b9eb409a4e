//! Turns the state model's declarative menu into a native Tauri menu, and menu item ids back
//! into actions. Ids carry the action itself (`open:<session>`, `start:<command>`, `quit`…),
//! so a click never depends on a menu that has since been rebuilt.

use tauri::menu::{IsMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::{AppHandle, Runtime};

use crate::state::{Action, MenuEntry};

pub fn action_id(action: &Action) -> String {
    match action {
        Action::OpenSession(id) => format!("open:{id}"),
        Action::StartSession(cmd) => format!("start:{cmd}"),
        Action::OpenDashboard => "dashboard".into(),
        Action::Pause => "pause".into(),
        Action::Resume => "resume".into(),
        Action::CheckForUpdates => "update".into(),
        Action::Settings => "settings".into(),
        Action::Quit => "quit".into(),
    }
}

pub fn parse_action(id: &str) -> Option<Action> {
    if let Some(session) = id.strip_prefix("open:") {
        return Some(Action::OpenSession(session.into()));
    }
    if let Some(cmd) = id.strip_prefix("start:") {
        return Some(Action::StartSession(cmd.into()));
    }
    Some(match id {
        "dashboard" => Action::OpenDashboard,
        "pause" => Action::Pause,
        "resume" => Action::Resume,
        "update" => Action::CheckForUpdates,
        "settings" => Action::Settings,
        "quit" => Action::Quit,
        _ => return None,
    })
}

/// The native menu for `entries`.
pub fn build<R: Runtime>(app: &AppHandle<R>, entries: &[MenuEntry]) -> tauri::Result<Menu<R>> {
    let items = native_items(app, entries, &mut 0)?;
    let refs: Vec<&dyn IsMenuItem<R>> = items.iter().map(|i| i.as_ref()).collect();
    Menu::with_items(app, &refs)
}

fn native_items<R: Runtime>(
    app: &AppHandle<R>,
    entries: &[MenuEntry],
    labels: &mut usize,
) -> tauri::Result<Vec<Box<dyn IsMenuItem<R>>>> {
    let mut out: Vec<Box<dyn IsMenuItem<R>>> = Vec::new();
    for entry in entries {
        match entry {
            MenuEntry::Label(text) => {
                *labels += 1;
                out.push(Box::new(MenuItem::with_id(app, format!("label:{labels}"), text, false, None::<&str>)?));
            }
            MenuEntry::Item { label, action, enabled } => {
                out.push(Box::new(MenuItem::with_id(app, action_id(action), label, *enabled, None::<&str>)?));
            }
            MenuEntry::Submenu { label, entries } => {
                let children = native_items(app, entries, labels)?;
                let refs: Vec<&dyn IsMenuItem<R>> = children.iter().map(|i| i.as_ref()).collect();
                out.push(Box::new(Submenu::with_items(app, label, true, &refs)?));
            }
            MenuEntry::Separator => out.push(Box::new(PredefinedMenuItem::separator(app)?)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_survives_its_id() {
        for action in [
            Action::OpenSession("0193-abc".into()),
            Action::StartSession("codex".into()),
            Action::StartSession("odd:name".into()),
            Action::OpenDashboard,
            Action::Pause,
            Action::Resume,
            Action::CheckForUpdates,
            Action::Settings,
            Action::Quit,
        ] {
            assert_eq!(parse_action(&action_id(&action)), Some(action.clone()), "{action:?}");
        }
        assert_eq!(parse_action("label:1"), None, "labels do nothing");
    }
}
