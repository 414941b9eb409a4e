//! Email: the SMTP transport (lettre), the templates, and the sender that delivers the outbox
//! (see [`crate::store::outbox`]) with retries.

pub mod notify;
pub mod sender;
pub mod templates;

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::settings::{EmailSettings, redact_url_password};

pub use sender::Outbox;

#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("email.from {0:?} is not an email address (write `Name <address>` or `address`)")]
    From(String),
    #[error("email.reply_to {0:?} is not an email address")]
    ReplyTo(String),
    #[error("email.smtp_url {url}: {reason}")]
    SmtpUrl { url: String, reason: String },
    #[error("{0:?} is not an email address")]
    To(String),
    #[error("cannot build the message: {0}")]
    Build(String),
    /// The SMTP server refused or could not be reached; `permanent` when it said never to retry.
    #[error("{message}")]
    Smtp { message: String, permanent: bool },
}

/// A message ready to send: rendered, addressed, with its stable Message-ID.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub id: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Sends mail over SMTP. Without `email.smtp_url` it holds no transport and sends nothing.
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    /// The domain part of Message-IDs.
    id_domain: String,
    /// For logs and the admin view: the URL without its password.
    pub describe: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("smtp", &self.describe).field("from", &self.from.to_string()).finish()
    }
}

impl Mailer {
    pub fn new(settings: &EmailSettings) -> Result<Self, EmailError> {
        let from: Mailbox = settings.from.parse().map_err(|_| EmailError::From(settings.from.clone()))?;
        let reply_to = match settings.reply_to.trim() {
            "" => None,
            r => Some(r.parse().map_err(|_| EmailError::ReplyTo(settings.reply_to.clone()))?),
        };
        let url = settings.smtp_url.trim();
        let transport = if url.is_empty() {
            None
        } else {
            let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                .map_err(|e| EmailError::SmtpUrl { url: redact_url_password(url), reason: e.to_string() })?;
            Some(builder.timeout(Some(Duration::from_secs(settings.timeout_secs.max(1)))).build())
        };
        let describe = if url.is_empty() { String::new() } else { redact_url_password(url) };
        Ok(Self { transport, id_domain: from.email.domain().to_string(), from, reply_to, describe })
    }

    /// Whether mail can leave the server at all.
    pub fn configured(&self) -> bool {
        self.transport.is_some()
    }

    /// The Message-ID of outbox row `id`: the same on every attempt, so that a mail sent again
    /// after a crash (accepted, but not yet marked sent) is recognisable as the same mail.
    pub fn message_id(&self, id: &str) -> String {
        format!("<{id}@{}>", self.id_domain)
    }

    /// Builds the message (also without a transport, to check it can be built).
    pub fn build(&self, mail: &Outgoing) -> Result<Message, EmailError> {
        let to: Mailbox = mail.to.parse().map_err(|_| EmailError::To(mail.to.clone()))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .message_id(Some(self.message_id(&mail.id)));
        if let Some(r) = &self.reply_to {
            builder = builder.reply_to(r.clone());
        }
        builder
            .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
            .map_err(|e| EmailError::Build(e.to_string()))
    }

    /// Hands the mail to the SMTP server; `Ok` once it accepted it.
    pub async fn send(&self, mail: &Outgoing) -> Result<(), EmailError> {
        let Some(transport) = &self.transport else {
            return Err(EmailError::Smtp { message: NOT_CONFIGURED.into(), permanent: false });
        };
        let message = self.build(mail)?;
        transport.send(message).await.map(|_| ()).map_err(|e| EmailError::Smtp {
            permanent: e.is_permanent(),
            message: format!("the SMTP server ({}) said: {e}", self.describe),
        })
    }
}

/// Why queued mail is not sent when no SMTP server is configured.
pub const NOT_CONFIGURED: &str = "no SMTP server is configured (set email.smtp_url); the mail waits in the outbox";
