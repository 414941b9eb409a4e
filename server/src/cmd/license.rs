//! `sessionforge-server license …`: the license this instance runs under, handled directly in
//! the data dir (a running server applies it at once: plans are read from the database).

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use sessionforge_server::bootstrap::bootstrap;
use sessionforge_server::licensing::{check_file, instance_id, online};
use sessionforge_server::plans::Catalogue;
use sessionforge_server::settings::Settings;
use sessionforge_server::store::audit::{Actor, AuditEntry};

#[derive(Subcommand, Debug)]
pub enum LicenseCommand {
    /// Install a license file, verified offline against `licensing.trusted_keys`.
    Install {
        /// The license file.
        file: std::path::PathBuf,
        /// The license key, for an encrypted file (or set SESSIONFORGE_LICENSE_KEY).
        #[arg(long, env = "SESSIONFORGE_LICENSE_KEY", hide_env_values = true)]
        key: Option<String>,
    },
    /// Activate this instance online with a license key against its issuer (a server that
    /// issues licenses); the running server then heartbeats on schedule.
    Activate {
        /// The license key (SF-XXXXX-XXXXX-XXXXX-XXXXX).
        key: String,
        /// The issuer's URL, for example https://licenses.example.com.
        #[arg(long)]
        issuer: String,
    },
    /// Show the installed license and this instance's id.
    Status,
    /// Remove the installed license (the default plan applies again; nothing is deleted).
    Remove,
}

pub async fn run(settings: Settings, cmd: LicenseCommand) -> Result<()> {
    let boot = bootstrap(&settings).await?;
    let store = boot.store;
    let catalogue = Catalogue::new(&settings.plans);
    let cli = || AuditEntry::new(Actor::System, None, "license.installed");
    match cmd {
        LicenseCommand::Install { file, key } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let checked = check_file(&settings.licensing.trusted_keys, &boot.keys, &catalogue, &text, key.as_deref());
            let installed = match checked {
                Ok(l) => l,
                Err(e) => bail!("{} refused: {e} ({})", file.display(), e.code()),
            };
            let (plan, licensee, expires) = (installed.plan.clone(), installed.licensee.clone(), installed.expires_at);
            store.install_license(installed, cli()).await?;
            let until = expires.map_or("no expiry".to_string(), sessionforge_server::api_time);
            println!("installed: plan {plan} for {licensee}, {until}");
        }
        LicenseCommand::Activate { key, issuer } => {
            let installed = match online::activate(&settings, &boot.keys, &catalogue, &key, &issuer).await {
                Ok(l) => l,
                Err(e) => bail!("activation refused: {e} ({})", e.code()),
            };
            let (plan, licensee, expires) = (installed.plan.clone(), installed.licensee.clone(), installed.expires_at);
            store.install_license(installed, AuditEntry { action: "license.activated", ..cli() }).await?;
            let until = expires.map_or("no expiry".to_string(), sessionforge_server::api_time);
            println!("activated on {issuer}: plan {plan} for {licensee}, {until}");
            println!("the server checks it with the issuer on schedule; `license status` shows the last check");
        }
        LicenseCommand::Status => {
            println!("instance id: {}", instance_id(&boot.keys));
            match store.installed_license().await? {
                Some(l) => {
                    let until = l.expires_at.map_or("no expiry".to_string(), sessionforge_server::api_time);
                    println!("license {} ({}): plan {} for {}, {until}", l.license_id, l.source, l.plan, l.licensee);
                    if let Some(o) = &l.online {
                        let at = sessionforge_server::api_time;
                        println!("issuer: {}", o.issuer_url);
                        println!("last answer: {} at {}", o.last_code, at(o.last_attempt_at));
                        println!(
                            "last valid answer: {} (the plan applies until {} without another)",
                            at(o.last_valid_at),
                            at(o.valid_until)
                        );
                        if let Some(w) = online::warning(o) {
                            println!("warning: {w}");
                        }
                    }
                }
                None => println!("no license installed: orgs have the default plan ({})", settings.plans.default),
            }
        }
        LicenseCommand::Remove => {
            if let Some(o) = store.installed_license().await?.and_then(|l| l.online)
                && let Err(e) = online::deactivate(&settings, &boot.keys, &o).await
            {
                eprintln!(
                    "warning: could not release the activation on the issuer ({e}); it is released once heartbeats stop"
                );
            }
            store.remove_installed_license(AuditEntry { action: "license.removed", ..cli() }).await?;
            println!("removed: orgs have the default plan ({})", settings.plans.default);
        }
    }
    Ok(())
}
