//! First run generates everything; a restart reuses it; a newer schema is refused.

use std::time::Duration;

use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::common::{Auth, Output, TestServer, spawn, wait_for};

fn fingerprint_from_banner(s: &TestServer) -> String {
    let text = s.stdout.text();
    let mut lines = text.lines();
    lines.find(|l| l.contains("SHA-256 fingerprint")).expect("fingerprint heading");
    lines.next().expect("fingerprint line").trim().to_string()
}

#[tokio::test]
async fn first_run_generates_everything_and_restart_reuses_it() {
    let server = TestServer::start().await;
    let dir = server.data_dir().to_path_buf();
    for f in ["sessionforge.db", "secrets.json", "tls/cert.pem", "tls/key.pem"] {
        assert!(dir.join(f).is_file(), "{f} was not generated");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["secrets.json", "tls/key.pem"] {
            let mode = std::fs::metadata(dir.join(f)).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f} must be owner-only");
        }
    }
    assert!(server.stdout.text().contains("database, keys, setup token, TLS certificate"));

    // The printed fingerprint is the SHA-256 of the certificate the server presents.
    let pem = std::fs::read_to_string(dir.join("tls/cert.pem")).expect("cert");
    let der = pem_to_der(&pem);
    let expected: Vec<String> = Sha256::digest(&der).iter().map(|b| format!("{b:02X}")).collect();
    let fingerprint = fingerprint_from_banner(&server);
    assert_eq!(fingerprint, expected.join(":"));
    let token = server.wait_setup_token().await;
    let secrets = std::fs::read(dir.join("secrets.json")).expect("secrets");

    // HTTPS works against the generated certificate (the client trusts nothing else).
    let resp = server.get("/api/v1/health", &Auth::None).await;
    assert_eq!(resp.status(), StatusCode::OK);

    let server = server.restart().await;
    assert_eq!(fingerprint_from_banner(&server), fingerprint, "certificate reused");
    assert_eq!(server.setup_token().as_deref(), Some(token.as_str()), "setup token reused until used");
    assert_eq!(std::fs::read(dir.join("secrets.json")).expect("secrets"), secrets, "keys reused");
    assert!(!server.stdout.text().contains("generated"), "nothing generated on restart");

    // Sessions signed with the old keys survive a restart.
    let admin = server.setup_admin().await;
    let server = server.restart().await;
    assert_eq!(server.get("/api/v1/auth/me", &admin).await.status(), StatusCode::OK);
    assert!(server.setup_token().is_none(), "no setup link once an admin exists");
    assert!(!server.stdout.text().contains("No administrator yet"));
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).expect("base64")
}

#[tokio::test]
async fn a_database_newer_than_the_server_is_refused() {
    let server = TestServer::start().await;
    let db = server.data_dir().join("sessionforge.db");
    let dir = server.dir.clone();
    drop(server);
    let conn = rusqlite::Connection::open(&db).expect("open db");
    conn.pragma_update(None, "user_version", 4242).expect("bump schema version");
    drop(conn);

    let mut child = spawn(dir.path(), &[], &["--listen", "127.0.0.1:0"]);
    let stderr = Output::capture(child.stderr.take().expect("stderr"));
    let status = wait_for("the server to refuse", Duration::from_secs(20), || {
        let s = child.try_wait().expect("try_wait");
        async move { s }
    })
    .await;
    assert!(!status.success(), "server must exit non-zero");
    wait_for("the error message", Duration::from_secs(5), || {
        let text = stderr.text();
        async move { text.contains("schema is version 4242, newer than this server knows").then_some(()) }
    })
    .await;
}
