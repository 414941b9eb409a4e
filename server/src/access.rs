//! Access held by open connections. A viewer socket or event stream registers what it was opened
//! with (user, credential, org) and watches its [`Grant`]; when that access changes (a member
//! removed or given another role, a user disabled, a key revoked, a browser signed out) the
//! change reaches every such connection at once, and it closes or drops to read-only.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use sessionforge_shared::ids::{ApiKeyId, OrgId, UserId};
use sessionforge_shared::roles::Role;
use tokio::sync::watch;

/// What an open connection may still do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// What it was opened with.
    Full,
    /// Watch only (a role change to viewer).
    ReadOnly,
    /// Nothing: close it.
    Revoked,
}

/// The credential a connection was opened with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A browser sign-in, by the keyed hash of its cookie.
    Login(Vec<u8>),
    ApiKey(ApiKeyId),
}

struct Entry {
    user: UserId,
    credential: Credential,
    org: Option<OrgId>,
    tx: watch::Sender<Grant>,
}

#[derive(Default)]
pub struct Access {
    open: Mutex<HashMap<u64, Entry>>,
    next: AtomicU64,
    this: Weak<Access>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access").field("open", &self.lock().len()).finish()
    }
}

/// One open connection's registration; dropping it unregisters.
pub struct AccessGuard {
    id: u64,
    access: Weak<Access>,
    pub grant: watch::Receiver<Grant>,
}

impl AccessGuard {
    /// Resolves with the new grant whenever it changes.
    pub async fn changed(&mut self) -> Grant {
        if self.grant.changed().await.is_err() {
            // The sender lives in the registry until this guard drops: never while we wait.
            std::future::pending::<()>().await;
        }
        *self.grant.borrow_and_update()
    }
}

impl Drop for AccessGuard {
    fn drop(&mut self) {
        if let Some(access) = self.access.upgrade() {
            access.lock().remove(&self.id);
        }
    }
}

impl Access {
    pub fn new() -> Arc<Self> {
        Arc::new_cyclic(|this| Self { this: this.clone(), ..Self::default() })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Entry>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a connection opened by `user` with `credential`, inside `org` when it is an
    /// org's connection.
    pub fn register(&self, user: UserId, credential: Credential, org: Option<OrgId>) -> AccessGuard {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, grant) = watch::channel(Grant::Full);
        self.lock().insert(id, Entry { user, credential, org, tx });
        AccessGuard { id, access: self.this.clone(), grant }
    }

    fn set(&self, grant: Grant, matches: impl Fn(&Entry) -> bool) -> usize {
        let open = self.lock();
        let mut n = 0;
        for e in open.values().filter(|e| matches(e)) {
            e.tx.send_replace(grant);
            n += 1;
        }
        n
    }

    /// The user lost all access (disabled): every connection of theirs closes.
    pub fn revoke_user(&self, user: UserId) -> usize {
        self.set(Grant::Revoked, |e| e.user == user)
    }

    /// A browser sign-in ended (signed out, or every sign-in ended by a password reset).
    pub fn revoke_login(&self, token_hash: &[u8]) -> usize {
        self.set(Grant::Revoked, |e| matches!(&e.credential, Credential::Login(h) if h == token_hash))
    }

    /// Every browser sign-in of `user` ended (their API keys stay).
    pub fn revoke_logins_of(&self, user: UserId) -> usize {
        self.set(Grant::Revoked, |e| e.user == user && matches!(e.credential, Credential::Login(_)))
    }

    pub fn revoke_api_key(&self, key: ApiKeyId) -> usize {
        self.set(Grant::Revoked, |e| e.credential == Credential::ApiKey(key))
    }

    /// `user`'s membership of `org` changed: gone (`None`), watch-only, or still able to act.
    pub fn membership_changed(&self, org: OrgId, user: UserId, role: Option<Role>) -> usize {
        let grant = match role {
            None => Grant::Revoked,
            Some(Role::Viewer) => Grant::ReadOnly,
            Some(_) => Grant::Full,
        };
        self.set(grant, |e| e.user == user && e.org == Some(org))
    }

    /// Connections registered now.
    pub fn open(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn changes_reach_only_the_matching_connections() {
        let access = Access::new();
        let (alice, bob) = (UserId::new(), UserId::new());
        let (org, other) = (OrgId::new(), OrgId::new());
        let mut a_org = access.register(alice, Credential::Login(vec![1]), Some(org));
        let a_other = access.register(alice, Credential::Login(vec![1]), Some(other));
        let b_org = access.register(bob, Credential::Login(vec![2]), Some(org));
        assert_eq!(access.membership_changed(org, alice, Some(Role::Viewer)), 1);
        assert_eq!(a_org.changed().await, Grant::ReadOnly);
        assert_eq!(*a_other.grant.borrow(), Grant::Full);
        assert_eq!(*b_org.grant.borrow(), Grant::Full);
        assert_eq!(access.revoke_login(&[1]), 2);
        assert_eq!(a_org.changed().await, Grant::Revoked);
        drop(a_org);
        assert_eq!(access.open(), 2, "a dropped guard unregisters");
    }
}
