//! Invitations: how people join an org. Admins invite an address with a role (taking a seat);
//! the mailed link works once, for 7 days by default, and is stored only as a keyed hash. The
//! invited person accepts with their account or by creating one. Managing invitations needs the
//! admin role and, with an API key, the `admin` scope.

use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use sessionforge_shared::roles::Role;
use time::OffsetDateTime;
use uuid::Uuid;

use super::auth::{SignInResponse, sign_in};
use super::body::JsonBody;
use super::dto::ts;
use super::fields::{Email, Label, NewPassword};
use super::links::{hash_of, new_link, ttl_words};
use super::orgs::{require_role, scope};
use super::{ApiTags, validate};
use crate::auth::password;
use crate::auth::principal::Auth;
use crate::auth::tokens::link_token;
use crate::error::ApiError;
use crate::http::middleware::client_ip;
use crate::state::AppState;
use crate::store::api_keys::Scope;
use crate::store::audit::{Actor, AuditEntry};
use crate::store::invitations::Invitation;
use crate::store::now;
use crate::store::orgs::OrgScope;
use crate::store::outbox::{LinkKind, NewMail};
use crate::store::users::NewUser;

pub struct InvitationsApi;

#[derive(Object)]
pub struct CreateInvitation {
    pub email: Email,
    /// Make someone owner after they joined.
    pub role: InviteRole,
}

/// The roles an invitation can carry.
#[derive(poem_openapi::Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum InviteRole {
    Admin,
    Member,
    Viewer,
}

impl From<InviteRole> for Role {
    fn from(r: InviteRole) -> Self {
        match r {
            InviteRole::Admin => Role::Admin,
            InviteRole::Member => Role::Member,
            InviteRole::Viewer => Role::Viewer,
        }
    }
}

#[derive(Object, Debug, Clone)]
pub struct InvitationDto {
    pub id: Uuid,
    pub org_id: Uuid,
    pub org_name: String,
    pub email: String,
    pub role: Role,
    /// Who invited (empty once that account is gone).
    pub invited_by: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// `pending`, `expired`, `accepted` or `revoked`.
    pub state: String,
}

impl From<Invitation> for InvitationDto {
    fn from(i: Invitation) -> Self {
        Self {
            id: i.id.parse().unwrap_or_default(),
            org_id: i.org_id.0,
            org_name: i.org_name,
            email: i.email,
            role: i.role,
            invited_by: i.invited_by,
            created_at: ts(i.created_at),
            expires_at: ts(i.expires_at),
            state: i.state.as_str().into(),
        }
    }
}

#[derive(Object)]
pub struct InvitationCreated {
    pub invitation: InvitationDto,
    /// The link the invited person opens, shown this once (it is also mailed): handy to pass on
    /// another way when this server cannot send mail.
    pub accept_url: String,
    /// Whether the invitation mail could be queued for an SMTP server (false: none configured).
    pub mailed: bool,
}

#[derive(ApiResponse)]
pub enum Created {
    #[oai(status = 201)]
    Created(Json<InvitationCreated>),
}

#[derive(ApiResponse)]
pub enum Revoked {
    #[oai(status = 204)]
    NoContent,
}

#[derive(Object)]
pub struct InvitationToken {
    /// The token from the invitation link (the part after `#token=`).
    pub token: String,
}

#[derive(Object)]
pub struct AcceptAsNew {
    /// The token from the invitation link (the part after `#token=`).
    pub token: String,
    pub password: NewPassword,
    /// The name other members see; empty or absent for none.
    pub display_name: Option<Label>,
}

/// Fails unless the caller may manage the org's people: admin role, and `admin` scope for keys.
fn require_people_admin(auth: &Auth, scope: &OrgScope) -> Result<(), ApiError> {
    require_role(scope, Role::Admin)?;
    auth.require(Scope::Admin)
}

fn invitation_mail(state: &AppState, inv: &Invitation, inviter: &str) -> NewMail {
    let ttl = state.settings.accounts.invitation_ttl_days.saturating_mul(86_400);
    NewMail {
        to: inv.email.clone(),
        template: "invitation",
        params: serde_json::json!({
            "inviter": inviter, "org": inv.org_name, "role": inv.role.as_str(), "ttl": ttl_words(ttl),
        }),
        link: Some((LinkKind::Invitation, inv.id.clone())),
    }
}

fn inviter_name(auth: &Auth) -> String {
    if auth.user.display_name.is_empty() { auth.user.email.clone() } else { auth.user.display_name.clone() }
}

