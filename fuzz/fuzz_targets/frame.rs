//! The binary output frame decoder (`frame::decode`), which reads every binary WebSocket
//! message an agent sends. Whatever it accepts must re-encode to the same bytes, respect the
//! size limit, and have an end offset (`offset + data length`) that exists.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessionforge_shared::frame::{self, FrameError, HEADER_LEN, KIND_OUTPUT, MAX_DATA_LEN};

fuzz_target!(|bytes: &[u8]| {
    match frame::decode(bytes) {
        Ok(f) => {
            assert_eq!(frame::encode_output(f.session_id, f.offset, f.data), bytes, "re-encodes to the same bytes");
            assert!(f.data.len() <= MAX_DATA_LEN);
            assert_eq!(f.end() - f.offset, f.data.len() as u64);
        }
        Err(FrameError::TooShort(n)) => assert!(n == bytes.len() && n < HEADER_LEN),
        Err(FrameError::UnknownKind(k)) => assert!(k == bytes[0] && k != KIND_OUTPUT),
        Err(FrameError::TooLarge(n)) => assert!(n == bytes.len() - HEADER_LEN && n > MAX_DATA_LEN),
        Err(FrameError::PastEnd(offset)) => {
            assert!(offset.checked_add((bytes.len() - HEADER_LEN) as u64).is_none())
        }
    }
});
