//! The binary's `enroll` command: where the token comes from (never the command line when it
//! can be helped: a file, standard input or the environment keep it out of `ps`), how a
//! certificate that does not validate is confirmed by a person at a terminal, and what is said
//! afterwards. The work itself is in [`sessionforge_agent::enroll`].

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use sessionforge_agent::config::{AgentConfig, CredentialStore, Paths};
use sessionforge_agent::enroll::{self, EnrollOptions};

// `enroll`'s flags (a plain comment: a doc comment here would replace the subcommand's help).
// `Debug` is written by hand so that the token never shows.
#[derive(Args)]
pub struct EnrollArgs {
    /// The server, such as https://sessionforge.example.com:8443
    #[arg(long, env = "SESSIONFORGE_SERVER_URL")]
    server: String,
    /// The one-time enrollment token, or `-` to read it from standard input. Other users can
    /// see command lines: prefer --token-file, standard input or SESSIONFORGE_TOKEN.
    #[arg(long, env = "SESSIONFORGE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A file holding the enrollment token (readable only by you).
    #[arg(long, conflicts_with = "token")]
    token_file: Option<PathBuf>,
    /// Expected SHA-256 fingerprint of a self-signed server certificate (as the server prints it).
    #[arg(long)]
    fingerprint: Option<String>,
    /// The id of the release signing key the server must publish (install lines carry it).
    #[arg(long)]
    signing_key_id: Option<String>,
    /// Where to keep the credential.
    #[arg(long, value_enum)]
    credential_store: Option<StoreArg>,
    /// Do nothing (and leave the token unused) when already enrolled with this server.
    #[arg(long)]
    skip_if_enrolled: bool,
}

impl std::fmt::Debug for EnrollArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollArgs")
            .field("server", &self.server)
            .field("token", &"<redacted>")
            .field("token_file", &self.token_file)
            .field("fingerprint", &self.fingerprint)
            .field("signing_key_id", &self.signing_key_id)
            .field("credential_store", &self.credential_store)
            .field("skip_if_enrolled", &self.skip_if_enrolled)
            .finish()
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum StoreArg {
    /// The best store that works (Linux: Secret Service, then keyutils), else a 0600 file.
    Auto,
    /// The OS keyring only (Linux: Secret Service, then keyutils).
    Keyring,
    /// Linux: the Secret Service (GNOME Keyring, KWallet, KeePassXC).
    SecretService,
    /// Linux: the kernel keyutils keyring (headless; lost on reboot).
    Keyutils,
    /// A file readable only by you.
    File,
}

/// The token from the file, standard input (`-`), the flag or the environment.
fn token(args: &EnrollArgs) -> Result<String> {
    let raw = match (&args.token_file, args.token.as_deref()) {
        (Some(path), _) => read_token_file(path)?,
        (None, Some("-")) => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).context("reading the token from standard input")?;
            text
        }
        (None, Some(t)) => t.to_string(),
        (None, None) => {
            bail!("give the enrollment token with --token-file, --token - (standard input) or SESSIONFORGE_TOKEN")
        }
    };
    let token = raw.trim().to_string();
    if token.is_empty() {
        bail!("the enrollment token is empty");
    }
    Ok(token)
}

fn read_token_file(path: &Path) -> Result<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?.permissions().mode();
        if mode & 0o077 != 0 {
            eprintln!("warning: {} is readable by other users; keep token files at mode 0600", path.display());
        }
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Asks the person at the terminal whether `fingerprint` is the server's. Only when standard
/// input and error are both terminals; otherwise the answer is no.
fn ask(fingerprint: &str) -> bool {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return false;
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "The server's certificate is not trusted by this system (it may be self-signed).\n\
         Its SHA-256 fingerprint is:\n  {fingerprint}\n\
         Compare it with the one the server printed at start (or the dashboard's Add machine page)."
    );
    let _ = write!(err, "Is this the server's fingerprint? Type yes to trust it: ");
    let _ = err.flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).is_ok() && matches!(line.trim().to_lowercase().as_str(), "yes" | "y")
}

pub async fn enroll(mut cfg: AgentConfig, paths: &Paths, args: EnrollArgs) -> Result<i32> {
    if args.skip_if_enrolled && cfg.enrolled_with(&args.server) {
        println!(
            "Already enrolled with {} as machine {}; not enrolling again.",
            cfg.server_url,
            cfg.machine_id.unwrap_or_default()
        );
        return Ok(0);
    }
    let token = token(&args)?;
    if let Some(store) = args.credential_store {
        cfg.credential_store = match store {
            StoreArg::Auto => CredentialStore::Auto,
            StoreArg::Keyring => CredentialStore::Keyring,
            StoreArg::SecretService => CredentialStore::SecretService,
            StoreArg::Keyutils => CredentialStore::Keyutils,
            StoreArg::File => CredentialStore::File,
        };
    }
    let options = EnrollOptions {
        fingerprint: args.fingerprint.as_deref(),
        signing_key_id: args.signing_key_id.as_deref(),
        confirm: &ask,
    };
    let done = enroll::enroll(&args.server, &token, &options, &mut cfg, paths).await?;
    if let Some(fp) = &done.pinned {
        println!("The server's certificate is not publicly trusted; pinned its SHA-256 fingerprint:\n  {fp}");
    }
    println!(
        "Enrolled machine {} with {} (credential in the {}).",
        done.response.machine_id, cfg.server_url, done.stored_in
    );
    if done.signing_key_ids.is_empty() {
        println!("The server offered no release signing key; the first update check will pin it.");
    } else {
        println!("Pinned the server's release signing keys: {}.", done.signing_key_ids.join(", "));
    }
    println!("Start relaying with: sessionforge-agent run");
    Ok(0)
}
