//! The REST API under `/api/v1`: one `#[OpenApi]` impl per resource, combined into one
//! OpenAPI service whose spec is served at `/api/openapi.json` and committed to `openapi/`.

mod admin;
mod audit;
mod auth;
pub mod billing;
mod billing_admin;
pub mod body;
mod cast;
pub mod conform;
pub mod downloads;
pub mod dto;
mod entitlements;
pub mod event_streams;
mod events;
pub mod fields;
mod health;
mod installed_license;
mod invitations;
mod keys;
mod license_checks;
mod licenses;
mod links;
mod machines;
mod org_policy;
mod orgs;
pub mod params;
mod preferences;
mod releases;
mod session_start;
mod sessions;
mod setup;
mod signup;
mod templates;
mod usage;
pub mod validate;

use poem_openapi::{OpenApiService, Tags};

/// Declares the API resources once: the `Api` type and the value `service` serves. Groups are
/// nested tuples because poem-openapi implements `OpenApi` for tuples of at most 16.
macro_rules! resources {
    ($( ( $($api:path),* $(,)? ) ),* $(,)?) => {
        /// Every API resource, in the order they appear in the docs.
        pub type Api = ($(($($api,)*),)*);

        fn resources() -> Api {
            ($(($($api,)*),)*)
        }
    };
}

resources!(
    (
        health::HealthApi,
        setup::SetupApi,
        auth::AuthApi,
        signup::SignupApi,
        preferences::PreferencesApi,
        keys::KeysApi,
        orgs::OrgsApi,
        invitations::InvitationsApi,
        org_policy::OrgPolicyApi,
    ),
    (
        events::EventsApi,
        machines::MachinesApi,
        sessions::SessionsApi,
        templates::TemplatesApi,
        releases::ReleasesApi,
        downloads::DownloadsApi,
        admin::AdminApi,
        admin::AdminPeopleApi,
        audit::AuditApi,
        entitlements::EntitlementsApi,
        usage::UsageApi,
        billing::BillingApi,
        billing_admin::BillingAdminApi,
        licenses::LicensesApi,
        license_checks::LicenseChecksApi,
        installed_license::InstalledLicenseApi,
    ),
);

#[derive(Tags)]
pub enum ApiTags {
    /// Liveness and readiness.
    Health,
    /// First-run creation of the first administrator.
    Setup,
    /// Browser sign-in, sign-out and account settings.
    Auth,
    /// Personal API keys.
    ApiKeys,
    /// Organisations (teams) and their members.
    Orgs,
    /// Server administration.
    Admin,
    /// Enrolling machines, and the org's machines.
    Machines,
    /// Sessions: list, inspect, read output, start and stop.
    Sessions,
    /// Agent releases, signed manifests and downloads.
    Releases,
    /// Licenses: issuing, validating and activating them, and the one this server runs under.
    Licenses,
}

pub fn service() -> OpenApiService<Api, ()> {
    OpenApiService::new(resources(), "SessionForge", env!("CARGO_PKG_VERSION")).description(
        "Watch, start, stop and type into AI coding sessions on your machines. Authenticate with a \
         browser sign-in cookie (state-changing requests also send `X-CSRF-Token`) or a personal API \
         key as `Authorization: Bearer sfk_…`. Every error is JSON `{code, message}`. Two WebSocket \
         endpoints are not listed here: `GET /api/v1/agent/connect` (agents) and \
         `GET /api/v1/orgs/{org}/sessions/{session}/attach?from=OFFSET` (viewers); they are described in \
         docs/protocol.md and, machine-readably, in docs/asyncapi.json (AsyncAPI 3.0). Stripe's webhook, \
         `POST /api/v1/billing/stripe/webhook`, is not listed either: it reads the exact bytes Stripe signed \
         (see the README's Billing section).",
    )
}

/// The OpenAPI document as pretty JSON, exactly as committed in `openapi/openapi.json`.
pub fn spec_json() -> String {
    let mut spec = service().spec();
    spec.push('\n');
    spec
}
