//! The `[plans]` table: the plan catalogue (limits and features of each plan) and which plan an
//! org with nothing else gets. Operators may change the built-in plans or add their own.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One plan. A limit of 0 means unlimited.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlanSettings {
    /// The name people see.
    pub name: String,
    /// List price in US dollars per month (for display; billing sets what is charged).
    pub price_usd_month: u32,
    /// Enrolled machines per org.
    pub machines: u32,
    /// Members plus pending invitations per org.
    pub seats: u32,
    /// Sessions running at once per org.
    pub concurrent_sessions: u32,
    /// Days stored output of ended sessions is kept.
    pub retention_days: u32,
    /// Stored output kept per session, in bytes.
    pub retention_bytes_per_session: u64,
    /// API calls per org per UTC month.
    pub api_calls_per_month: u64,
    /// Browser sign-ins one user may hold at once (a new one ends the oldest).
    pub sign_ins_per_user: u32,
    /// Team orgs (beyond each user's personal org).
    pub team_orgs: bool,
    pub audit_export: bool,
    pub sso: bool,
    pub webhooks: bool,
    pub ip_allow_list: bool,
}

impl Default for PlanSettings {
    fn default() -> Self {
        Self {
            name: String::new(),
            price_usd_month: 0,
            machines: 0,
            seats: 0,
            concurrent_sessions: 0,
            retention_days: 0,
            retention_bytes_per_session: 0,
            api_calls_per_month: 0,
            sign_ins_per_user: 0,
            team_orgs: true,
            audit_export: true,
            sso: true,
            webhooks: true,
            ip_allow_list: true,
        }
    }
}

/// The `[licensing]` table: whose licenses this server accepts, and how long a license
/// activated online keeps working while its issuer cannot be reached.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LicensingSettings {
    /// Issuer license keys (public, in hex: `GET /api/v1/licenses/public-key` on the issuer)
    /// whose license files and answers this server trusts.
    pub trusted_keys: Vec<String>,
    /// Days a license activated online keeps applying after the issuer's last valid answer
    /// (heartbeats failing: a warning shows), before the default plan applies again.
    pub offline_grace_days: u32,
}

impl Default for LicensingSettings {
    fn default() -> Self {
        Self { trusted_keys: Vec::new(), offline_grace_days: 14 }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlansSettings {
    /// The plan of an org without an override, subscription or license.
    pub default: String,
    /// Where a refusal for a plan limit sends people to upgrade; empty for none.
    pub upgrade_url: String,
    pub catalogue: BTreeMap<String, PlanSettings>,
}

const MIB: u64 = 1024 * 1024;

fn plan(name: &str, price: u32, limits: [u32; 5], retention_mib: u64, api: u64, features: bool) -> PlanSettings {
    let [machines, seats, concurrent_sessions, retention_days, sign_ins_per_user] = limits;
    PlanSettings {
        name: name.into(),
        price_usd_month: price,
        machines,
        seats,
        concurrent_sessions,
        retention_days,
        retention_bytes_per_session: retention_mib * MIB,
        api_calls_per_month: api,
        sign_ins_per_user,
        team_orgs: features || seats > 1,
        audit_export: features,
        sso: features && price >= 199,
        webhooks: features,
        ip_allow_list: features && price >= 199,
    }
}

impl Default for PlansSettings {
    fn default() -> Self {
        let catalogue = BTreeMap::from([
            ("free".to_string(), plan("Free", 0, [2, 1, 2, 7, 2], 16, 10_000, false)),
            ("pro".to_string(), plan("Pro", 19, [10, 1, 10, 30, 5], 64, 100_000, false)),
            ("team".to_string(), plan("Team", 49, [50, 10, 50, 90, 5], 256, 1_000_000, true)),
            ("enterprise".to_string(), plan("Enterprise", 199, [0, 0, 0, 365, 0], 1024, 0, true)),
            ("self-hosted".to_string(), PlanSettings { name: "Self-hosted".into(), ..PlanSettings::default() }),
        ]);
        Self { default: "self-hosted".into(), upgrade_url: String::new(), catalogue }
    }
}
