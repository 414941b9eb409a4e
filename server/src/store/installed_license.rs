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
    pub document: String,
    pub installed_at: i64,
}

/// The installed license, read inside any transaction.
pub(crate) fn installed(c: &Connection) -> Result<Option<Installed>, StoreError> {
    Ok(c.query_row(
        "SELECT source, license_id, plan, licensee, expires_at, grace_days, document, installed_at FROM installed_license",
        [],
        |r| {
            Ok(Installed {
                source: r.get(0)?,
                license_id: r.get(1)?,
                plan: r.get(2)?,
                licensee: r.get(3)?,
                expires_at: r.get(4)?,
                grace_days: r.get(5)?,
                document: r.get(6)?,
                installed_at: r.get(7)?,
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
                tx.execute(
                    "INSERT OR REPLACE INTO installed_license
                        (id, source, license_id, plan, licensee, expires_at, grace_days, document, installed_at)
                     VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        license.source,
                        license.license_id,
                        license.plan,
                        license.licensee,
                        license.expires_at,
                        license.grace_days,
                        license.document,
                        license.installed_at
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
