//! Session notices by email. One task follows every org's change notices; a session that waits
//! for input, finishes or crashes is mailed to the members who asked for that event (for
//! sessions they started, or every session of the org). Notices are batched per person and
//! session: the first opens a window of `email.notify_batch_secs`, and everything that happens
//! in it goes out as one mail when it closes, so a flapping session sends one mail per window.
//! Each mail carries a one-click unsubscribe link.

use std::collections::HashMap;
use std::time::Duration;

use poem_openapi::Object;
use serde::{Deserialize, Serialize};
use sessionforge_shared::ids::{SessionId, UserId};
use sessionforge_shared::protocol::SessionState;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::relay::events::{Change, SessionNotice};
use crate::state::AppState;
use crate::store::outbox::{LinkKind, NewMail};

/// Which session events are mailed, and for whose sessions. Off by default.
#[derive(Object, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct EmailNotifications {
    /// A session is waiting for input.
    #[oai(default)]
    pub waiting_for_input: bool,
    /// A session ended on its own or was stopped.
    #[oai(default)]
    pub finished: bool,
    /// A session crashed or its process failed to start.
    #[oai(default)]
    pub crashed: bool,
    /// Every session of your orgs, not only those you started (or whose machine you enrolled).
    #[oai(default)]
    pub all_org_sessions: bool,
}

impl EmailNotifications {
    /// Read from a user's stored preferences (`notifications.email`); anything unreadable is
    /// the default (nothing mailed).
    pub fn of(prefs: Option<&serde_json::Value>) -> Self {
        prefs
            .and_then(|p| p.pointer("/notifications/email"))
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }

    fn wants(&self, event: Event) -> bool {
        match event {
            Event::Waiting => self.waiting_for_input,
            Event::Finished => self.finished,
            Event::Crashed => self.crashed,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    Waiting,
    Finished,
    Crashed,
}

impl Event {
    fn of(n: &SessionNotice) -> Option<Self> {
        match n.state {
            SessionState::Crashed => Some(Event::Crashed),
            SessionState::Exited => Some(Event::Finished),
            _ if n.waiting_for_input => Some(Event::Waiting),
            _ => None,
        }
    }

    fn words(self) -> &'static str {
        match self {
            Event::Waiting => "is waiting for input",
            Event::Finished => "finished",
            Event::Crashed => "crashed",
        }
    }
}

/// One person's pending mail about one session, with what the mail says about the session (as
/// looked up for the first notice).
struct Batch {
    due: Instant,
    to: String,
    events: Vec<Event>,
    about: serde_json::Value,
}

/// Follows change notices and mails them, until the task is aborted.
pub async fn run(state: AppState) {
    let window = Duration::from_secs(state.settings.email.notify_batch_secs.max(1));
    let mut rx = state.relay.hub.events.subscribe();
    let mut pending: HashMap<(UserId, SessionId), Batch> = HashMap::new();
    loop {
        let next_due = pending.values().map(|b| b.due).min();
        let notice = tokio::select! {
            ev = rx.recv() => match ev {
                Ok(ev) => match ev.change {
                    Change::Session(n) => Some(n),
                    _ => None,
                },
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "session notices came faster than they could be mailed");
                    None
                }
                Err(RecvError::Closed) => return,
            },
            () = sleep_until(next_due) => None,
        };
        if let Some(n) = notice {
            collect(&state, &n, window, &mut pending).await;
        }
        let now = Instant::now();
        let due: Vec<_> = pending.iter().filter(|(_, b)| b.due <= now).map(|(k, _)| *k).collect();
        for key in due {
            if let Some(batch) = pending.remove(&key) {
                send(&state, key.0, batch).await;
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Adds a notice to the batches of everyone who wants it.
async fn collect(
    state: &AppState,
    n: &SessionNotice,
    window: Duration,
    pending: &mut HashMap<(UserId, SessionId), Batch>,
) {
    let Some(event) = Event::of(n) else { return };
    let subject = match state.store.notice_subject(n.id).await {
        Ok(Some(s)) => s,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(error = %e, "cannot look up who to notify");
            return;
        }
    };
    let url = format!("{}/orgs/{}/sessions/{}", state.public_url.trim_end_matches('/'), subject.org_id, n.id);
    let about = serde_json::json!({
        "command": subject.command,
        "machine": subject.hostname,
        "org": subject.org_name,
        "session_url": url,
    });
    for (user, email, prefs) in subject.members {
        let wants = EmailNotifications::of(prefs.as_ref());
        let theirs = subject.requested_by == Some(user);
        if !wants.wants(event) || !(theirs || wants.all_org_sessions) {
            continue;
        }
        let batch = pending.entry((user, n.id)).or_insert_with(|| Batch {
            due: Instant::now() + window,
            to: email,
            events: Vec::new(),
            about: about.clone(),
        });
        batch.events.push(event);
    }
}

async fn send(state: &AppState, user: UserId, batch: Batch) {
    let last = batch.events.last().copied().unwrap_or(Event::Finished);
    let mut params = batch.about;
    params["what"] = last.words().into();
    params["count"] = batch.events.len().into();
    let mail = NewMail {
        to: batch.to,
        template: "session_notice",
        params,
        link: Some((LinkKind::Unsubscribe, user.to_string())),
    };
    match state.store.queue_mail(mail).await {
        Ok(_) => state.outbox.wake(),
        Err(e) => tracing::error!(error = %e, "cannot queue a session notice"),
    }
}
