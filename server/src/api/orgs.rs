//! Organisations and their members. Every org-scoped route first proves membership through the
//! store; a non-member gets 404, never 403, so other tenants' ids reveal nothing.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use sessionforge_shared::ids::{OrgId, UserId};
use sessionforge_shared::roles::Role;
use uuid::Uuid;

use super::body::JsonBody;
use super::dto::{MemberDto, OrgDto};
use super::fields::Name;
use super::{ApiTags, validate};
use crate::auth::principal::{Auth, Via};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::api_keys::Scope;
use crate::store::orgs::OrgScope;

pub struct OrgsApi;

#[derive(Object)]
pub struct CreateOrg {
    pub name: Name,
}

#[derive(Object)]
pub struct UpdateOrg {
    pub name: Name,
}

#[derive(Object)]
pub struct SetRole {
    pub role: Role,
}

#[derive(ApiResponse)]
pub enum OrgCreated {
    #[oai(status = 201)]
    Created(Json<OrgDto>),
}

#[derive(ApiResponse)]
pub enum MemberRemoved {
    #[oai(status = 204)]
    NoContent,
}

/// Membership proof for the caller in `org`, or 404. A call made with an API key counts as
/// one of the org's API calls this month, refused (402 `PLAN_LIMIT`) past the plan's limit;
/// the dashboard's own requests (browser sign-ins) do not count.
pub async fn scope(state: &AppState, auth: &Auth, org: Uuid) -> Result<OrgScope, ApiError> {
    let scope = state.store.org_scope(auth.user.id, OrgId(org)).await?;
    if matches!(auth.via, Via::ApiKey(_)) {
        state.store.count_api_call(scope.org_id(), crate::store::now()).await?;
    }
    Ok(scope)
}

/// Fails with 403 unless the caller's role in the org is at least `role`.
pub fn require_role(scope: &OrgScope, role: Role) -> Result<(), ApiError> {
    if scope.role().at_least(role) {
        Ok(())
    } else {
        Err(ApiError::forbidden("ROLE_REQUIRED", format!("this needs the {role} role or higher in the org")))
    }
}

#[OpenApi(prefix_path = "/api/v1/orgs", tag = "ApiTags::Orgs")]
impl OrgsApi {
    /// The orgs you belong to, your personal org first.
    #[oai(path = "/", method = "get")]
    async fn list(&self, state: Data<&AppState>, auth: Auth) -> Result<Json<Vec<OrgDto>>, ApiError> {
        let orgs = state.store.orgs_for_user(auth.user.id).await?;
        Ok(Json(orgs.into_iter().map(Into::into).collect()))
    }

    /// Create a team org; you become its owner.
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: JsonBody<CreateOrg>,
    ) -> Result<OrgCreated, ApiError> {
        let name = validate::name("name", &body.name)?;
        let seats = Some(state.settings.accounts.default_seat_limit).filter(|n| *n > 0);
        let org = state.store.create_org(auth.user.id, name, state.settings.limits.orgs_per_user, seats).await?;
        let entry =
            auth.audit("org.created").org(org.id).target("org", org.id).details(serde_json::json!({"name": org.name}));
        state.store.audit(entry).await?;
        Ok(OrgCreated::Created(Json(org.into())))
    }

    /// One org you belong to.
    #[oai(path = "/:org_id", method = "get")]
    async fn get(&self, state: Data<&AppState>, auth: Auth, org_id: Path<Uuid>) -> Result<Json<OrgDto>, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        Ok(Json(state.store.org(&scope).await?.into()))
    }

    /// Rename an org. Admins and owners only.
    #[oai(path = "/:org_id", method = "put")]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        body: JsonBody<UpdateOrg>,
    ) -> Result<Json<OrgDto>, ApiError> {
        auth.require(Scope::Admin)?;
        let scope = scope(&state, &auth, org_id.0).await?;
        require_role(&scope, Role::Admin)?;
        let name = validate::name("name", &body.name)?;
        state.store.rename_org(&scope, name).await?;
        Ok(Json(state.store.org(&scope).await?.into()))
    }

    /// The members of an org and their roles.
    #[oai(path = "/:org_id/members", method = "get")]
    async fn members(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
    ) -> Result<Json<Vec<MemberDto>>, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        let members = state.store.members(&scope).await?;
        Ok(Json(members.into_iter().map(Into::into).collect()))
    }

    /// Remove a member (admins and owners, with an `admin`-scoped key), or leave the org
    /// yourself. Only owners remove owners; the org always keeps one. Their open connections to
    /// the org close at once.
    #[oai(path = "/:org_id/members/:user_id", method = "delete")]
    async fn remove_member(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        user_id: Path<Uuid>,
    ) -> Result<MemberRemoved, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        let target = UserId(user_id.0);
        let leaving = target == auth.user.id;
        if !leaving {
            require_role(&scope, Role::Admin)?;
            auth.require(Scope::Admin)?;
            if state.store.member_role(&scope, target).await? == Role::Owner {
                require_role(&scope, Role::Owner)?;
            }
        }
        let action = if leaving { "member.left" } else { "member.removed" };
        state.store.remove_member(&scope, target, auth.audit(action)).await?;
        state.access.membership_changed(scope.org_id(), target, None);
        Ok(MemberRemoved::NoContent)
    }

    /// Change a member's role. Admins and owners only; only owners grant or remove the owner role.
    #[oai(path = "/:org_id/members/:user_id", method = "put")]
    async fn set_role(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        user_id: Path<Uuid>,
        body: JsonBody<SetRole>,
    ) -> Result<Json<Vec<MemberDto>>, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        require_role(&scope, Role::Admin)?;
        auth.require(Scope::Admin)?;
        let target = UserId(user_id.0);
        let current = state.store.member_role(&scope, target).await?;
        if current == Role::Owner || body.role == Role::Owner {
            require_role(&scope, Role::Owner)?;
        }
        state.store.set_member_role(&scope, target, body.role, auth.audit("member.role_changed")).await?;
        state.access.membership_changed(scope.org_id(), target, Some(body.role));
        let members = state.store.members(&scope).await?;
        Ok(Json(members.into_iter().map(Into::into).collect()))
    }
}
