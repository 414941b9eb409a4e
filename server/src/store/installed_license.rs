//! The license this instance runs under (as a licensed server): at most one row, read inside
//! any transaction by the plan precedence ([`super::entitlements`]), installed, shown and
//! removed by administrators (audited). Issuing licenses is in [`super::licenses`].

use rusqlite::{Connection, OptionalExtension, params};

use super::audit::{AuditEntry, record};
use super::{Store, StoreError};

/// The license this instance runs under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installed {
    /// `file` (installed offline) or `key` (activated online).
    pub source: String,
    pub license_id: String,
    pub plan: String,
    pub licensee: String,
    pub expires_at: Option<i64>,
    pub grace_days: u32,
    /// The license file, or for a key the issuer's last signed answer (body and signature).
    pub document: String,
    pub installed_at: i64,
    /// For a key activated online: its issuer and how it last answered.
    pub online: Option<Online>,
}

/// A license key activated online. `Debug` never shows the sealed key.
#[derive(Clone, PartialEq, Eq)]
pub struct Online {
    pub issuer_url: String,
    /// The license key, sealed with the server's key (the server needs it for heartbeats).
    pub key_sealed: Vec<u8>,
    /// The issuer releases the activation after this long without a heartbeat.
    pub heartbeat_secs: u32,
    /// The issuer's last valid answer, and until when the plan applies without another.
    pub last_valid_at: i64,
    pub valid_until: i64,
    pub last_attempt_at: i64,
    /// The code of the issuer's last signed answer (`VALID`, `OVERDUE`, `SUSPENDED`, …).
    pub last_code: String,
    /// Why the last check failed (issuer unreachable, forged answer, …), if it did.
    pub last_error: Option<String>,
}

impl std::fmt::Debug for Online {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Online")
            .field("issuer_url", &self.issuer_url)
            .field("key_sealed", &"<redacted>")
            .field("heartbeat_secs", &self.heartbeat_secs)
            .field("last_valid_at", &self.last_valid_at)
            .field("valid_until", &self.valid_until)
            .field("last_attempt_at", &self.last_attempt_at)
            .field("last_code", &self.last_code)
            .field("last_error", &self.last_error)
            .finish()
    }
}

/// Codes of answers under which a license applies.
pub const VALID_CODES: &[&str] = &["VALID", "OVERDUE"];

impl Installed {
    /// What plans need to know of it.
    pub fn as_instance(&self) -> crate::plans::InstanceLicense {
        crate::plans::InstanceLicense {
            plan: self.plan.clone(),
            expires_at: self.expires_at,
            grace_days: self.grace_days,
            valid_until: self.online.as_ref().map(|o| o.valid_until),
            active: self.online.as_ref().is_none_or(|o| VALID_CODES.contains(&o.last_code.as_str())),
            installed_at: self.installed_at,
        }
    }
}

/// How a check with the issuer went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// A signed answer: the license's current terms and the answer's code.
    Answered {
        code: String,
        plan: String,
        expires_at: Option<i64>,
        grace_days: u32,
        document: String,
        valid_until: i64,
    },
    /// No trustworthy answer (unreachable, forged, replayed): the last valid one still counts.
    Failed(String),
}

