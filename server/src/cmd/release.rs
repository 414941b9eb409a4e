//! `sessionforge-server release …`: publish, list, yank and verify agent builds (on the data
//! dir, while the server runs), and the offline signing workflow: `keygen` and `sign` run
//! anywhere (on the release manager's machine, never the server); `manifest` and
//! `upload-manifest` run on the server.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use sessionforge_server::bootstrap::bootstrap;
use sessionforge_server::releases::{self, Publish, artifacts::Artifacts, signing};
use sessionforge_server::settings::Settings;
use sessionforge_shared::signing::Signed;

#[derive(Subcommand, Debug)]
pub enum ReleaseCommand {
    /// Publish an agent build: `release publish --version 1.2.0 --target x86_64-unknown-linux-musl FILE`.
    Publish {
        #[arg(long)]
        version: String,
        /// Rust target triple of the build.
        #[arg(long)]
        target: String,
        #[arg(long, default_value = "stable", value_parser = ["stable", "beta"])]
        channel: String,
        /// Release notes shown to people updating.
        #[arg(long, default_value = "")]
        notes: String,
        /// The agent binary.
        file: PathBuf,
    },
    /// Take a release out of the manifests; it can no longer be downloaded.
    Yank {
        #[arg(long)]
        version: String,
        #[arg(long)]
        target: String,
    },
    /// List every release.
    List,
    /// Re-hash every stored artifact; damaged or missing ones are never served again. Exits 1
    /// when any is damaged.
    Verify,
    /// Create an offline signing key: writes the private key to FILE (mode 0600) and prints the
    /// public key to put in `releases.trusted_keys`. Run it where the key will live, not on the
    /// server.
    Keygen {
        /// Where to write the private key.
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Write a channel's manifest, unsigned, for signing off the server.
    Manifest {
        #[arg(long, default_value = "stable", value_parser = ["stable", "beta"])]
        channel: String,
        /// Days the signed manifest will stay valid; agents refuse it after that.
        #[arg(long, default_value_t = 30)]
        expires_in_days: u32,
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Sign a manifest written by `release manifest` with an offline key (runs anywhere).
    Sign {
        /// The private key file from `release keygen`.
        #[arg(long)]
        key: PathBuf,
        /// The unsigned manifest.
        manifest: PathBuf,
        /// Where to write the signed manifest.
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Store a manifest signed with `release sign` as its channel's.
    UploadManifest {
        /// The signed manifest.
        file: PathBuf,
    },
}

impl ReleaseCommand {
    /// Whether the command needs no data dir or settings (it runs off the server).
    pub fn runs_anywhere(&self) -> bool {
        matches!(self, ReleaseCommand::Keygen { .. } | ReleaseCommand::Sign { .. })
    }
}

/// Commands that run off the server.
pub fn run_offline(cmd: ReleaseCommand) -> Result<()> {
    match cmd {
        ReleaseCommand::Keygen { output } => {
            if output.exists() {
                bail!("{} exists; refusing to overwrite a key", output.display());
            }
            let (private, public) = signing::keygen();
            sessionforge_shared::files::write_private_atomic(&output, format!("{private}\n").as_bytes())
                .with_context(|| format!("writing {}", output.display()))?;
            println!("wrote the private key to {} (keep it off the server)", output.display());
            println!("key id     {}", public.key_id);
            println!("public key {}", public.public_key);
            println!(
                "on the server set:\n  [releases]\n  signing = \"offline\"\n  trusted_keys = [\"{}\"]",
                public.public_key
            );
        }
        ReleaseCommand::Sign { key, manifest, output } => {
            let private = std::fs::read_to_string(&key).with_context(|| format!("reading {}", key.display()))?;
            let payload =
                std::fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
            let signed = signing::sign_offline(payload.trim_end().to_string(), &private)?;
            write_json(&output, &signed)?;
            println!(
                "signed {} with key {}; upload it with `release upload-manifest`",
                manifest.display(),
                signed.key_id
            );
        }
        other => bail!("{other:?} runs on the server"),
    }
    Ok(())
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

pub async fn run(settings: Settings, cmd: ReleaseCommand) -> Result<()> {
    let boot = bootstrap(&settings).await?;
    let store = boot.store;
    let artifacts = Artifacts::new(&settings.data_dir);
    match cmd {
        ReleaseCommand::Publish { version, target, channel, notes, file } => {
            let req = Publish { version, target, channel, notes, file_name: None };
            req.validate()?;
            let f = tokio::fs::File::open(&file).await.with_context(|| format!("cannot open {}", file.display()))?;
            let body = tokio_util::io::ReaderStream::new(f);
            let limit = settings.releases.max_upload_bytes;
            let r = releases::publish(&store, &artifacts, req, body, limit, None).await?;
            println!("published {} {} on {} ({} bytes, sha256 {})", r.target, r.version, r.channel, r.size, r.sha256);
        }
        ReleaseCommand::Yank { version, target } => {
            let r = store
                .yank_release(target.clone(), version.clone())
                .await
                .with_context(|| format!("no release {version} for {target}"))?;
            println!("yanked {} {}; it is no longer offered or downloadable", r.target, r.version);
        }
        ReleaseCommand::List => {
            for r in store.releases().await? {
                let flags = match (r.yanked_at, r.corrupt_at) {
                    (_, Some(_)) => " (damaged: not served)",
                    (Some(_), None) => " (yanked)",
                    (None, None) => "",
                };
                println!("{:<28} {:<14} {:<7} {:>10}  {}{flags}", r.target, r.version, r.channel, r.size, r.sha256);
            }
        }
        ReleaseCommand::Verify => {
            let (checked, damaged) = releases::verify_all(&store, &artifacts).await?;
            for d in &damaged {
                println!("DAMAGED {} ({}): found {}", d.sha256, d.releases.join(", "), d.found);
            }
            println!("checked {checked} artifacts: {} damaged", damaged.len());
            if !damaged.is_empty() {
                bail!("{} damaged artifacts are no longer served; publish those builds again", damaged.len());
            }
        }
        ReleaseCommand::Manifest { channel, expires_in_days, output } => {
            let now = sessionforge_server::store::now();
            let expires = now + i64::from(expires_in_days.max(1)) * 86_400;
            let m = signing::unsigned_manifest(&store, &channel, now, expires).await?;
            std::fs::write(&output, serde_json::to_string(&m)? + "\n")
                .with_context(|| format!("writing {}", output.display()))?;
            println!(
                "wrote the {channel} manifest ({} builds, valid {expires_in_days} days once signed) to {}",
                m.releases.len(),
                output.display()
            );
        }
        ReleaseCommand::UploadManifest { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let signed: Signed = serde_json::from_str(&text).context("not a signed manifest (from `release sign`)")?;
            let channel = serde_json::from_str::<serde_json::Value>(&signed.payload)
                .ok()
                .and_then(|v| v["channel"].as_str().map(str::to_string))
                .context("the signed payload names no channel")?;
            let stored = signing::accept_signed(&store, &settings.releases, &boot.keys, &channel, signed, None).await?;
            println!("the {channel} channel now serves the manifest signed by key {}", stored.key_id);
        }
        ReleaseCommand::Keygen { .. } | ReleaseCommand::Sign { .. } => bail!("this command runs off the server"),
    }
    Ok(())
}
