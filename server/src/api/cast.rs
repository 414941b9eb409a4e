//! Renders a session's stored output as an asciinema v2 recording: a JSON header line, then one
//! `[seconds, "o", text]` event per stored chunk. UTF-8 sequences split across chunks are
//! reassembled; gaps become `"m"` (marker) events.

use sessionforge_shared::ids::SessionId;

use crate::error::ApiError;
use crate::store::Store;
use crate::store::sessions::Session;

/// Stored output read per database round trip.
const PAGE: usize = 1024 * 1024;

pub async fn render(store: &Store, session: &Session) -> Result<String, ApiError> {
    let header = serde_json::json!({
        "version": 2,
        "width": session.cols,
        "height": session.rows,
        "timestamp": session.started_at,
        "title": format!("{} {}", session.command, session.args.join(" ")).trim_end(),
        "env": { "TERM": "xterm-256color" },
    });
    let mut out = header.to_string();
    out.push('\n');
    let started_ms = session.started_at.saturating_mul(1000);
    let mut decoder = Utf8Carry::default();
    let mut pos = session.retained_from;
    while pos < session.output_end {
        let chunks = read(store, session.id, pos, session.output_end).await?;
        if chunks.is_empty() {
            break;
        }
        for c in chunks {
            let t = (c.at_ms - started_ms).max(0) as f64 / 1000.0;
            let event = match &c.data {
                Some(data) => {
                    let skip = usize::try_from(pos.saturating_sub(c.start)).unwrap_or(0).min(data.len());
                    let text = decoder.push(&data[skip..]);
                    if text.is_empty() {
                        pos = c.end;
                        continue;
                    }
                    serde_json::json!([t, "o", text])
                }
                None => serde_json::json!([t, "m", format!("{} bytes of output were lost", c.end - c.start)]),
            };
            out.push_str(&event.to_string());
            out.push('\n');
            pos = c.end;
        }
    }
    let rest = decoder.finish();
    if !rest.is_empty() {
        out.push_str(&serde_json::json!([0.0, "o", rest]).to_string());
        out.push('\n');
    }
    Ok(out)
}

async fn read(
    store: &Store,
    id: SessionId,
    from: u64,
    to: u64,
) -> Result<Vec<crate::store::output::StoredChunk>, ApiError> {
    Ok(store.read_output(id, from, to, PAGE).await?)
}

/// Decodes UTF-8 across chunk boundaries, replacing invalid bytes with U+FFFD.
#[derive(Default)]
pub struct Utf8Carry {
    pending: Vec<u8>,
}

impl Utf8Carry {
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let valid_up_to = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => self.pending.len(),
        };
        let rest = self.pending.split_off(valid_up_to);
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending = rest;
        text
    }

    pub fn finish(&mut self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reassembles_split_utf8_and_replaces_garbage() {
        let mut d = Utf8Carry::default();
        let snow = "☃".as_bytes();
        assert_eq!(d.push(&[b'a', snow[0]]), "a");
        assert_eq!(d.push(&snow[1..]), "☃");
        assert_eq!(d.push(&[0xff, b'b']), "\u{fffd}b");
        assert_eq!(d.push(&snow[..2]), "");
        assert_eq!(d.finish(), "\u{fffd}");
    }
}
