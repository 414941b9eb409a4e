//! The server's TLS certificate: a self-signed one generated with rcgen on first run for the
//! configured host names, or the operator's own files. Either way we report the SHA-256
//! fingerprint that agents pin on first use.

use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use sha2::{Digest, Sha256};

use sessionforge_shared::files;

/// Directory (inside the data dir) that holds the generated certificate and key.
pub const TLS_DIR: &str = "tls";

/// How long a generated certificate is valid. Agents pin the fingerprint, so a long life
/// avoids needless re-pinning; browsers show a warning for self-signed certificates anyway.
const GENERATED_VALIDITY_DAYS: i64 = 5 * 365;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read or write {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: String },
    #[error("cannot generate a certificate for {names:?}: {reason}")]
    Generate { names: Vec<String>, reason: String },
}

/// PEM certificate chain and key, plus the leaf's fingerprint.
#[derive(Clone)]
pub struct TlsMaterial {
    pub cert_pem: String,
    pub key_pem: String,
    /// SHA-256 of the leaf certificate's DER, as colon-separated upper-case hex.
    pub fingerprint: String,
    pub self_signed: bool,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("fingerprint", &self.fingerprint)
            .field("self_signed", &self.self_signed)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// Paths of the generated certificate and key inside `data_dir`.
pub fn generated_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join(TLS_DIR);
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// Loads the operator's certificate files.
pub fn load_files(cert: &Path, key: &Path) -> Result<TlsMaterial, TlsError> {
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let fingerprint =
        fingerprint_of_pem(&cert_pem).ok_or_else(|| TlsError::NoCertificate { path: cert.display().to_string() })?;
    Ok(TlsMaterial { cert_pem, key_pem, fingerprint, self_signed: false })
}

/// Loads the generated certificate, generating it first when it does not exist yet.
/// Returns the material and whether it was generated now.
pub fn load_or_generate(data_dir: &Path, names: &[String]) -> Result<(TlsMaterial, bool), TlsError> {
    let (cert_path, key_path) = generated_paths(data_dir);
    if cert_path.is_file() && key_path.is_file() {
        let mut material = load_files(&cert_path, &key_path)?;
        material.self_signed = true;
        return Ok((material, false));
    }
    let material = generate(names)?;
    let dir = data_dir.join(TLS_DIR);
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| TlsError::Io { path, source }
    };
    files::create_private_dir(&dir).map_err(io(&dir))?;
    files::write_private_atomic(&key_path, material.key_pem.as_bytes()).map_err(io(&key_path))?;
    files::write_private_atomic(&cert_path, material.cert_pem.as_bytes()).map_err(io(&cert_path))?;
    Ok((material, true))
}

fn generate(names: &[String]) -> Result<TlsMaterial, TlsError> {
    let err = |e: rcgen::Error| TlsError::Generate { names: names.to_vec(), reason: e.to_string() };
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(err)?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, names.first().cloned().unwrap_or_else(|| "sessionforge".into()));
    dn.push(rcgen::DnType::OrganizationName, "SessionForge (self-signed)");
    params.distinguished_name = dn;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(GENERATED_VALIDITY_DAYS);
    let key = rcgen::KeyPair::generate().map_err(err)?;
    let cert = params.self_signed(&key).map_err(err)?;
    Ok(TlsMaterial {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        fingerprint: fingerprint_of_der(cert.der()),
        self_signed: true,
    })
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Io { path: path.display().to_string(), source })
}

/// The public-key pin of a key, as `curl --pinnedpubkey` takes it: `sha256//` and the base64
/// SHA-256 of the key's SubjectPublicKeyInfo. Lets the one-line installers trust a
/// self-signed server without turning verification off.
pub fn spki_pin(key_pem: &str) -> Option<String> {
    use base64::Engine;
    use rcgen::PublicKeyData;
    let key = rcgen::KeyPair::from_pem(key_pem).ok()?;
    let digest = Sha256::digest(key.subject_public_key_info());
    Some(format!("sha256//{}", base64::engine::general_purpose::STANDARD.encode(digest)))
}

/// SHA-256 fingerprint of the first certificate in a PEM bundle.
pub fn fingerprint_of_pem(pem: &str) -> Option<String> {
    let der = CertificateDer::pem_slice_iter(pem.as_bytes()).next()?.ok()?;
    Some(fingerprint_of_der(&der))
}

/// SHA-256 fingerprint of a DER certificate, formatted like `openssl x509 -fingerprint -sha256`.
pub fn fingerprint_of_der(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    digest.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_then_reuses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let (first, generated) = load_or_generate(dir.path(), &names).expect("generate");
        assert!(generated);
        assert_eq!(first.fingerprint.len(), 32 * 3 - 1);
        let (second, generated) = load_or_generate(dir.path(), &names).expect("reload");
        assert!(!generated);
        assert_eq!(first.fingerprint, second.fingerprint);
        assert!(!format!("{second:?}").contains("PRIVATE KEY"));
        let pin = spki_pin(&first.key_pem).expect("pin");
        assert!(pin.starts_with("sha256//") && pin.len() == 8 + 44, "{pin}");
        assert_eq!(spki_pin(&second.key_pem), Some(pin));
    }
}
