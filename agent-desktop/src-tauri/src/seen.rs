//! The tray's list of sessions: the agent's summaries folded in each refresh, with sessions
//! the agent has already forgotten (over and delivered) kept as ended, for their notification
//! and, when they failed, for the menu.

use sessionforge_agent::sessions::Summary;

use crate::state::SessionView;

/// Ended sessions remembered at most.
pub const ENDED_KEPT: usize = 16;

/// Folds the agent's session summaries into the tray's list: new ones are added, known ones
/// updated, and running ones the agent has forgotten (over and delivered) marked ended with
/// the exit code it kept (`exits`).
pub fn merge(seen: &mut Vec<SessionView>, summaries: &[Summary], exits: &[(String, Option<Option<i32>>)]) {
    for s in summaries {
        let id = s.session_id.to_string();
        let view = SessionView {
            title: program_name(&s.command),
            running: s.running,
            exit_code: s.exit_code,
            waiting_for_input: s.waiting_for_input,
            id: id.clone(),
        };
        match seen.iter_mut().find(|v| v.id == id) {
            Some(v) => *v = view,
            None => seen.push(view),
        }
    }
    for (id, exit) in exits {
        if let Some(v) = seen.iter_mut().find(|v| &v.id == id) {
            v.running = false;
            v.waiting_for_input = false;
            v.exit_code = exit.flatten();
        }
    }
    // Keep every running session and the newest ended ones.
    let ended = seen.iter().filter(|s| !s.running).count();
    let mut drop_ended = ended.saturating_sub(ENDED_KEPT);
    seen.retain(|s| {
        if !s.running && drop_ended > 0 {
            drop_ended -= 1;
            return false;
        }
        true
    });
}

fn program_name(command: &str) -> String {
    std::path::Path::new(command)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| command.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sessionforge_shared::ids::SessionId;

    fn summary(id: SessionId, running: bool, exit_code: Option<i32>) -> Summary {
        Summary {
            session_id: id,
            kind: "claude".into(),
            command: "/usr/local/bin/claude".into(),
            pid: Some(42),
            running,
            exit_code,
            unacked_bytes: 0,
            waiting_for_input: false,
        }
    }

    #[test]
    fn sessions_the_agent_forgot_keep_their_exit_and_old_endings_are_dropped() {
        let (a, b) = (SessionId::new(), SessionId::new());
        let mut seen = Vec::new();
        merge(&mut seen, &[summary(a, true, None), summary(b, true, None)], &[]);
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].title, "claude");
        // `a` ended and was delivered: the agent no longer lists it but kept its exit code.
        merge(&mut seen, &[summary(b, true, None)], &[(a.to_string(), Some(Some(3)))]);
        assert!(!seen[0].running && seen[0].exit_code == Some(3), "{seen:?}");
        assert!(seen[0].needs_attention());
        for _ in 0..ENDED_KEPT + 4 {
            merge(&mut seen, &[summary(SessionId::new(), false, Some(0))], &[]);
        }
        assert_eq!(seen.iter().filter(|s| !s.running).count(), ENDED_KEPT);
        assert!(seen.iter().any(|s| s.id == b.to_string() && s.running), "running sessions are never dropped");
    }
}
