//! The fixed keys and clock the fuzz targets verify against, and how a target reads a download
//! link. The committed seeds in `fuzz/corpus/` are signed with these keys, so genuine manifests
//! and links are where the fuzzer starts; `shared/tests/fuzz_seeds.rs` includes this file to
//! check (and, when asked, rewrite) those seeds. Test keys only: nothing real is signed with
//! them.

use ed25519_dalek::SigningKey;
use sessionforge_shared::links::LinkParams;
use uuid::Uuid;

/// Seed of the ed25519 key the committed manifests are signed with.
const MANIFEST_KEY_SEED: [u8; 32] = [0x5f; 32];
/// The HMAC key the committed download links are signed with, and its id.
pub const LINK_KEY: [u8; 32] = [0x4c; 32];
pub const LINK_KEY_ID: &str = "k1";
/// The clock the link target verifies at (Unix seconds, in 2027): fixed, so that the seeds'
/// links stay valid for ever.
pub const NOW: i64 = 1_800_000_000;
/// The server's default cap on how far a link may reach into the future (24 h).
pub const MAX_LINK_TTL: u64 = 86_400;
/// Where download links point, before the artifact id.
pub const DOWNLOADS_PATH: &str = "/api/v1/downloads/";

/// Seed of the issuer key the committed license files are signed with.
const LICENSE_SIGNING_SEED: [u8; 32] = [0x1c; 32];
/// The license key the committed encrypted license files are encrypted under.
pub const LICENSE_KEY: &str = "SF-FZZ0K-EY0F0-R0SEE-DS00J";

/// The issuer key committed license files are signed with.
pub fn license_signing_key() -> SigningKey {
    SigningKey::from_bytes(&LICENSE_SIGNING_SEED)
}

/// The key committed manifests are signed with.
pub fn manifest_key() -> SigningKey {
    SigningKey::from_bytes(&MANIFEST_KEY_SEED)
}

/// The server's key lookup, with one key.
pub fn link_key(id: &str) -> Option<&'static [u8]> {
    (id == LINK_KEY_ID).then_some(LINK_KEY.as_slice())
}

/// A download link as the server's route sees it: `/api/v1/downloads/{artifact}?exp=…&kid=…&sig=…`
/// (parameters in any order; the last of a repeated one wins). `None` when the route would not
/// match or a parameter is missing or not of its type, as the server answers those before it
/// verifies anything.
pub fn parse_link(link: &str) -> Option<(Uuid, LinkParams)> {
    let rest = link.strip_prefix(DOWNLOADS_PATH)?;
    let (id, query) = rest.split_once('?')?;
    let artifact = Uuid::parse_str(id).ok()?;
    let (mut exp, mut kid, mut sig) = (None, None, None);
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("exp", v)) => exp = Some(v.parse::<i64>().ok()?),
            Some(("kid", v)) => kid = Some(v.to_string()),
            Some(("sig", v)) => sig = Some(v.to_string()),
            _ => {}
        }
    }
    Some((artifact, LinkParams { exp: exp?, kid: kid?, sig: sig? }))
}
