//! Accounts people make and fix themselves: sign-up (governed by `accounts.signup`), confirming
//! an address, a forgotten password, and a change of address. Every link is mailed through the
//! outbox, works once, expires, and is stored only as a keyed hash.

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::auth::{SignInResponse, sign_in};
use super::body::JsonBody;
use super::dto::UserDto;
use super::fields::{Email, Label, NewPassword};
use super::links::{hash_of, new_link, ttl_words};
use super::{ApiTags, validate};
use crate::auth::password;
use crate::auth::principal::{Auth, Via};
use crate::error::ApiError;
use crate::http::middleware::client_ip;
use crate::settings::Signup;
use crate::state::AppState;
use crate::store::account_links::link_mail;
use crate::store::audit::{Actor, AuditEntry};
use crate::store::outbox::{LinkKind, NewMail};
use crate::store::users::NewUser;

pub struct SignupApi;

#[derive(Object)]
pub struct SignupRequest {
    pub email: Email,
    pub password: NewPassword,
    /// The name other members see; empty or absent for none.
    pub display_name: Option<Label>,
}

#[derive(Object)]
pub struct LinkToken {
    /// The token from the mailed link (the part after `#token=`).
    pub token: String,
}

#[derive(Object)]
pub struct ForgotPassword {
    pub email: Email,
}

#[derive(Object)]
pub struct ResetPassword {
    /// The token from the mailed link (the part after `#token=`).
    pub token: String,
    pub new_password: NewPassword,
}

#[derive(Object)]
pub struct ChangeEmail {
    pub new_email: Email,
    /// Your current password, to show it is you.
    pub password: String,
}

#[derive(Object)]
pub struct MailQueued {
    /// What happens next, for people.
    pub message: String,
}

#[derive(ApiResponse)]
pub enum Accepted {
    /// Accepted; mail is on its way (see `message`).
    #[oai(status = 202)]
    Accepted(Json<MailQueued>),
}

#[derive(ApiResponse)]
pub enum Done {
    #[oai(status = 204)]
    NoContent,
}

fn accepted(message: impl Into<String>) -> Accepted {
    Accepted::Accepted(Json(MailQueued { message: message.into() }))
}

/// Refuses what needs mail on a server that cannot send any.
fn require_mail(state: &AppState) -> Result<(), ApiError> {
    if state.outbox.mailer.configured() {
        Ok(())
    } else {
        Err(ApiError::unavailable(
            "this server cannot send email yet (no SMTP server is configured), so it cannot mail the link; \
             ask an administrator",
        ))
    }
}

#[OpenApi(prefix_path = "/api/v1/auth", tag = "ApiTags::Auth")]
impl SignupApi {
    /// Create an account (when `accounts.signup` is `open`) and sign in. The address must be
    /// confirmed through the mailed link before the account can do more than that.
    #[oai(path = "/signup", method = "post")]
    async fn signup(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<SignupRequest>,
    ) -> Result<SignInResponse, ApiError> {
        match state.settings.accounts.signup {
            Signup::Open => {}
            Signup::InviteOnly => {
                return Err(ApiError::forbidden(
                    "SIGNUP_INVITE_ONLY",
                    "this server takes new accounts by invitation: open the link in your invitation email",
                ));
            }
            Signup::Closed => {
                return Err(ApiError::forbidden(
                    "SIGNUP_CLOSED",
                    "this server does not take sign-ups; ask an administrator",
                ));
            }
        }
        let ip = client_ip(req, state.settings.proxy_hops());
        let email = validate::email(&body.email)?;
        state.limits.mail_link(ip, &email)?;
        require_mail(&state)?;
        let display_name = validate::display_name(body.display_name.as_deref())?;
        validate::password_policy(&body.password)?;
        let password_hash = password::hash(body.password.0.clone())
            .await
            .map_err(|e| ApiError::bad_request("WEAK_PASSWORD", e.to_string()))?;
        let ttl = state.settings.accounts.verify_ttl_hours.saturating_mul(3600);
        let link = new_link(&state, LinkKind::Account, ttl);
        let params = serde_json::json!({"name": display_name, "email": email, "ttl": ttl_words(ttl)});
        let mail = link_mail(&email, "verify_email", &link, params);
        let audit = AuditEntry::new(Actor::Anonymous { label: email.clone() }, Some(ip.to_string()), "user.signed_up");
        let new = NewUser { email, display_name, password_hash, is_admin: false, email_verified: false };
        let (user, _) = state.store.sign_up(new, link, mail, audit).await.map_err(|e| match e {
            crate::store::StoreError::Conflict(_) => {
                ApiError::conflict("EMAIL_TAKEN", "an account with this email exists: sign in, or reset its password")
            }
            other => other.into(),
        })?;
        state.outbox.wake();
        let (signed_in, cookie) = sign_in(&state, user, req).await?;
        Ok(SignInResponse::Created(Json(signed_in), cookie))
    }

