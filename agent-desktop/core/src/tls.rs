//! How the agent trusts its server: normal WebPKI validation against the OS trust store, or,
//! for a server with a self-signed certificate, the certificate's SHA-256 fingerprint pinned at
//! enrollment (trust on first use). A pinned connection still verifies the handshake signature,
//! so only the holder of that certificate's key can impersonate the server.

use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("no trusted root certificates found on this system")]
    NoRoots,
    #[error("bad certificate fingerprint {0:?} (expected 32 colon-separated hex bytes)")]
    BadFingerprint(String),
    #[error("TLS setup failed: {0}")]
    Setup(String),
}

/// How to decide that the server is the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trust {
    /// The OS trust store and the URL's host name.
    WebPki,
    /// Exactly the certificate with this SHA-256 fingerprint.
    Pinned(String),
}

impl Trust {
    /// Pinned when a fingerprint is configured, WebPKI otherwise.
    pub fn from_fingerprint(fp: &str) -> Self {
        if fp.trim().is_empty() { Trust::WebPki } else { Trust::Pinned(fp.trim().to_string()) }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// SHA-256 of a DER certificate as colon-separated upper-case hex (as the server prints it).
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

fn parse_fingerprint(fp: &str) -> Result<[u8; 32], TlsError> {
    let bytes: Vec<u8> = fp
        .split(':')
        .map(|h| u8::from_str_radix(h.trim(), 16))
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::BadFingerprint(fp.into()))?;
    bytes.try_into().map_err(|_| TlsError::BadFingerprint(fp.into()))
}

fn native_roots() -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(TlsError::NoRoots);
    }
    Ok(roots)
}

fn webpki_verifier() -> Result<Arc<WebPkiServerVerifier>, TlsError> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(native_roots()?), provider())
        .build()
        .map_err(|e| TlsError::Setup(e.to_string()))
}

/// A client TLS configuration for `trust`.
pub fn client_config(trust: &Trust) -> Result<Arc<ClientConfig>, TlsError> {
    let verifier: Arc<dyn ServerCertVerifier> = match trust {
        Trust::WebPki => webpki_verifier()?,
        Trust::Pinned(fp) => Arc::new(Pinned { sha256: parse_fingerprint(fp)?, provider: provider() }),
    };
    build(verifier)
}

fn build(verifier: Arc<dyn ServerCertVerifier>) -> Result<Arc<ClientConfig>, TlsError> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[derive(Debug)]
struct Pinned {
    sha256: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let digest: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if bool::from(digest.ct_eq(&self.sha256)) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// What the server presented during a probe.
#[derive(Debug, Clone)]
pub struct Probe {
    pub fingerprint: String,
    /// Whether the chain validates against the OS trust store for this host name.
    pub webpki_valid: bool,
}

/// Accepts any certificate but remembers the chain, so that enrollment can show and pin it.
#[derive(Debug)]
struct Recorder {
    seen: Mutex<Option<(CertificateDer<'static>, Vec<CertificateDer<'static>>)>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain = (end_entity.clone().into_owned(), intermediates.iter().map(|c| c.clone().into_owned()).collect());
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(chain);
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Connects to `host:port`, completes a TLS handshake, and reports the certificate.
pub async fn probe(host: &str, port: u16) -> Result<Probe, TlsError> {
    let recorder = Arc::new(Recorder { seen: Mutex::new(None), provider: provider() });
    let config = build(recorder.clone())?;
    let name = ServerName::try_from(host.to_string()).map_err(|e| TlsError::Setup(e.to_string()))?;
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| TlsError::Setup(format!("cannot connect to {host}:{port}: {e}")))?;
    let connector = tokio_rustls::TlsConnector::from(config);
    connector.connect(name.clone(), tcp).await.map_err(|e| TlsError::Setup(format!("TLS handshake failed: {e}")))?;
    let (leaf, intermediates) = recorder
        .seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .ok_or_else(|| TlsError::Setup("the server presented no certificate".into()))?;
    let webpki_valid = match webpki_verifier() {
        Ok(v) => v.verify_server_cert(&leaf, &intermediates, &name, &[], UnixTime::now()).is_ok(),
        Err(_) => false,
    };
    Ok(Probe { fingerprint: fingerprint(&leaf), webpki_valid })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_and_format() {
        let fp = fingerprint(b"certificate bytes");
        assert_eq!(fp.len(), 95);
        assert_eq!(
            parse_fingerprint(&fp).ok().map(|b| b.to_vec()),
            Some(Sha256::digest(b"certificate bytes").to_vec())
        );
        assert!(parse_fingerprint("AB:CD").is_err());
        assert!(parse_fingerprint("zz").is_err());
        assert!(client_config(&Trust::Pinned("nope".into())).is_err());
    }
}
