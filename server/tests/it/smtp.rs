//! `SmtpServer`: a real SMTP server process (aiosmtpd, installed by `scripts/test.sh` and found
//! through `SF_TEST_AIOSMTPD`) on a loopback port, storing what it accepts in a
//! Maildir that tests read and parse. Killed on Drop; can be stopped and started again on the
//! same port to play an outage.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::common::wait_for;

/// One accepted message, parsed.
#[derive(Clone, Debug)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub text: String,
    pub html: String,
}

impl Mail {
    /// The token of the single-use link to `path` in the text part.
    pub fn link_token(&self, path: &str) -> String {
        let marker = format!("{path}#token=");
        let at = self.text.find(&marker).unwrap_or_else(|| panic!("no {path} link in: {}", self.text));
        self.text[at + marker.len()..].chars().take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect()
    }
}

pub struct SmtpServer {
    child: Option<Child>,
    pub port: u16,
    dir: TempDir,
}

fn aiosmtpd() -> PathBuf {
    if let Ok(p) = std::env::var("SF_TEST_AIOSMTPD") {
        return PathBuf::from(p);
    }
    let home = std::env::var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache"));
    let path = home.join("sessionforge/aiosmtpd/bin/aiosmtpd");
    assert!(path.is_file(), "aiosmtpd is not installed: run scripts/test.sh (it installs it), or set SF_TEST_AIOSMTPD");
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

impl SmtpServer {
    pub async fn start() -> Self {
        let mut s = SmtpServer { child: None, port: free_port(), dir: tempfile::tempdir().expect("tempdir") };
        s.resume().await;
        s
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Server settings that send mail here, retrying quickly.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("SESSIONFORGE_EMAIL__SMTP_URL", self.url()),
            ("SESSIONFORGE_EMAIL__FROM", "SessionForge <noreply@sf.test>".into()),
            ("SESSIONFORGE_EMAIL__RETRY_INITIAL_SECS", "1".into()),
            ("SESSIONFORGE_EMAIL__RETRY_MAX_SECS", "1".into()),
            ("SESSIONFORGE_EMAIL__TIMEOUT_SECS", "5".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Stops accepting mail (the process is killed; the port refuses connections).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts (again) on the same port, keeping what was received.
    pub async fn resume(&mut self) {
        let child = Command::new(aiosmtpd())
            .args(["-n", "-l", &format!("127.0.0.1:{}", self.port), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(self.dir.path().join("maildir"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        self.child = Some(child);
        let port = self.port;
        wait_for("the SMTP server to listen", Duration::from_secs(20), || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok().map(|_| ())
        })
        .await;
    }

    /// Every message received so far, in arrival order.
    pub fn messages(&self) -> Vec<Mail> {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = ["new", "cur"]
            .iter()
            .flat_map(|d| std::fs::read_dir(self.dir.path().join("maildir").join(d)).into_iter().flatten())
            .flatten()
            .map(|e| (e.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH), e.path()))
            .collect();
        files.sort();
        files.into_iter().filter_map(|(_, p)| std::fs::read(p).ok()).map(|raw| parse(&raw)).collect()
    }

    /// Messages to `to`, once at least `n` arrived.
    pub async fn wait_for_mail(&self, to: &str, n: usize) -> Vec<Mail> {
        wait_for(&format!("{n} mail(s) to {to}"), Duration::from_secs(30), || async {
            let got: Vec<Mail> = self.messages().into_iter().filter(|m| m.to.eq_ignore_ascii_case(to)).collect();
            (got.len() >= n).then_some(got)
        })
        .await
    }
}

fn parse(raw: &[u8]) -> Mail {
    let m = mail_parser::MessageParser::default().parse(raw).expect("a parseable message");
    let to = m.to().and_then(|a| a.first()).and_then(|a| a.address()).map(str::to_string).unwrap_or_default();
    Mail {
        to,
        subject: m.subject().unwrap_or_default().to_string(),
        message_id: m.message_id().unwrap_or_default().to_string(),
        text: m.body_text(0).map(|t| t.to_string()).unwrap_or_default(),
        html: m.body_html(0).map(|t| t.to_string()).unwrap_or_default(),
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}
