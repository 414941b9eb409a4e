//! `sessionforge-server license …`: the license this instance runs under, handled directly in
//! the data dir (a running server applies it at once: plans are read from the database).

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use sessionforge_server::bootstrap::bootstrap;
use sessionforge_server::licensing::{check_file, instance_id};
use sessionforge_server::plans::Catalogue;
use sessionforge_server::settings::Settings;
use sessionforge_server::store::audit::{Actor, AuditEntry};

#[derive(Subcommand, Debug)]
pub enum LicenseCommand {
    /// Install a license file, verified offline against `licensing.trusted_keys`.
    Install {
        /// The license file.
        file: std::path::PathBuf,
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
        LicenseCommand::Install { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let installed = match check_file(&settings.licensing.trusted_keys, &boot.keys, &catalogue, &text) {
                Ok(l) => l,
                Err(e) => bail!("{} refused: {e} ({})", file.display(), e.code()),
            };
            let (plan, licensee, expires) = (installed.plan.clone(), installed.licensee.clone(), installed.expires_at);
            store.install_license(installed, cli()).await?;
            let until = expires.map_or("no expiry".to_string(), sessionforge_server::api_time);
            println!("installed: plan {plan} for {licensee}, {until}");
        }
        LicenseCommand::Status => {
            println!("instance id: {}", instance_id(&boot.keys));
            match store.installed_license().await? {
                Some(l) => {
                    let until = l.expires_at.map_or("no expiry".to_string(), sessionforge_server::api_time);
                    println!("license {} ({}): plan {} for {}, {until}", l.license_id, l.source, l.plan, l.licensee);
                }
                None => println!("no license installed: orgs have the default plan ({})", settings.plans.default),
            }
        }
        LicenseCommand::Remove => {
            store.remove_installed_license(AuditEntry { action: "license.removed", ..cli() }).await?;
            println!("removed: orgs have the default plan ({})", settings.plans.default);
        }
    }
    Ok(())
}
