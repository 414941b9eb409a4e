//! Binary WebSocket frames carrying terminal output. Layout (all integers big-endian):
//!
//! ```text
//! byte  0       kind (1 = output)
//! bytes 1..17   session id (UUID, 16 bytes)
//! bytes 17..25  offset of the first data byte in the session's output stream (u64)
//! bytes 25..    data
//! ```
//!
//! Offsets make resume, deduplication and "last saved" exact: the same byte always has the same
//! offset, whoever sends it and however often.

use uuid::Uuid;

use crate::ids::SessionId;

/// Kind byte of an output frame.
pub const KIND_OUTPUT: u8 = 1;
/// Bytes before the data.
pub const HEADER_LEN: usize = 1 + 16 + 8;
/// Largest data payload a peer may send in one frame. Agents send at most this much per frame;
/// receivers reject larger frames.
pub const MAX_DATA_LEN: usize = 256 * 1024;

/// A decoded output frame borrowing its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputFrame<'a> {
    pub session_id: SessionId,
    pub offset: u64,
    pub data: &'a [u8],
}

impl OutputFrame<'_> {
    /// The offset just past this frame's data.
    pub fn end(&self) -> u64 {
        self.offset + self.data.len() as u64
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    TooShort(usize),
    UnknownKind(u8),
    TooLarge(usize),
    /// The data would run past the last offset there is (`offset + length > u64::MAX`).
    PastEnd(u64),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooShort(n) => {
                write!(f, "binary frame of {n} bytes is shorter than its {HEADER_LEN}-byte header")
            }
            FrameError::UnknownKind(k) => write!(f, "unknown binary frame kind {k}"),
            FrameError::TooLarge(n) => write!(f, "binary frame carries {n} bytes, more than {MAX_DATA_LEN}"),
            FrameError::PastEnd(offset) => write!(f, "binary frame at offset {offset} runs past the largest offset"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Encodes an output frame.
pub fn encode_output(session_id: SessionId, offset: u64, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + data.len());
    out.push(KIND_OUTPUT);
    out.extend_from_slice(session_id.0.as_bytes());
    out.extend_from_slice(&offset.to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// Decodes a frame, checking its kind, its size and that its data ends at an offset that exists
/// (so [`OutputFrame::end`] cannot overflow).
pub fn decode(bytes: &[u8]) -> Result<OutputFrame<'_>, FrameError> {
    if bytes.len() < HEADER_LEN {
        return Err(FrameError::TooShort(bytes.len()));
    }
    if bytes[0] != KIND_OUTPUT {
        return Err(FrameError::UnknownKind(bytes[0]));
    }
    let data = &bytes[HEADER_LEN..];
    if data.len() > MAX_DATA_LEN {
        return Err(FrameError::TooLarge(data.len()));
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&bytes[1..17]);
    let mut off = [0u8; 8];
    off.copy_from_slice(&bytes[17..25]);
    let offset = u64::from_be_bytes(off);
    if offset.checked_add(data.len() as u64).is_none() {
        return Err(FrameError::PastEnd(offset));
    }
    Ok(OutputFrame { session_id: SessionId(Uuid::from_bytes(id)), offset, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let id = SessionId::new();
        let bytes = encode_output(id, 1 << 40, b"hello\x1b[0m");
        let f = decode(&bytes).expect("decode");
        assert_eq!(f.session_id, id);
        assert_eq!(f.offset, 1 << 40);
        assert_eq!(f.data, b"hello\x1b[0m");
        assert_eq!(f.end(), (1 << 40) + 9);
    }

    #[test]
    fn rejects_bad_frames() {
        assert_eq!(decode(&[1, 2, 3]), Err(FrameError::TooShort(3)));
        let mut bytes = encode_output(SessionId::new(), 0, b"x");
        bytes[0] = 9;
        assert_eq!(decode(&bytes), Err(FrameError::UnknownKind(9)));
        let big = encode_output(SessionId::new(), 0, &vec![0; MAX_DATA_LEN + 1]);
        assert_eq!(decode(&big), Err(FrameError::TooLarge(MAX_DATA_LEN + 1)));
    }

    /// Found by the `frame` fuzz target: a frame carrying one byte at offset 2^64 − 1 decoded,
    /// and its `end()` overflowed (a panic in debug builds, a wrapped offset in release ones).
    #[test]
    fn frames_past_the_last_offset_are_refused() {
        let id = SessionId::new();
        assert_eq!(decode(&encode_output(id, u64::MAX - 2, b"abc")), Err(FrameError::PastEnd(u64::MAX - 2)));
        let last = encode_output(id, u64::MAX - 3, b"abc");
        assert_eq!(decode(&last).map(|f| f.end()), Ok(u64::MAX), "data may end exactly at the last offset");
        assert_eq!(decode(&encode_output(id, u64::MAX, b"")).map(|f| f.end()), Ok(u64::MAX));
    }
}
