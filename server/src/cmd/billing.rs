//! `sessionforge-server billing sync`: fetches every linked subscription from Stripe's API and
//! applies it as the newest state, fixing any drift (a missed or failed webhook), and says
//! what changed.

use anyhow::{Result, bail};
use clap::Subcommand;
use sessionforge_server::billing::{self, events, stripe::Stripe};
use sessionforge_server::bootstrap::bootstrap;
use sessionforge_server::settings::Settings;
use sessionforge_server::store::billing_views::OrgBilling;

#[derive(Subcommand, Debug)]
pub enum BillingCommand {
    /// Reconcile every linked subscription with Stripe; prints each change.
    Sync,
}

fn describe(b: &OrgBilling) -> String {
    format!(
        "{} {} ({} seats)",
        b.plan.as_deref().unwrap_or("-"),
        b.status.as_deref().unwrap_or("-"),
        b.seats.map_or("-".to_string(), |s| s.to_string())
    )
}

pub async fn run(settings: Settings, cmd: BillingCommand) -> Result<()> {
    if !settings.billing.enabled() {
        bail!("billing is not set up (billing.stripe.secret_key is empty)");
    }
    let boot = bootstrap(&settings).await?;
    let store = boot.store;
    let stripe = Stripe::new(&settings.billing.stripe)?;
    match cmd {
        BillingCommand::Sync => {
            let mut changed = 0;
            let mut failed = 0;
            for (org, sub_id) in store.billing_links().await? {
                let sub = match stripe.subscription(&sub_id).await {
                    Ok(v) => events::subscription(&v),
                    Err(e) => {
                        eprintln!("{org}: cannot fetch {sub_id}: {e}");
                        failed += 1;
                        continue;
                    }
                };
                let Some(sub) = sub else {
                    eprintln!("{org}: {sub_id} is not a subscription object");
                    failed += 1;
                    continue;
                };
                let (before, after) =
                    store.sync_subscription(org.clone(), sub, billing::rules(&settings.billing)).await?;
                if before != after {
                    changed += 1;
                    println!("{org}: {sub_id}: {} -> {}", describe(&before), describe(&after));
                }
            }
            println!("{changed} changed, {failed} could not be checked");
            if failed > 0 {
                bail!("{failed} subscriptions could not be checked");
            }
        }
    }
    Ok(())
}