    /// Confirm an address with the token of a mailed link (after sign-up or a change of
    /// address). Works once.
    #[oai(path = "/verify-email", method = "post")]
    async fn verify_email(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<LinkToken>,
    ) -> Result<Json<UserDto>, ApiError> {
        let ip = client_ip(req, state.settings.proxy_hops());
        let audit =
            AuditEntry::new(Actor::Anonymous { label: String::new() }, Some(ip.to_string()), "user.email_verified");
        let user = state.store.confirm_email(hash_of(&state, &body.token), audit).await?;
        Ok(Json(user.into()))
    }

    /// Mail the confirmation link again (older links stop working).
    #[oai(path = "/verify-email/resend", method = "post")]
    async fn resend(&self, state: Data<&AppState>, auth: Auth, req: &Request) -> Result<Accepted, ApiError> {
        state.limits.mail_link(client_ip(req, state.settings.proxy_hops()), &auth.user.email)?;
        require_mail(&state)?;
        let ttl = state.settings.accounts.verify_ttl_hours.saturating_mul(3600);
        let link = new_link(&state, LinkKind::Account, ttl);
        let u = &auth.user;
        let params = serde_json::json!({"name": u.display_name, "email": u.email, "ttl": ttl_words(ttl)});
        let mail = link_mail(&u.email, "verify_email", &link, params);
        state.store.resend_verification(u.id, link, mail).await?;
        state.outbox.wake();
        Ok(accepted(format!("a new link is on its way to {}", u.email)))
    }

    /// Ask for a password-reset link. The answer (and how long it takes) is the same whether
    /// or not an account has the address.
    #[oai(path = "/password/forgot", method = "post")]
    async fn forgot(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<ForgotPassword>,
    ) -> Result<Accepted, ApiError> {
        let email = validate::email(&body.email)?;
        state.limits.mail_link(client_ip(req, state.settings.proxy_hops()), &email)?;
        require_mail(&state)?;
        let ttl = state.settings.accounts.reset_ttl_minutes.saturating_mul(60);
        let link = new_link(&state, LinkKind::Account, ttl);
        let state = state.clone();
        // The work happens after the answer, so its duration says nothing about the account.
        tokio::spawn(async move {
            let id = link.id.clone();
            let mail = move |u: &crate::store::users::User| NewMail {
                to: u.email.clone(),
                template: "reset_password",
                params: serde_json::json!({"email": u.email, "ttl": ttl_words(ttl)}),
                link: Some((LinkKind::Account, id)),
            };
            match state.store.request_password_reset(email, link, mail).await {
                Ok(true) => state.outbox.wake(),
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "cannot queue a password reset"),
            }
        });
        Ok(accepted("if an account has this address, a link to reset its password is on its way"))
    }

    /// Set a new password with the token of a reset link. Every browser sign-in of the account
    /// ends; sign in again with the new password.
    #[oai(path = "/password/reset", method = "post")]
    async fn reset(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<ResetPassword>,
    ) -> Result<Done, ApiError> {
        validate::password_policy(&body.new_password)?;
        let hash = password::hash(body.new_password.0.clone())
            .await
            .map_err(|e| ApiError::bad_request("WEAK_PASSWORD", e.to_string()))?;
        let ip = client_ip(req, state.settings.proxy_hops());
        let audit =
            AuditEntry::new(Actor::Anonymous { label: String::new() }, Some(ip.to_string()), "user.password_reset");
        let user = state.store.reset_password(hash_of(&state, &body.token), hash, audit).await?;
        state.access.revoke_logins_of(user.id);
        Ok(Done::NoContent)
    }

    /// Move your account to another address: a confirmation link goes to the new address and
    /// a notice to the current one. The account keeps its address until the link is used.
    #[oai(path = "/email", method = "put")]
    async fn change_email(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        req: &Request,
        body: JsonBody<ChangeEmail>,
    ) -> Result<Accepted, ApiError> {
        if !matches!(auth.via, Via::Session { .. }) {
            return Err(ApiError::forbidden("SESSION_REQUIRED", "change your address from a browser sign-in"));
        }
        let ip = client_ip(req, state.settings.proxy_hops());
        let new_email = validate::email(&body.new_email)?;
        state.limits.login(ip, &auth.user.email)?;
        state.limits.mail_link(ip, &new_email)?;
        require_mail(&state)?;
        let current = state.store.password_hash(auth.user.id).await?;
        if !password::verify(body.password.clone(), Some(current)).await {
            state.limits.login_failed(ip, &auth.user.email);
            return Err(ApiError::forbidden("WRONG_PASSWORD", "the password is wrong"));
        }
        let ttl = state.settings.accounts.verify_ttl_hours.saturating_mul(3600);
        let link = new_link(&state, LinkKind::Account, ttl);
        let params = serde_json::json!({"email": new_email, "old_email": auth.user.email, "ttl": ttl_words(ttl)});
        let verify = link_mail(&new_email, "change_email_verify", &link, params.clone());
        let notice = NewMail { to: auth.user.email.clone(), template: "change_email_notice", params, link: None };
        state.store.request_email_change(auth.user.id, new_email.clone(), link, vec![verify, notice]).await?;
        state.outbox.wake();
        Ok(accepted(format!("confirm the new address with the link sent to {new_email}")))
    }
}
