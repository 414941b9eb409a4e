//! The `[email]` and `[accounts]` tables: how mail leaves the server, and who may join it.

use serde::{Deserialize, Serialize};

/// How mail is sent. `Debug` hides the password an SMTP URL may carry.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailSettings {
    /// `smtp://host:25` (plain, for a local relay), `smtp://host:587?tls=required` (STARTTLS)
    /// or `smtps://host:465` (implicit TLS), optionally with `user:password@`. Empty: nothing is
    /// sent; mail waits in the outbox and administrators see it as undeliverable.
    pub smtp_url: String,
    /// The sender, as `Name <address>` or a bare address.
    pub from: String,
    /// Where replies go; empty for none.
    pub reply_to: String,
    /// First retry after this many seconds; each further one waits twice as long…
    pub retry_initial_secs: u64,
    /// …but never longer than this.
    pub retry_max_secs: u64,
    /// A message still undelivered this many hours after it was queued is marked failed.
    pub give_up_after_hours: u64,
    /// One SMTP conversation may take this long.
    pub timeout_secs: u64,
    /// Session notices to one person about one session are gathered this long into one mail.
    pub notify_batch_secs: u64,
}

impl Default for EmailSettings {
    fn default() -> Self {
        Self {
            smtp_url: String::new(),
            from: "SessionForge <sessionforge@localhost>".into(),
            reply_to: String::new(),
            retry_initial_secs: 60,
            retry_max_secs: 6 * 3600,
            give_up_after_hours: 72,
            timeout_secs: 30,
            notify_batch_secs: 300,
        }
    }
}

impl std::fmt::Debug for EmailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSettings")
            .field("smtp_url", &redact_url_password(&self.smtp_url))
            .field("from", &self.from)
            .field("reply_to", &self.reply_to)
            .field("retry_initial_secs", &self.retry_initial_secs)
            .field("retry_max_secs", &self.retry_max_secs)
            .field("give_up_after_hours", &self.give_up_after_hours)
            .field("timeout_secs", &self.timeout_secs)
            .field("notify_batch_secs", &self.notify_batch_secs)
            .finish()
    }
}

/// `scheme://user:secret@host` becomes `scheme://user:<redacted>@host`.
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let Some((userinfo, host)) = rest.rsplit_once('@') else { return url.to_string() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:<redacted>@{host}"),
        None => url.to_string(),
    }
}

/// Who may create an account by themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signup {
    /// Anyone with an email address.
    Open,
    /// Only someone holding an invitation (the default for a self-hosted server).
    InviteOnly,
    /// Nobody: administrators create accounts.
    Closed,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountSettings {
    pub signup: Signup,
    /// Seats a new team org gets (members plus pending invitations); 0 means unlimited.
    pub default_seat_limit: u32,
    pub verify_ttl_hours: u64,
    pub reset_ttl_minutes: u64,
    pub invitation_ttl_days: u64,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            signup: Signup::InviteOnly,
            default_seat_limit: 0,
            verify_ttl_hours: 24,
            reset_ttl_minutes: 60,
            invitation_ttl_days: 7,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_smtp_password() {
        let s = EmailSettings { smtp_url: "smtps://mailer:hunter2@mail.example.com:465".into(), ..Default::default() };
        let debug = format!("{s:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("smtps://mailer:<redacted>@mail.example.com:465"), "{debug}");
        assert_eq!(redact_url_password("smtp://localhost:25"), "smtp://localhost:25");
    }
}
