//! Response and request bodies of the account API, and their conversions from store types.

use poem_openapi::Object;
use sessionforge_shared::roles::Role;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::api_keys::{ApiKey, Scope};
use crate::store::orgs::{Member, Org};
use crate::store::users::User;

/// A stored Unix timestamp as a date-time (RFC 3339 on the wire).
pub fn ts(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[derive(Object, Debug, Clone)]
pub struct UserDto {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    /// Server administrator.
    pub is_admin: bool,
    pub created_at: OffsetDateTime,
    /// Whether the address is confirmed. Until it is, the account may only sign in, ask for the
    /// confirmation link again, change its address or password, and accept an invitation.
    pub email_verified: bool,
}

impl From<User> for UserDto {
    fn from(u: User) -> Self {
        Self {
            id: u.id.0,
            email: u.email,
            display_name: u.display_name,
            is_admin: u.is_admin,
            created_at: ts(u.created_at),
            email_verified: u.email_verified,
        }
    }
}

#[derive(Object, Debug, Clone)]
pub struct OrgDto {
    pub id: Uuid,
    pub name: String,
    /// A user's personal org, created with the account.
    pub personal: bool,
    pub plan: String,
    /// Your role in this org.
    pub role: Role,
    pub created_at: OffsetDateTime,
}

impl From<Org> for OrgDto {
    fn from(o: Org) -> Self {
        Self {
            id: o.id.0,
            name: o.name,
            personal: o.personal,
            plan: o.plan,
            role: o.role,
            created_at: ts(o.created_at),
        }
    }
}

#[derive(Object, Debug, Clone)]
pub struct MemberDto {
    pub user_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub joined_at: OffsetDateTime,
}

impl From<Member> for MemberDto {
    fn from(m: Member) -> Self {
        Self {
            user_id: m.user_id.0,
            email: m.email,
            display_name: m.display_name,
            role: m.role,
            joined_at: ts(m.joined_at),
        }
    }
}

#[derive(Object, Debug, Clone)]
#[oai(skip_serializing_if_is_none)]
pub struct ApiKeyDto {
    pub id: Uuid,
    pub name: String,
    /// The visible start of the key, to tell keys apart. The rest is never shown again.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub expires_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<ApiKey> for ApiKeyDto {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.id.0,
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes,
            created_at: ts(k.created_at),
            last_used_at: k.last_used_at.map(ts),
            expires_at: k.expires_at.map(ts),
            revoked_at: k.revoked_at.map(ts),
        }
    }
}
