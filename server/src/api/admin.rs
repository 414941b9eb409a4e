//! Server administration: accounts (create, disable), org seats, and the email outbox. Needs a server administrator with a browser
//! sign-in or an `admin`-scoped key.

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::body::JsonBody;
use poem_openapi::param::{Path, Query};
use sessionforge_shared::ids::{OrgId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use super::dto::{UserDto, ts};
use super::fields::{Email, Label, NewPassword};
use super::{ApiTags, validate};
use crate::auth::password;
use crate::auth::principal::Auth;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::outbox::{MailState, OutboxMail};
use crate::store::users::NewUser;

pub struct AdminApi;

#[derive(Object)]
pub struct CreateUser {
    pub email: Email,
    pub password: NewPassword,
    /// The name other members see; empty or absent for none.
    pub display_name: Option<Label>,
    /// Make the new account a server administrator too.
    #[oai(default)]
    pub is_admin: bool,
}

#[derive(ApiResponse)]
pub enum UserCreated {
    /// Created, together with the user's personal org.
    #[oai(status = 201)]
    Created(Json<UserDto>),
}

#[OpenApi(prefix_path = "/api/v1/admin", tag = "ApiTags::Admin")]
impl AdminApi {
    /// Every account on this server, disabled ones included.
    #[oai(path = "/users", method = "get")]
    async fn users(&self, state: Data<&AppState>, auth: Auth) -> Result<Json<Vec<AdminUserDto>>, ApiError> {
        auth.require_server_admin()?;
        let users = state.store.all_users().await?;
        Ok(Json(users.into_iter().map(|(u, d)| AdminUserDto { user: u.into(), disabled_at: d.map(ts) }).collect()))
    }

    /// Create an account (and its personal org).
    #[oai(path = "/users", method = "post")]
    async fn create_user(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: JsonBody<CreateUser>,
    ) -> Result<UserCreated, ApiError> {
        auth.require_server_admin()?;
        let email = validate::email(&body.email)?;
        let display_name = validate::display_name(body.display_name.as_deref())?;
        validate::password_policy(&body.password)?;
        let password_hash = password::hash(body.password.0.clone())
            .await
            .map_err(|e| ApiError::bad_request("WEAK_PASSWORD", e.to_string()))?;
        let (user, _) = state
            .store
            .create_user(NewUser { email, display_name, password_hash, is_admin: body.is_admin, email_verified: true })
            .await?;
        tracing::info!(by = %auth.user.id, user = %user.id, "user created");
        state.store.audit(auth.audit("user.created").target("user", user.id)).await?;
        Ok(UserCreated::Created(Json(user.into())))
    }
}

#[derive(Object)]
pub struct AdminUserDto {
    pub user: UserDto,
    /// When it was disabled; absent while enabled.
    #[oai(skip_serializing_if_is_none)]
    pub disabled_at: Option<OffsetDateTime>,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct OutboxMailDto {
    /// Also the mail's Message-ID (before the `@`).
    pub id: String,
    pub to: String,
    pub template: String,
    /// `queued`, `sent` or `failed`.
    pub state: String,
    pub attempts: u32,
    /// Why the last attempt failed (or why nothing can be sent), if it did.
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub sent_at: Option<OffsetDateTime>,
}

impl From<OutboxMail> for OutboxMailDto {
    fn from(m: OutboxMail) -> Self {
        let queued = m.state == MailState::Queued;
        Self {
            id: m.id,
            to: m.to,
            template: m.template,
            state: m.state.as_str().into(),
            attempts: m.attempts,
            last_error: m.last_error,
            created_at: ts(m.created_at),
            next_attempt_at: queued.then(|| ts(m.next_attempt_at)),
            sent_at: m.sent_at.map(ts),
        }
    }
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Outbox {
    /// Whether an SMTP server is configured (`email.smtp_url`); without one nothing is sent.
    pub smtp_configured: bool,
    /// The SMTP server, without its password.
    pub smtp: String,
    /// Newest first.
    pub mail: Vec<OutboxMailDto>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_before: Option<String>,
}

#[derive(Object)]
pub struct SeatLimit {
    /// Seats (members plus pending invitations); 0 for unlimited.
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000")))]
    pub seat_limit: u32,
}

#[derive(ApiResponse)]
pub enum SeatLimitSet {
    #[oai(status = 204)]
    NoContent,
}

const OUTBOX_PAGE: u32 = 100;

/// A mail's state in the outbox.
#[derive(poem_openapi::Enum, Clone, Copy)]
#[oai(rename_all = "lowercase")]
pub enum MailStateParam {
    Queued,
    Sent,
    Failed,
}

#[OpenApi(prefix_path = "/api/v1/admin", tag = "ApiTags::Admin")]
impl AdminPeopleApi {
    /// The email outbox: queued, sent and failed mail, with the last error.
    #[oai(path = "/outbox", method = "get")]
    async fn outbox(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        /// Only mail in this state.
        mail_state: Query<Option<MailStateParam>>,
        /// Cursor: the `next_before` of the previous page.
        before: Query<Option<String>>,
    ) -> Result<Json<Outbox>, ApiError> {
        auth.require_server_admin()?;
        let filter = mail_state.0.map(|s| match s {
            MailStateParam::Queued => MailState::Queued,
            MailStateParam::Sent => MailState::Sent,
            MailStateParam::Failed => MailState::Failed,
        });
        let mail = state.store.outbox(filter, before.0.clone(), OUTBOX_PAGE).await?;
        let next_before = (mail.len() == OUTBOX_PAGE as usize).then(|| mail.last().map(|m| m.id.clone())).flatten();
        let mailer = &state.outbox.mailer;
        Ok(Json(Outbox {
            smtp_configured: mailer.configured(),
            smtp: mailer.describe.clone(),
            mail: mail.into_iter().map(Into::into).collect(),
            next_before,
        }))
    }

    /// Send a failed mail again, now (it gets the full retry time again).
    #[oai(path = "/outbox/:id/retry", method = "post")]
    async fn retry(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> Result<Json<OutboxMailDto>, ApiError> {
        auth.require_server_admin()?;
        let mail = state.store.retry_mail(id.0.to_string()).await?;
        state.store.audit(auth.audit("mail.retried").target("mail", id.0)).await?;
        state.outbox.wake();
        Ok(Json(mail.into()))
    }

    /// Disable an account: its sign-ins end, its API keys are revoked, its open connections
    /// close. Its data stays; enable it again with `/enable`.
    #[oai(path = "/users/:id/disable", method = "post")]
    async fn disable(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> Result<Json<UserDto>, ApiError> {
        auth.require_server_admin()?;
        let target = UserId(id.0);
        if target == auth.user.id {
            return Err(ApiError::conflict("SELF", "you cannot disable your own account"));
        }
        let user = state.store.set_user_disabled(target, true, auth.audit("user.disabled")).await?;
        state.access.revoke_user(target);
        Ok(Json(user.into()))
    }

    /// Enable a disabled account again (it signs in anew; its revoked keys stay revoked).
    #[oai(path = "/users/:id/enable", method = "post")]
    async fn enable(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> Result<Json<UserDto>, ApiError> {
        auth.require_server_admin()?;
        let user = state.store.set_user_disabled(UserId(id.0), false, auth.audit("user.enabled")).await?;
        Ok(Json(user.into()))
    }

    /// Set an org's seat limit (members plus pending invitations). Lowering it below the seats
    /// in use removes nobody; new invitations wait until seats are free.
    #[oai(path = "/orgs/:org_id/seats", method = "put")]
    async fn seats(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        body: JsonBody<SeatLimit>,
    ) -> Result<SeatLimitSet, ApiError> {
        auth.require_server_admin()?;
        let limit = (body.seat_limit > 0).then_some(body.seat_limit);
        state.store.set_seat_limit(OrgId(org_id.0), limit, auth.audit("org.seats_changed")).await?;
        Ok(SeatLimitSet::NoContent)
    }
}

pub struct AdminPeopleApi;
