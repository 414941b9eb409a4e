//! The email templates (`server/templates/email/`), compiled into the binary and rendered with
//! minijinja: a plain-text part whose first line is `Subject: …`, and an HTML part that extends
//! `_layout.html` (escaped automatically). Every mail gets the product name, the server's URL
//! and a footer saying why the recipient got it.

use minijinja::{Environment, context};
use serde_json::Value;

/// The name every mail uses for the product.
pub const PRODUCT: &str = "SessionForge";

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/email/", $name)))),*]
    };
}

const FILES: &[(&str, &str)] = templates![
    "_layout.html",
    "_footer.txt",
    "verify_email.txt",
    "verify_email.html",
    "reset_password.txt",
    "reset_password.html",
    "change_email_verify.txt",
    "change_email_verify.html",
    "change_email_notice.txt",
    "change_email_notice.html",
    "invitation.txt",
    "invitation.html",
    "test.txt",
    "test.html",
    "session_notice.txt",
    "session_notice.html",
    "license_purchased.txt",
    "license_purchased.html",
    "payment_failed.txt",
    "payment_failed.html",
    "trial_ending.txt",
    "trial_ending.html",
    "trial_ended.txt",
    "trial_ended.html",
];

/// Every mail the server sends, by template name, with why its recipient gets it.
pub const MAILS: &[(&str, &str)] = &[
    ("verify_email", "You got this email because someone signed up with this address."),
    ("reset_password", "You got this email because someone asked to reset the password of this account."),
    ("change_email_verify", "You got this email because someone asked to move an account to this address."),
    ("change_email_notice", "You got this email because it is the current address of the account."),
    ("invitation", "You got this email because a member of the org invited this address."),
    ("test", "You got this email because an administrator sent a test email to this address."),
    ("session_notice", "You got this email because you asked to be told about these sessions."),
    ("license_purchased", "You got this email because this address bought a license."),
    ("payment_failed", "You got this email because you own an org whose subscription payment failed."),
    ("trial_ending", "You got this email because you own an org whose trial ends soon."),
    ("trial_ended", "You got this email because you own an org whose trial ended."),
];

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("no email template named {0:?}")]
    Unknown(String),
    #[error("email template {name}: {source}")]
    Render { name: String, source: minijinja::Error },
    #[error("email template {0} has no `Subject:` first line")]
    NoSubject(String),
}

/// A rendered mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct Templates {
    env: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").field("count", &FILES.len()).finish()
    }
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, source) in FILES {
            // The files are part of the binary and a test renders every one, so a syntax error
            // cannot reach a running server; keep going without it if it somehow does.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "email template does not compile");
            }
        }
        Self { env }
    }

    /// Renders mail `name` for `public_url` with `params`; `link` is the mail's single-use link
    /// and `unsubscribe` its one-click unsubscribe link, when it has them.
    pub fn render(
        &self,
        name: &str,
        params: &Value,
        public_url: &str,
        link: Option<&str>,
        unsubscribe: Option<&str>,
    ) -> Result<Rendered, TemplateError> {
        let reason = MAILS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, why)| *why)
            .ok_or_else(|| TemplateError::Unknown(name.to_string()))?;
        let base = context! {
            product => PRODUCT,
            public_url => public_url,
            link => link,
            unsubscribe => unsubscribe,
            reason => reason,
        };
        let ctx = context! { ..base, ..minijinja::Value::from(minijinja::value::Serde(params)) };
        let render = |file: String| -> Result<String, TemplateError> {
            let t =
                self.env.get_template(&file).map_err(|e| TemplateError::Render { name: file.clone(), source: e })?;
            t.render(&ctx).map_err(|source| TemplateError::Render { name: file, source })
        };
        let text = render(format!("{name}.txt"))?;
        let (first, body) = text.split_once('\n').unwrap_or((&text, ""));
        let subject = first.strip_prefix("Subject:").ok_or_else(|| TemplateError::NoSubject(name.to_string()))?;
        let subject = subject.trim().to_string();
        let html = self
            .env
            .get_template(&format!("{name}.html"))
            .and_then(|t| t.render(context! { subject => &subject, ..ctx.clone() }))
            .map_err(|source| TemplateError::Render { name: format!("{name}.html"), source })?;
        Ok(Rendered { subject, text: body.trim_start_matches('\n').to_string(), html })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sample(name: &str) -> Value {
        json!({
            "name": "Ada <script>", "email": "ada@example.com", "old_email": "old@example.com", "ttl": "24 hours",
            "inviter": "Grace", "org": "R&D <team>", "role": "member", "_for": name,
            "command": "claude", "machine": "laptop", "what": "finished", "count": 2,
            "session_url": "https://sf.example.com/orgs/o/sessions/s",
            "license_key": "SF-AAAAA-BBBBB-CCCCC-DDDDD", "plan": "pro", "license_id": "l-1", "max_activations": 1,
            "expires_at": "2027-12-06T00:00:00Z", "grace_until": null, "grace_days": 7, "trial_end": null, "paid": false,
        })
    }

    #[test]
    fn every_mail_renders_both_parts_with_subject_link_and_footer() {
        let t = Templates::new();
        for (name, reason) in MAILS {
            let link = "https://sf.example.com/verify?token=abc";
            let mut r = t.render(name, &sample(name), "https://sf.example.com", Some(link), None).expect(name);
            // minijinja escapes `/` in HTML; mail clients read the entity as the character.
            r.html = r.html.replace("&#x2f;", "/");
            assert!(!r.subject.is_empty() && !r.subject.contains('\n'), "{name}: {r:?}");
            assert!(r.text.contains(reason) && r.html.contains(reason), "{name}: footer");
            assert!(r.text.contains("https://sf.example.com") && r.html.contains("https://sf.example.com"));
            if ["verify_email", "reset_password", "change_email_verify", "invitation"].contains(name) {
                assert!(r.text.contains(link) && r.html.contains(link), "{name}: the link");
            }
            assert!(!r.html.contains("<script>") && !r.html.contains("R&D <team>"), "{name}: HTML is escaped");
        }
    }

    #[test]
    fn an_unknown_template_or_a_missing_value_is_an_error() {
        let t = Templates::new();
        assert!(matches!(t.render("nope", &json!({}), "https://x", None, None), Err(TemplateError::Unknown(_))));
        assert!(matches!(
            t.render("invitation", &json!({}), "https://x", Some("https://x/i"), None),
            Err(TemplateError::Render { .. })
        ));
    }
}