/// The installed license, read inside any transaction.
pub(crate) fn installed(c: &Connection) -> Result<Option<Installed>, StoreError> {
    Ok(c.query_row(
        "SELECT source, license_id, plan, licensee, expires_at, grace_days, document, installed_at,
                issuer_url, key_sealed, heartbeat_secs, last_valid_at, valid_until, last_attempt_at, last_code, last_error
         FROM installed_license",
        [],
        |r| {
            let issuer_url: Option<String> = r.get(8)?;
            let online = match issuer_url {
                Some(issuer_url) => Some(Online {
                    issuer_url,
                    key_sealed: r.get::<_, Option<Vec<u8>>>(9)?.unwrap_or_default(),
                    heartbeat_secs: r.get::<_, Option<u32>>(10)?.unwrap_or(86_400),
                    last_valid_at: r.get::<_, Option<i64>>(11)?.unwrap_or(0),
                    valid_until: r.get::<_, Option<i64>>(12)?.unwrap_or(0),
                    last_attempt_at: r.get::<_, Option<i64>>(13)?.unwrap_or(0),
                    last_code: r.get::<_, Option<String>>(14)?.unwrap_or_default(),
                    last_error: r.get(15)?,
                }),
                None => None,
            };
            Ok(Installed {
                source: r.get(0)?,
                license_id: r.get(1)?,
                plan: r.get(2)?,
                licensee: r.get(3)?,
                expires_at: r.get(4)?,
                grace_days: r.get(5)?,
                document: r.get(6)?,
                installed_at: r.get(7)?,
                online,
            })
        },
    )
    .optional()?)
}

impl Store {
    /// Installs (or replaces) the instance's license; audited.
    pub async fn install_license(&self, license: Installed, audit: AuditEntry) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                let o = license.online.as_ref();
                tx.execute(
                    "INSERT OR REPLACE INTO installed_license
                        (id, source, license_id, plan, licensee, expires_at, grace_days, document, installed_at,
                         issuer_url, key_sealed, heartbeat_secs, last_valid_at, valid_until, last_attempt_at,
                         last_code, last_error)
                     VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                    params![
                        license.source,
                        license.license_id,
                        license.plan,
                        license.licensee,
                        license.expires_at,
                        license.grace_days,
                        license.document,
                        license.installed_at,
                        o.map(|o| &o.issuer_url),
                        o.map(|o| &o.key_sealed),
                        o.map(|o| o.heartbeat_secs),
                        o.map(|o| o.last_valid_at),
                        o.map(|o| o.valid_until),
                        o.map(|o| o.last_attempt_at),
                        o.map(|o| &o.last_code),
                        o.and_then(|o| o.last_error.as_ref()),
                    ],
                )?;
                let details =
                    serde_json::json!({"license": license.license_id, "plan": license.plan, "source": license.source});
                record(tx, &audit.target("license", &license.license_id).details(details))
            })
            .await?;
        self.plans_changed();
        Ok(())
    }

    pub async fn installed_license(&self) -> Result<Option<Installed>, StoreError> {
        self.db.read(installed).await
    }

    /// Records how a check of the license activated online went (`license_id` guards against
    /// a license replaced meanwhile). A signed refusal makes the default plan apply; a failed
    /// check changes nothing but the warning until `valid_until` passes.
    pub async fn record_license_check(&self, license_id: String, check: Check, at: i64) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                match &check {
                    Check::Answered { code, plan, expires_at, grace_days, document, valid_until } => {
                        let valid = VALID_CODES.contains(&code.as_str());
                        tx.execute(
                            "UPDATE installed_license SET last_code = ?1, last_attempt_at = ?2, last_error = NULL,
                                plan = ?3, expires_at = ?4, grace_days = ?5, document = ?6,
                                last_valid_at = CASE WHEN ?7 THEN ?2 ELSE last_valid_at END,
                                valid_until = CASE WHEN ?7 THEN ?8 ELSE valid_until END
                             WHERE license_id = ?9 AND source = 'key'",
                            params![code, at, plan, expires_at, grace_days, document, valid, valid_until, license_id],
                        )?;
                    }
                    Check::Failed(error) => {
                        tx.execute(
                            "UPDATE installed_license SET last_attempt_at = ?1, last_error = ?2
                             WHERE license_id = ?3 AND source = 'key'",
                            params![at, error, license_id],
                        )?;
                    }
                }
                Ok(())
            })
            .await?;
        self.plans_changed();
        Ok(())
    }

    /// Removes the installed license (the default plan applies again; nothing else changes).
    pub async fn remove_installed_license(&self, audit: AuditEntry) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                tx.execute("DELETE FROM installed_license", [])?;
                record(tx, &audit)
            })
            .await?;
        self.plans_changed();
        Ok(())
    }
}
