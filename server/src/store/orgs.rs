//! Organisations and memberships, and [`OrgScope`]: the proof of membership that every
//! org-scoped query takes. A non-member asking about an org gets `NotFound`, exactly as if the
//! org did not exist, so ids of other tenants leak nothing.

use rusqlite::{OptionalExtension, params};
use sessionforge_shared::ids::{OrgId, UserId};
use sessionforge_shared::roles::Role;

use super::audit::{AuditEntry, record};
use super::{Store, StoreError, now, parse_col};

/// A user's verified membership in one org. Only [`Store::org_scope`] constructs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgScope {
    org_id: OrgId,
    user_id: UserId,
    role: Role,
}

impl OrgScope {
    pub fn org_id(&self) -> OrgId {
        self.org_id
    }
    pub fn user_id(&self) -> UserId {
        self.user_id
    }
    pub fn role(&self) -> Role {
        self.role
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Org {
    pub id: OrgId,
    pub name: String,
    pub personal: bool,
    pub plan: String,
    pub created_at: i64,
    /// The asking user's role in it.
    pub role: Role,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub user_id: UserId,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub joined_at: i64,
}

const ORG_SELECT: &str = "SELECT o.id, o.name, o.personal_owner_id IS NOT NULL, o.plan, o.created_at, m.role
     FROM orgs o JOIN memberships m ON m.org_id = o.id";

fn org_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Org> {
    Ok(Org {
        id: parse_col(row, 0)?,
        name: row.get(1)?,
        personal: row.get(2)?,
        plan: row.get(3)?,
        created_at: row.get(4)?,
        role: parse_col(row, 5)?,
    })
}

impl Store {
    /// Proves that `user` belongs to `org`. Anything else is `NotFound`.
    pub async fn org_scope(&self, user: UserId, org: OrgId) -> Result<OrgScope, StoreError> {
        self.db
            .read(move |c| {
                let role: Option<Role> = c
                    .query_row(
                        "SELECT role FROM memberships WHERE org_id = ?1 AND user_id = ?2",
                        [org.to_string(), user.to_string()],
                        |r| parse_col(r, 0),
                    )
                    .optional()?;
                role.map(|role| OrgScope { org_id: org, user_id: user, role }).ok_or(StoreError::NotFound)
            })
            .await
    }

    pub async fn orgs_for_user(&self, user: UserId) -> Result<Vec<Org>, StoreError> {
        self.db
            .read(move |c| {
                let sql =
                    format!("{ORG_SELECT} WHERE m.user_id = ?1 ORDER BY o.personal_owner_id IS NULL, o.created_at");
                let mut stmt = c.prepare_cached(&sql)?;
                let rows = stmt.query_map([user.to_string()], org_from_row)?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    pub async fn org(&self, scope: &OrgScope) -> Result<Org, StoreError> {
        let scope = scope.clone();
        self.db
            .read(move |c| {
                let sql = format!("{ORG_SELECT} WHERE o.id = ?1 AND m.user_id = ?2");
                c.query_row(&sql, [scope.org_id.to_string(), scope.user_id.to_string()], org_from_row)
                    .optional()?
                    .ok_or(StoreError::NotFound)
            })
            .await
    }

    /// Creates a team org with `owner` as its owner; `LimitReached` when they already own
    /// `max_orgs` team orgs.
    /// `seats` is the new org's seat limit (`None`: unlimited).
    pub async fn create_org(
        &self,
        owner: UserId,
        name: String,
        max_orgs: u32,
        seats: Option<u32>,
    ) -> Result<Org, StoreError> {
        self.db
            .write(move |tx| {
                let owned: u32 = tx.query_row(
                    "SELECT COUNT(*) FROM memberships m JOIN orgs o ON o.id = m.org_id
                     WHERE m.user_id = ?1 AND m.role = 'owner' AND o.personal_owner_id IS NULL",
                    [owner.to_string()],
                    |r| r.get(0),
                )?;
                if owned >= max_orgs {
                    return Err(StoreError::LimitReached {
                        what: "you already own the most team orgs allowed",
                        limit: max_orgs,
                        setting: "limits.orgs_per_user",
                    });
                }
                let org = Org {
                    id: OrgId::new(),
                    name: name.trim().to_string(),
                    personal: false,
                    plan: "free".into(),
                    created_at: now(),
                    role: Role::Owner,
                };
                tx.execute(
                    "INSERT INTO orgs (id, name, created_at, seat_limit) VALUES (?1, ?2, ?3, ?4)",
                    params![org.id.to_string(), org.name, org.created_at, seats],
                )?;
                tx.execute(
                    "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![org.id.to_string(), owner.to_string(), Role::Owner.as_str(), org.created_at],
                )?;
                Ok(org)
            })
            .await
    }

    /// Renames the scope's org.
    pub async fn rename_org(&self, scope: &OrgScope, name: String) -> Result<(), StoreError> {
        let org = scope.org_id;
        self.db
            .write(move |tx| {
                let n = tx.execute("UPDATE orgs SET name = ?1 WHERE id = ?2", params![name.trim(), org.to_string()])?;
                if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
            })
            .await
    }

    pub async fn members(&self, scope: &OrgScope) -> Result<Vec<Member>, StoreError> {
        let org = scope.org_id;
        self.db
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT u.id, u.email, u.display_name, m.role, m.created_at
                     FROM memberships m JOIN users u ON u.id = m.user_id
                     WHERE m.org_id = ?1 ORDER BY m.created_at, u.email",
                )?;
                let rows = stmt.query_map([org.to_string()], |r| {
                    Ok(Member {
                        user_id: parse_col(r, 0)?,
                        email: r.get(1)?,
                        display_name: r.get(2)?,
                        role: parse_col(r, 3)?,
                        joined_at: r.get(4)?,
                    })
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    /// Removes `user` from the scope's org (an admin removing a member, or a member leaving).
    /// The org always keeps an owner, and nobody leaves their personal org. Returns the role
    /// they had.
    pub async fn remove_member(&self, scope: &OrgScope, user: UserId, audit: AuditEntry) -> Result<Role, StoreError> {
        let org = scope.org_id();
        self.db
            .write(move |tx| {
                let role = member_role(tx, org, user)?;
                let personal: Option<String> =
                    tx.query_row("SELECT personal_owner_id FROM orgs WHERE id = ?1", [org.to_string()], |r| r.get(0))?;
                if personal.as_deref() == Some(user.to_string().as_str()) {
                    return Err(StoreError::Refused {
                        code: "PERSONAL_ORG",
                        message: "nobody can leave or be removed from their personal org".into(),
                    });
                }
                if role == Role::Owner && owner_count(tx, org)? <= 1 {
                    return Err(last_owner());
                }
                tx.execute(
                    "DELETE FROM memberships WHERE org_id = ?1 AND user_id = ?2",
                    params![org.to_string(), user.to_string()],
                )?;
                record(tx, &audit.org(org).target("user", user).details(serde_json::json!({"role": role.as_str()})))?;
                Ok(role)
            })
            .await
    }

    /// Changes a member's role. The org always keeps at least one owner.
    pub async fn set_member_role(
        &self,
        scope: &OrgScope,
        user: UserId,
        role: Role,
        audit: AuditEntry,
    ) -> Result<(), StoreError> {
        let org = scope.org_id;
        self.db
            .write(move |tx| {
                let current = member_role(tx, org, user)?;
                if current == Role::Owner && role != Role::Owner && owner_count(tx, org)? <= 1 {
                    return Err(last_owner());
                }
                tx.execute(
                    "UPDATE memberships SET role = ?1 WHERE org_id = ?2 AND user_id = ?3",
                    params![role.as_str(), org.to_string(), user.to_string()],
                )?;
                let details = serde_json::json!({"before": current.as_str(), "after": role.as_str()});
                record(tx, &audit.org(org).target("user", user).details(details))?;
                Ok(())
            })
            .await
    }

    /// The role of `user` in the scope's org, or `NotFound` when they are not a member.
    pub async fn member_role(&self, scope: &OrgScope, user: UserId) -> Result<Role, StoreError> {
        let org = scope.org_id;
        self.db.read(move |c| member_role(c, org, user)).await
    }
}

fn member_role(c: &rusqlite::Connection, org: OrgId, user: UserId) -> Result<Role, StoreError> {
    c.query_row(
        "SELECT role FROM memberships WHERE org_id = ?1 AND user_id = ?2",
        [org.to_string(), user.to_string()],
        |r| parse_col(r, 0),
    )
    .optional()?
    .ok_or(StoreError::NotFound)
}

fn last_owner() -> StoreError {
    StoreError::Refused { code: "LAST_OWNER", message: "an org must keep at least one owner".into() }
}

fn owner_count(c: &rusqlite::Connection, org: OrgId) -> Result<i64, StoreError> {
    Ok(c.query_row("SELECT COUNT(*) FROM memberships WHERE org_id = ?1 AND role = 'owner'", [org.to_string()], |r| {
        r.get(0)
    })?)
}
