//! This server as a licensed instance: its stable instance id (what licenses bind to) and the
//! offline check of a license file against the issuer keys it trusts (`licensing.trusted_keys`).
//! A license key activated online against an issuer is in [`online`].

pub mod online;

use sessionforge_shared::license::{self, LicenseFileError};
use sha2::{Digest, Sha256};

use crate::keys::Keys;
use crate::plans::Catalogue;
use crate::store::installed_license::Installed;
use crate::store::now;

/// Purpose label of license keys' keyed hashes.
pub const PURPOSE_LICENSE_KEY: &str = "license_key";

/// This instance's fingerprint: derived from its generated secrets, so it is stable across
/// restarts and upgrades, differs between installations, and reveals nothing about them.
pub fn instance_id(keys: &Keys) -> String {
    let digest = Sha256::digest([b"sessionforge-instance\0".as_slice(), &keys.cookie_key].concat());
    hex::encode(&digest[..16])
}

/// Why a license file is refused.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    File(#[from] LicenseFileError),
    #[error("the license expired on {0} and its grace period is over")]
    Expired(String),
    #[error("the license is bound to another instance ({bound}); this one is {this}")]
    WrongInstance { bound: String, this: String },
    #[error("the license is for plan {0:?}, which this server's plans.catalogue does not have")]
    UnknownPlan(String),
}

impl CheckError {
    pub fn code(&self) -> &'static str {
        match self {
            CheckError::File(LicenseFileError::NotAFile) => "NOT_A_LICENSE_FILE",
            CheckError::File(LicenseFileError::Damaged(_)) => "LICENSE_DAMAGED",
            CheckError::File(LicenseFileError::UnknownKey(_)) => "UNTRUSTED_LICENSE_KEY",
            CheckError::File(LicenseFileError::BadSignature) => "LICENSE_TAMPERED",
            CheckError::File(LicenseFileError::NeedsKey) => "LICENSE_KEY_NEEDED",
            CheckError::File(LicenseFileError::WrongKey) => "WRONG_LICENSE_KEY",
            CheckError::Expired(_) => "LICENSE_EXPIRED",
            CheckError::WrongInstance { .. } => "WRONG_INSTANCE",
            CheckError::UnknownPlan(_) => "UNKNOWN_PLAN",
        }
    }
}

/// Verifies a license file offline and returns it ready to install.
/// An encrypted file needs its `license_key`.
pub fn check_file(
    trusted: &[String],
    keys: &Keys,
    catalogue: &Catalogue,
    text: &str,
    license_key: Option<&str>,
) -> Result<Installed, CheckError> {
    let trusted: Vec<_> = trusted.iter().filter_map(|k| license::parse_key_id(k)).collect();
    let doc = license::decode_file(text, &trusted, license_key)?;
    let at = now();
    if let Some(exp) = doc.expires_at
        && at >= exp + i64::from(doc.grace_days) * 86_400
    {
        return Err(CheckError::Expired(crate::api_time(exp)));
    }
    let this = instance_id(keys);
    if let Some(bound) = &doc.fingerprint
        && *bound != this
    {
        return Err(CheckError::WrongInstance { bound: bound.clone(), this });
    }
    if catalogue.plan(&doc.plan).is_none() {
        return Err(CheckError::UnknownPlan(doc.plan));
    }
    Ok(Installed {
        source: "file".into(),
        license_id: doc.id,
        plan: doc.plan,
        licensee: doc.licensee,
        expires_at: doc.expires_at,
        grace_days: doc.grace_days,
        document: text.trim().to_string(),
        installed_at: at,
        online: None,
    })
}
