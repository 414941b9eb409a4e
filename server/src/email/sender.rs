//! The outbox sender: one task that delivers queued mail, oldest first. A failed attempt is
//! retried after `retry_initial_secs`, doubling up to `retry_max_secs`, until
//! `give_up_after_hours` after the mail was queued; a permanent refusal (5xx) fails it at once.
//! A mail is marked sent as soon as the SMTP server accepted it, so only a crash in that instant
//! can send it again, and then with the same Message-ID.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::templates::Templates;
use super::{EmailError, Mailer, NOT_CONFIGURED, Outgoing};
use crate::auth::tokens::link_token;
use crate::keys::Keys;
use crate::settings::EmailSettings;
use crate::store::outbox::{LinkKind, OutboxMail};
use crate::store::{Store, now};

/// The template of a purchased license's key mail: its `purchase` param names the purchase
/// whose key is derived when the mail is rendered.
pub const LICENSE_MAIL: &str = "license_purchased";

/// `<user id>.<keyed mac>`: stable per user, so every notice's link works, and checkable
/// without storing anything.
pub fn unsubscribe_token(keys: &Keys, user: &str) -> String {
    format!("{user}.{}", link_token(keys, LinkKind::Unsubscribe, user))
}

/// The user an unsubscribe token names, if the token is genuine.
pub fn unsubscribe_user(keys: &Keys, token: &str) -> Option<String> {
    let (user, _) = token.split_once('.')?;
    let expected = unsubscribe_token(keys, user);
    crate::auth::tokens::secure_eq(expected.as_bytes(), token.as_bytes()).then(|| user.to_string())
}

/// Mail taken from the queue per round.
const BATCH: u32 = 50;
/// The queue is looked at at least this often, whatever wakes the sender.
const IDLE_CHECK: Duration = Duration::from_secs(60);

/// The outbox's sending side, shared by handlers (to wake it after queueing) and its task.
pub struct Outbox {
    pub mailer: Mailer,
    templates: Templates,
    settings: EmailSettings,
    keys: Keys,
    public_url: String,
    wake: Notify,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("mailer", &self.mailer).finish_non_exhaustive()
    }
}

impl Outbox {
    pub fn new(settings: &EmailSettings, keys: Keys, public_url: String) -> Result<Self, EmailError> {
        Ok(Self {
            mailer: Mailer::new(settings)?,
            templates: Templates::new(),
            settings: settings.clone(),
            keys,
            public_url,
            wake: Notify::new(),
        })
    }

    /// Tells the sender new mail was queued (after the transaction committed).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The page a mail's single-use link opens: the token travels in the fragment, so it never
    /// reaches a server log or a `Referer` header.
    fn link(&self, template: &str, kind: LinkKind, id: &str) -> String {
        let path = match (kind, template) {
            (LinkKind::Invitation, _) => "/invitations/accept",
            (LinkKind::Unsubscribe, _) => "/unsubscribe",
            (LinkKind::Account, "reset_password") => "/reset-password",
            (LinkKind::Account, _) => "/verify-email",
        };
        format!("{}{path}#token={}", self.public_url.trim_end_matches('/'), link_token(&self.keys, kind, id))
    }

    /// The one-click unsubscribe page for `user`: the token names the user and proves the link
    /// came from this server (see [`unsubscribe_token`]).
    fn unsubscribe_link(&self, user: &str) -> String {
        format!("{}/unsubscribe#token={}", self.public_url.trim_end_matches('/'), unsubscribe_token(&self.keys, user))
    }

    /// Renders a queued mail as it goes out.
    pub fn render(&self, mail: &OutboxMail) -> Result<Outgoing, String> {
        let mut params = std::borrow::Cow::Borrowed(&mail.params);
        if mail.template == LICENSE_MAIL {
            // A purchased license's key is derived again here, never stored (see
            // `billing::purchase_key`); the row names only the purchase.
            let purchase = mail.params["purchase"].as_str().unwrap_or_default();
            let mut with_key = mail.params.clone();
            with_key["license_key"] = crate::billing::purchase_key(&self.keys, purchase).into();
            params = std::borrow::Cow::Owned(with_key);
        }
        let (link, unsubscribe) = match &mail.link {
            Some((LinkKind::Unsubscribe, user)) => (None, Some(self.unsubscribe_link(user))),
            Some((kind, id)) => (Some(self.link(&mail.template, *kind, id)), None),
            None => (None, None),
        };
        let r = self
            .templates
            .render(&mail.template, &params, &self.public_url, link.as_deref(), unsubscribe.as_deref())
            .map_err(|e| e.to_string())?;
        Ok(Outgoing { id: mail.id.clone(), to: mail.to.clone(), subject: r.subject, text: r.text, html: r.html })
    }

