//! Renders a session's stored output as an asciinema v2 recording: a JSON header line (with the
//! size the terminal had where the recording starts), then one `[seconds, "o", text]` event per
//! stored chunk, and `[seconds, "r", "COLSxROWS"]` at the exact output offset of every resize.
//! UTF-8 sequences split across chunks are reassembled; gaps become `"m"` (marker) events. The
//! recording is streamed a page of stored output at a time, so a long session never sits in
//! memory whole.

use std::collections::VecDeque;

use bytes::Bytes;
use futures_util::Stream;
use futures_util::stream;
use sessionforge_shared::ids::SessionId;

use crate::store::Store;
use crate::store::sessions::{Resize, Session};

/// Stored output read per database round trip (and per streamed piece).
const PAGE: usize = 1024 * 1024;

/// Where a recording in progress is.
struct Cursor {
    store: Store,
    id: SessionId,
    started_ms: i64,
    pos: u64,
    end: u64,
    decoder: Utf8Carry,
    /// Time of the last event, so that a final flush keeps the events in order.
    last_t: f64,
    header: Option<String>,
    /// Resizes still to come, in offset order.
    resizes: VecDeque<Resize>,
    done: bool,
}

/// The recording as a stream of pieces. A storage error ends it early (and is logged): the
/// response has started by then, so it cannot become an error status.
pub fn render(
    store: Store,
    session: &Session,
    resizes: Vec<Resize>,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    // The size in force where the recording starts: the last resize at or before it (else the
    // first one; sessions recorded before sizes were kept have none, and their size now is all
    // we know). Later resizes become events.
    let first = resizes.iter().rposition(|r| r.at_offset <= session.retained_from).unwrap_or(0);
    let (width, height) = resizes.get(first).map_or((session.cols, session.rows), |r| (r.cols, r.rows));
    let resizes: VecDeque<Resize> = resizes.into_iter().skip(first + 1).collect();
    let header = serde_json::json!({
        "version": 2,
        "width": width,
        "height": height,
        "timestamp": session.started_at,
        "title": format!("{} {}", session.command, session.args.join(" ")).trim_end(),
        "env": { "TERM": "xterm-256color" },
    });
    let cursor = Cursor {
        store,
        id: session.id,
        started_ms: session.started_at.saturating_mul(1000),
        pos: session.retained_from,
        end: session.output_end,
        decoder: Utf8Carry::default(),
        last_t: 0.0,
        header: Some(format!("{header}\n")),
        resizes,
        done: false,
    };
    stream::unfold(cursor, |mut c| async move {
        if let Some(h) = c.header.take() {
            return Some((Ok(Bytes::from(h)), c));
        }
        if c.done {
            return None;
        }
        let piece = c.next_page().await;
        Some((Ok(Bytes::from(piece)), c))
    })
}

impl Cursor {
    /// The events of the next page of stored output; the last page also flushes the decoder.
    async fn next_page(&mut self) -> String {
        let mut out = String::new();
        let chunks = if self.pos < self.end {
            match self.store.read_output(self.id, self.pos, self.end, PAGE).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(session = %self.id, error = %e, "recording cut short");
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        if chunks.is_empty() {
            self.done = true;
            let rest = self.decoder.finish();
            if !rest.is_empty() {
                push_event(&mut out, self.last_t, "o", &rest);
            }
            // Resizes after the last output (or of a session that printed nothing).
            while let Some(r) = self.resizes.pop_front() {
                self.resize_event(&mut out, r);
            }
            return out;
        }
        for chunk in chunks {
            let t = (chunk.at_ms.saturating_sub(self.started_ms)).max(0) as f64 / 1000.0;
            // Chunk times come from the server's clock; keep the events in order regardless.
            let t = t.max(self.last_t);
            match &chunk.data {
                Some(data) => {
                    // Output up to each resize inside this chunk, then the resize, then the rest.
                    loop {
                        let skip = usize::try_from(self.pos.saturating_sub(chunk.start)).unwrap_or(0).min(data.len());
                        let cut = match self.resizes.front() {
                            Some(r) if r.at_offset < chunk.end => {
                                usize::try_from(r.at_offset.saturating_sub(chunk.start))
                                    .unwrap_or(0)
                                    .clamp(skip, data.len())
                            }
                            _ => data.len(),
                        };
                        let text = self.decoder.push(&data[skip..cut]);
                        if !text.is_empty() {
                            push_event(&mut out, t, "o", &text);
                            self.last_t = t;
                        }
                        self.pos = chunk.start + cut as u64;
                        match self.resizes.front().copied() {
                            Some(r) if r.at_offset < chunk.end => {
                                self.resizes.pop_front();
                                self.resize_event(&mut out, r);
                            }
                            _ => break,
                        }
                    }
                }
                None => {
                    let lost = format!("{} bytes of output were lost", chunk.end - chunk.start);
                    push_event(&mut out, t, "m", &lost);
                    self.last_t = t;
                }
            }
            self.pos = chunk.end;
        }
        out
    }
}

impl Cursor {
    /// An `"r"` event, at the resize's own time but never before the events already written.
    fn resize_event(&mut self, out: &mut String, r: Resize) {
        let t = ((r.at_ms.saturating_sub(self.started_ms)).max(0) as f64 / 1000.0).max(self.last_t);
        push_event(out, t, "r", &format!("{}x{}", r.cols, r.rows));
        self.last_t = t;
    }
}

fn push_event(out: &mut String, t: f64, kind: &str, text: &str) {
    out.push_str(&serde_json::json!([t, kind, text]).to_string());
    out.push('\n');
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