#[OpenApi(tag = "ApiTags::Orgs")]
impl InvitationsApi {
    /// Invite an address to the org with a role. It takes a seat until accepted, revoked or
    /// expired. Admins and owners, with an `admin`-scoped key.
    #[oai(path = "/api/v1/orgs/:org_id/invitations", method = "post")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        body: JsonBody<CreateInvitation>,
    ) -> Result<Created, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        require_people_admin(&auth, &scope)?;
        let role = Role::from(body.role);
        let email = validate::email(&body.email)?;
        let ttl = state.settings.accounts.invitation_ttl_days.saturating_mul(86_400);
        let link = new_link(&state, LinkKind::Invitation, ttl);
        let token = link_token(&state.keys, LinkKind::Invitation, &link.id);
        let org = state.store.org(&scope).await?;
        let pending = Invitation {
            id: link.id.clone(),
            org_id: scope.org_id(),
            org_name: org.name,
            email: email.clone(),
            role,
            invited_by: auth.user.email.clone(),
            created_at: now(),
            expires_at: link.expires_at,
            state: crate::store::invitations::InvitationState::Pending,
        };
        let mail = invitation_mail(&state, &pending, &inviter_name(&auth));
        let audit = auth.audit("invitation.created");
        let inv = state.store.invite(&scope, email, role, link, mail, audit).await?;
        state.outbox.wake();
        let accept_url = format!("{}/invitations/accept#token={token}", state.public_url.trim_end_matches('/'));
        let mailed = state.outbox.mailer.configured();
        Ok(Created::Created(Json(InvitationCreated { invitation: inv.into(), accept_url, mailed })))
    }

    /// The org's invitations, newest first. Admins and owners.
    #[oai(path = "/api/v1/orgs/:org_id/invitations", method = "get")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
    ) -> Result<Json<Vec<InvitationDto>>, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        require_role(&scope, Role::Admin)?;
        let list = state.store.invitations(&scope).await?;
        Ok(Json(list.into_iter().map(Into::into).collect()))
    }

    /// Mail a pending or expired invitation again; it is valid for the full time from now.
    #[oai(path = "/api/v1/orgs/:org_id/invitations/:id/resend", method = "post")]
    async fn resend(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
    ) -> Result<Json<InvitationDto>, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        require_people_admin(&auth, &scope)?;
        let ttl = state.settings.accounts.invitation_ttl_days.saturating_mul(86_400);
        let expires_at = now().saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX / 2));
        let (st, inviter) = (state.clone(), inviter_name(&auth));
        let mail = move |inv: &Invitation| invitation_mail(&st, inv, &inviter);
        let inv = state
            .store
            .resend_invitation(&scope, id.0.to_string(), expires_at, mail, auth.audit("invitation.resent"))
            .await?;
        state.outbox.wake();
        Ok(Json(inv.into()))
    }

    /// Withdraw an invitation; its link stops working and its seat is free.
    #[oai(path = "/api/v1/orgs/:org_id/invitations/:id", method = "delete")]
    async fn revoke(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
    ) -> Result<Revoked, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        require_people_admin(&auth, &scope)?;
        state.store.revoke_invitation(&scope, id.0.to_string(), auth.audit("invitation.revoked")).await?;
        Ok(Revoked::NoContent)
    }

    /// What an invitation link offers (org, role, address, state), for the page that accepts it.
    #[oai(path = "/api/v1/invitations/lookup", method = "post")]
    async fn lookup(
        &self,
        state: Data<&AppState>,
        body: JsonBody<InvitationToken>,
    ) -> Result<Json<InvitationDto>, ApiError> {
        Ok(Json(state.store.invitation_by_token(hash_of(&state, &body.token)).await?.into()))
    }

    /// Accept an invitation as the signed-in account.
    #[oai(path = "/api/v1/invitations/accept", method = "post")]
    async fn accept(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: JsonBody<InvitationToken>,
    ) -> Result<Json<InvitationDto>, ApiError> {
        let inv = state
            .store
            .accept_invitation(hash_of(&state, &body.token), auth.user.id, auth.audit("invitation.accepted"))
            .await?;
        Ok(Json(inv.into()))
    }

    /// Accept an invitation by creating the invited address's account, and sign in. The
    /// address counts as confirmed (the link reached it).
    #[oai(path = "/api/v1/invitations/accept-new", method = "post")]
    async fn accept_new(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<AcceptAsNew>,
    ) -> Result<SignInResponse, ApiError> {
        let display_name = validate::display_name(body.display_name.as_deref())?;
        validate::password_policy(&body.password)?;
        let password_hash = password::hash(body.password.0.clone())
            .await
            .map_err(|e| ApiError::bad_request("WEAK_PASSWORD", e.to_string()))?;
        let ip = client_ip(req, state.settings.proxy_hops());
        let audit =
            AuditEntry::new(Actor::Anonymous { label: String::new() }, Some(ip.to_string()), "invitation.accepted");
        let new = NewUser { email: String::new(), display_name, password_hash, is_admin: false, email_verified: true };
        let (user, _) = state.store.accept_invitation_as_new(hash_of(&state, &body.token), new, audit).await?;
        let (signed_in, cookie) = sign_in(&state, user, req).await?;
        Ok(SignInResponse::Created(Json(signed_in), cookie))
    }
}