    /// When attempt number `attempts + 1` failed at `at`: the next try, or `None` to give up.
    fn retry_at(&self, mail: &OutboxMail, at: i64) -> Option<i64> {
        let s = &self.settings;
        let factor = 1u64.checked_shl(mail.attempts.min(40)).unwrap_or(u64::MAX);
        let delay = s.retry_initial_secs.max(1).saturating_mul(factor).min(s.retry_max_secs.max(1));
        let next = at.saturating_add(i64::try_from(delay).unwrap_or(i64::MAX));
        let give_up = mail.queued_at.saturating_add(i64::try_from(s.give_up_after_hours * 3600).unwrap_or(i64::MAX));
        (next <= give_up).then_some(next)
    }

    async fn deliver(&self, store: &Store, mail: OutboxMail) -> Result<(), crate::store::StoreError> {
        let outgoing = match self.render(&mail) {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(mail = %mail.id, error = %e, "cannot render a queued mail; marking it failed");
                return store.mail_attempt_failed(mail.id, e, None).await;
            }
        };
        match self.mailer.send(&outgoing).await {
            Ok(()) => {
                tracing::info!(mail = %mail.id, template = %mail.template, "mail sent");
                store.mail_sent(mail.id).await
            }
            Err(e) => {
                let permanent = matches!(e, EmailError::Smtp { permanent: true, .. } | EmailError::To(_));
                let retry = if permanent { None } else { self.retry_at(&mail, now()) };
                tracing::warn!(mail = %mail.id, error = %e, retry_at = ?retry, "mail not delivered");
                store.mail_attempt_failed(mail.id, e.to_string(), retry).await
            }
        }
    }

    /// Delivers the outbox until the task is aborted.
    pub async fn run(self: Arc<Self>, store: Store) {
        loop {
            let wait = match self.round(&store).await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::error!(error = %e, "the outbox cannot be read; trying again shortly");
                    Duration::from_secs(5)
                }
            };
            let _ = tokio::time::timeout(wait, self.wake.notified()).await;
        }
    }

    /// Sends what is due; returns how long to wait before the next round.
    async fn round(&self, store: &Store) -> Result<Duration, crate::store::StoreError> {
        if !self.mailer.configured() {
            store.mail_undeliverable(NOT_CONFIGURED.into()).await?;
            return Ok(IDLE_CHECK);
        }
        let due = store.mail_due(now(), BATCH).await?;
        let full = due.len() == BATCH as usize;
        for mail in due {
            self.deliver(store, mail).await?;
        }
        if full {
            return Ok(Duration::ZERO);
        }
        Ok(match store.next_mail_due().await? {
            Some(at) => Duration::from_secs(u64::try_from(at - now()).unwrap_or(0)).min(IDLE_CHECK),
            None => IDLE_CHECK,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::outbox::MailState;

    fn outbox(initial: u64, max: u64, hours: u64) -> Outbox {
        let settings = EmailSettings {
            retry_initial_secs: initial,
            retry_max_secs: max,
            give_up_after_hours: hours,
            ..Default::default()
        };
        Outbox::new(&settings, Keys::generate(), "https://sf.example.com".into()).expect("outbox")
    }

    fn mail(attempts: u32, queued_at: i64) -> OutboxMail {
        OutboxMail {
            id: "0190".into(),
            to: "a@example.com".into(),
            template: "reset_password".into(),
            params: serde_json::json!({"email": "a@example.com", "ttl": "1 hour"}),
            link: Some((LinkKind::Account, "tok-1".into())),
            state: MailState::Queued,
            attempts,
            next_attempt_at: queued_at,
            last_error: None,
            created_at: queued_at,
            queued_at,
            sent_at: None,
        }
    }

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap_then_give_up() {
        let o = outbox(60, 6 * 3600, 72);
        let t0 = 1_700_000_000;
        assert_eq!(o.retry_at(&mail(0, t0), t0), Some(t0 + 60));
        assert_eq!(o.retry_at(&mail(1, t0), t0), Some(t0 + 120));
        assert_eq!(o.retry_at(&mail(3, t0), t0), Some(t0 + 480));
        assert_eq!(o.retry_at(&mail(20, t0), t0), Some(t0 + 6 * 3600), "capped");
        let late = t0 + 72 * 3600 - 10;
        assert_eq!(o.retry_at(&mail(30, t0), late), None, "past the give-up time");
    }

    #[test]
    fn a_link_is_derived_not_stored_and_rides_in_the_fragment() {
        let o = outbox(60, 3600, 72);
        let out = o.render(&mail(0, 0)).expect("render");
        let token = link_token(&o.keys, LinkKind::Account, "tok-1");
        let url = format!("https://sf.example.com/reset-password#token={token}");
        assert!(out.text.contains(&url), "{}", out.text);
        assert_eq!(o.render(&mail(0, 0)).expect("again").text, out.text, "the same link on every attempt");
        assert_ne!(token, link_token(&Keys::generate(), LinkKind::Account, "tok-1"), "keyed by the server");
    }
}
