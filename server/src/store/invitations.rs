//! Invitations to an org, and seats. An org's seats are its members plus its pending
//! invitations; inviting takes a seat, accepting turns it into a membership. Every check and its
//! write share one (serialised) write transaction, so two people racing for the last seat get
//! one success and one `SEAT_LIMIT`.

use rusqlite::{OptionalExtension, Transaction, params};
use sessionforge_shared::ids::{OrgId, UserId};
use sessionforge_shared::roles::Role;

use super::account_links::NewLink;
use super::audit::{AuditEntry, record};
use super::entitlements::require;
use super::orgs::OrgScope;
use super::outbox::{NewMail, queue_mail};
use super::users::{NewUser, User, insert_user};
use super::{Store, StoreError, now, parse_col};
use crate::plans::{Catalogue, Limit};

/// Where an invitation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvitationState {
    Pending,
    Expired,
    Accepted,
    Revoked,
}

impl InvitationState {
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationState::Pending => "pending",
            InvitationState::Expired => "expired",
            InvitationState::Accepted => "accepted",
            InvitationState::Revoked => "revoked",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invitation {
    pub id: String,
    pub org_id: OrgId,
    pub org_name: String,
    pub email: String,
    pub role: Role,
    /// Who invited, as an address (empty once that account is gone).
    pub invited_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub state: InvitationState,
}

const COLS: &str = "i.id, i.org_id, o.name, i.email, i.role, COALESCE(u.email, ''), i.created_at, i.expires_at,
                    i.accepted_at, i.revoked_at";
const FROM: &str = "FROM invitations i JOIN orgs o ON o.id = i.org_id LEFT JOIN users u ON u.id = i.invited_by";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Invitation> {
    let expires_at: i64 = r.get(7)?;
    let accepted: Option<i64> = r.get(8)?;
    let revoked: Option<i64> = r.get(9)?;
    let state = match (accepted, revoked) {
        (Some(_), _) => InvitationState::Accepted,
        (None, Some(_)) => InvitationState::Revoked,
        (None, None) if expires_at <= now() => InvitationState::Expired,
        (None, None) => InvitationState::Pending,
    };
    Ok(Invitation {
        id: r.get(0)?,
        org_id: parse_col(r, 1)?,
        org_name: r.get(2)?,
        email: r.get(3)?,
        role: parse_col(r, 4)?,
        invited_by: r.get(5)?,
        created_at: r.get(6)?,
        expires_at,
        state,
    })
}

fn by_id(tx: &rusqlite::Connection, org: OrgId, id: &str) -> Result<Invitation, StoreError> {
    let sql = format!("SELECT {COLS} {FROM} WHERE i.id = ?1 AND i.org_id = ?2");
    tx.query_row(&sql, params![id, org.to_string()], from_row).optional()?.ok_or(StoreError::NotFound)
}

fn by_hash(tx: &rusqlite::Connection, hash: &[u8]) -> Result<Invitation, StoreError> {
    let sql = format!("SELECT {COLS} {FROM} WHERE i.token_hash = ?1");
    tx.query_row(&sql, [hash], from_row).optional()?.ok_or_else(|| StoreError::Gone {
        code: "INVITATION_INVALID",
        message: "this invitation link is not valid; ask for a new invitation".into(),
    })
}

/// The org's seat limit (`None`: unlimited), members, and pending invitations other than
/// `except`.
fn seats(tx: &rusqlite::Connection, org: OrgId, except: Option<&str>) -> Result<(Option<u32>, u32, u32), StoreError> {
    let limit: Option<u32> =
        tx.query_row("SELECT seat_limit FROM orgs WHERE id = ?1", [org.to_string()], |r| r.get(0))?;
    let members: u32 =
        tx.query_row("SELECT COUNT(*) FROM memberships WHERE org_id = ?1", [org.to_string()], |r| r.get(0))?;
    let pending: u32 = tx.query_row(
        "SELECT COUNT(*) FROM invitations WHERE org_id = ?1 AND accepted_at IS NULL AND revoked_at IS NULL
           AND expires_at > ?2 AND id IS NOT ?3",
        params![org.to_string(), now(), except],
        |r| r.get(0),
    )?;
    Ok((limit, members, pending))
}

fn seat_limit(limit: u32) -> StoreError {
    StoreError::Refused {
        code: "SEAT_LIMIT",
        message: format!("the org has no free seat (it has {limit}; members and pending invitations count)"),
    }
}

/// Fails unless the invitation can be used now.
fn usable(inv: &Invitation) -> Result<(), StoreError> {
    match inv.state {
        InvitationState::Pending => Ok(()),
        InvitationState::Expired => Err(StoreError::Gone {
            code: "INVITATION_EXPIRED",
            message: "this invitation has expired; ask an admin of the org to send it again".into(),
        }),
        InvitationState::Accepted => {
            Err(StoreError::Gone { code: "INVITATION_USED", message: "this invitation was already accepted".into() })
        }
        InvitationState::Revoked => {
            Err(StoreError::Gone { code: "INVITATION_REVOKED", message: "this invitation was withdrawn".into() })
        }
    }
}

/// Makes `user` a member through `inv`, taking a seat: the invitation held one, so only the
/// members themselves must fit (pending invitations wait for theirs).
fn join(tx: &Transaction<'_>, inv: &Invitation, user: UserId, catalogue: &Catalogue) -> Result<(), StoreError> {
    let (limit, members, _) = seats(tx, inv.org_id, Some(&inv.id))?;
    require(tx, inv.org_id, catalogue, Limit::Seats, u64::from(members))?;
    if let Some(limit) = limit
        && members + 1 > limit
    {
        return Err(seat_limit(limit));
    }
    let inserted = tx.execute(
        "INSERT OR IGNORE INTO memberships (org_id, user_id, role, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![inv.org_id.to_string(), user.to_string(), inv.role.as_str(), now()],
    )?;
    if inserted == 0 {
        return Err(StoreError::Refused {
            code: "ALREADY_MEMBER",
            message: format!("you are already a member of {}", inv.org_name),
        });
    }
    tx.execute(
        "UPDATE invitations SET accepted_at = ?1, accepted_by = ?2 WHERE id = ?3",
        params![now(), user.to_string(), inv.id],
    )?;
    Ok(())
}

impl Store {
    /// Invites `email` with `role`, taking a seat; the mail goes out with it.
    pub async fn invite(
        &self,
        scope: &OrgScope,
        email: String,
        role: Role,
        link: NewLink,
        mail: NewMail,
        audit: AuditEntry,
    ) -> Result<Invitation, StoreError> {
        let (org, by) = (scope.org_id(), scope.user_id());
        let catalogue = self.catalogue.clone();
        self.db
            .write(move |tx| {
                let member: Option<i64> = tx
                    .query_row(
                        "SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = ?1 AND u.email = ?2",
                        params![org.to_string(), email],
                        |r| r.get(0),
                    )
                    .optional()?;
                if member.is_some() {
                    return Err(StoreError::Refused { code: "ALREADY_MEMBER", message: format!("{email} is already a member") });
                }
                let open: Option<String> = tx
                    .query_row(
                        "SELECT id FROM invitations WHERE org_id = ?1 AND email = ?2 AND accepted_at IS NULL AND revoked_at IS NULL",
                        params![org.to_string(), email],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(id) = open {
                    let old = by_id(tx, org, &id)?;
                    if old.state == InvitationState::Pending {
                        return Err(StoreError::Refused {
                            code: "ALREADY_INVITED",
                            message: format!("{email} already has a pending invitation; resend it instead"),
                        });
                    }
                    // An expired one gives way to the new invitation.
                    tx.execute("UPDATE invitations SET revoked_at = ?1 WHERE id = ?2", params![now(), id])?;
                }
                let (limit, members, pending) = seats(tx, org, None)?;
                require(tx, org, &catalogue, Limit::Seats, u64::from(members + pending))?;
                if let Some(limit) = limit
                    && members + pending + 1 > limit
                {
                    return Err(seat_limit(limit));
                }
                tx.execute(
                    "INSERT INTO invitations (id, org_id, email, role, invited_by, token_hash, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![link.id, org.to_string(), email, role.as_str(), by.to_string(), link.hash, now(), link.expires_at],
                )?;
                queue_mail(tx, &mail)?;
                let details = serde_json::json!({"email": email, "role": role.as_str()});
                record(tx, &audit.org(org).target("invitation", &link.id).details(details))?;
                by_id(tx, org, &link.id)
            })
            .await
    }

    /// The org's invitations, newest first.
    pub async fn invitations(&self, scope: &OrgScope) -> Result<Vec<Invitation>, StoreError> {
        let org = scope.org_id();
        self.db
            .read(move |c| {
                let sql =
                    format!("SELECT {COLS} {FROM} WHERE i.org_id = ?1 ORDER BY i.created_at DESC, i.id DESC LIMIT 500");
                let mut stmt = c.prepare_cached(&sql)?;
                let rows = stmt.query_map([org.to_string()], from_row)?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    /// Sends a pending (or expired) invitation again, valid until `expires_at` from now on.
    pub async fn resend_invitation(
        &self,
        scope: &OrgScope,
        id: String,
        expires_at: i64,
        mail: impl FnOnce(&Invitation) -> NewMail + Send + 'static,
        audit: AuditEntry,
    ) -> Result<Invitation, StoreError> {
        let org = scope.org_id();
        self.db
            .write(move |tx| {
                let inv = by_id(tx, org, &id)?;
                match inv.state {
                    InvitationState::Pending => {}
                    InvitationState::Expired => {
                        // It gave its seat back when it expired: it needs one again.
                        let (limit, members, pending) = seats(tx, org, Some(&id))?;
                        if let Some(limit) = limit
                            && members + pending + 1 > limit
                        {
                            return Err(seat_limit(limit));
                        }
                    }
                    _ => usable(&inv)?,
                }
                tx.execute("UPDATE invitations SET expires_at = ?1 WHERE id = ?2", params![expires_at, id])?;
                let inv = by_id(tx, org, &id)?;
                queue_mail(tx, &mail(&inv))?;
                record(tx, &audit.org(org).target("invitation", &id).details(serde_json::json!({"email": inv.email})))?;
                Ok(inv)
            })
            .await
    }

    /// Withdraws a pending invitation (its seat is free again).
    pub async fn revoke_invitation(&self, scope: &OrgScope, id: String, audit: AuditEntry) -> Result<(), StoreError> {
        let org = scope.org_id();
        self.db
            .write(move |tx| {
                let inv = by_id(tx, org, &id)?;
                if matches!(inv.state, InvitationState::Accepted | InvitationState::Revoked) {
                    usable(&inv)?;
                }
                tx.execute("UPDATE invitations SET revoked_at = ?1 WHERE id = ?2", params![now(), id])?;
                record(tx, &audit.org(org).target("invitation", &id).details(serde_json::json!({"email": inv.email})))?;
                Ok(())
            })
            .await
    }

    /// The invitation a link's token hash names (for the page that accepts it).
    pub async fn invitation_by_token(&self, hash: Vec<u8>) -> Result<Invitation, StoreError> {
        self.db.read(move |c| by_hash(c, &hash)).await
    }

    /// Accepts an invitation as the signed-in `user`.
    pub async fn accept_invitation(
        &self,
        hash: Vec<u8>,
        user: UserId,
        audit: AuditEntry,
    ) -> Result<Invitation, StoreError> {
        let catalogue = self.catalogue.clone();
        self.db
            .write(move |tx| {
                let inv = by_hash(tx, &hash)?;
                usable(&inv)?;
                join(tx, &inv, user, &catalogue)?;
                // The link reached this address: if it is the account's, it is confirmed.
                tx.execute(
                    "UPDATE users SET email_verified_at = COALESCE(email_verified_at, ?1) WHERE id = ?2 AND email = ?3",
                    params![now(), user.to_string(), inv.email],
                )?;
                let details = serde_json::json!({"email": inv.email, "role": inv.role.as_str()});
                record(tx, &audit.org(inv.org_id).target("invitation", &inv.id).details(details))?;
                Ok(inv)
            })
            .await
    }

    /// Accepts an invitation by creating the invited address's account (verified: the link
    /// reached it).
    pub async fn accept_invitation_as_new(
        &self,
        hash: Vec<u8>,
        new: NewUser,
        audit: AuditEntry,
    ) -> Result<(User, Invitation), StoreError> {
        let catalogue = self.catalogue.clone();
        self.db
            .write(move |tx| {
                let inv = by_hash(tx, &hash)?;
                usable(&inv)?;
                let (user, _) = insert_user(tx, &NewUser { email: inv.email.clone(), email_verified: true, ..new })
                    .map_err(|e| match e {
                        StoreError::Conflict(_) => StoreError::Refused {
                            code: "EMAIL_TAKEN",
                            message: format!("an account with {} exists: sign in to accept", inv.email),
                        },
                        other => other,
                    })?;
                join(tx, &inv, user.id, &catalogue)?;
                let details = serde_json::json!({"email": inv.email, "role": inv.role.as_str(), "new_account": true});
                record(tx, &audit.org(inv.org_id).target("invitation", &inv.id).details(details))?;
                Ok((user, inv))
            })
            .await
    }

    /// Sets an org's seat limit (`None`: unlimited). Seats already taken stay taken.
    pub async fn set_seat_limit(&self, org: OrgId, limit: Option<u32>, audit: AuditEntry) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                let before: Option<u32> = tx
                    .query_row("SELECT seat_limit FROM orgs WHERE id = ?1", [org.to_string()], |r| r.get(0))
                    .optional()?
                    .ok_or(StoreError::NotFound)?;
                tx.execute("UPDATE orgs SET seat_limit = ?1 WHERE id = ?2", params![limit, org.to_string()])?;
                record(
                    tx,
                    &audit.org(org).target("org", org).details(serde_json::json!({"before": before, "after": limit})),
                )?;
                Ok(())
            })
            .await
    }

    /// The org's seats: limit, members, pending invitations.
    pub async fn seat_usage(&self, scope: &OrgScope) -> Result<(Option<u32>, u32, u32), StoreError> {
        let org = scope.org_id();
        self.db.read(move |c| seats(c, org, None)).await
    }
}
