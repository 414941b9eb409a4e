//! The download link verifier (`links::verify`), with the input as a link the way the server's
//! route reads it (`/api/v1/downloads/{artifact}?exp=…&kid=…&sig=…`), checked with a fixed key
//! at a fixed time. Only a link that this key signed for `GET` of that artifact, not yet expired
//! and within the TTL cap, may pass.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessionforge_fuzz::fixtures::{LINK_KEY, LINK_KEY_ID, MAX_LINK_TTL, NOW, link_key, parse_link};
use sessionforge_shared::links::{self, LinkError};

fuzz_target!(|bytes: &[u8]| {
    let Ok(link) = std::str::from_utf8(bytes) else { return };
    let Some((artifact, params)) = parse_link(link) else { return };
    let genuine = || {
        let expected = links::sign(LINK_KEY_ID, &LINK_KEY, artifact, params.exp);
        params.kid == LINK_KEY_ID && params.sig.eq_ignore_ascii_case(&expected.sig)
    };
    match links::verify(link_key, "GET", artifact, &params, NOW, MAX_LINK_TTL) {
        Ok(()) => {
            assert!(genuine(), "a link we did not sign passed: {link}");
            assert!(params.exp >= NOW && params.exp - NOW <= MAX_LINK_TTL as i64, "{link}");
            // The method is signed too: the same link is no good for anything but GET.
            assert_eq!(links::verify(link_key, "HEAD", artifact, &params, NOW, MAX_LINK_TTL), Err(LinkError::Invalid));
        }
        Err(LinkError::Expired) => assert!(genuine() && params.exp < NOW, "{link}"),
        Err(LinkError::Invalid) => {}
    }
});
