//! The HTTP `Range` header parser of artifact downloads (`http_range::parse`), with the input as
//! the header's value, resolved against file sizes from empty to the largest there can be. A
//! range it returns must lie inside the file, so that the server never seeks or counts past it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessionforge_shared::http_range::{self, Unsatisfiable};

/// File sizes every header is resolved against: the edges, and ordinary ones.
const SIZES: [u64; 7] = [0, 1, 2, 100, 1 << 20, u64::MAX - 1, u64::MAX];

fuzz_target!(|bytes: &[u8]| {
    // Header values that are not visible ASCII never reach the parser (`to_str` refuses them),
    // but the parser takes any `&str`, so any UTF-8 is fair game.
    let Ok(header) = std::str::from_utf8(bytes) else { return };
    for size in SIZES {
        match http_range::parse(Some(header), size) {
            Ok(Some(r)) => {
                assert!(r.start() <= r.end() && r.end() < size, "{header:?} on {size}: {r:?}");
                assert_eq!(r.length(), r.end() - r.start() + 1);
                assert!(!header.contains(','), "several ranges are answered with the whole file");
            }
            Ok(None) => {}
            Err(Unsatisfiable) => assert!(header.trim().starts_with("bytes="), "{header:?}"),
        }
    }
    assert_eq!(http_range::parse(None, u64::MAX), Ok(None));
});
