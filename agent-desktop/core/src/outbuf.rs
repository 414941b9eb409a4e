//! One session's output as the agent holds it until the server acknowledges storing it.
//!
//! Bytes live in `[acked, end)`; `[acked, sent)` is in flight, `[sent, end)` not yet sent.
//! The buffer is bounded: when a push would exceed the bound the oldest bytes are dropped, and
//! if any of them had not been sent, the loss is reported as an explicit gap, never silently.
//! After a reconnect the server says where its *stored* output ends (which may be behind what
//! it received): bytes before that are forgotten and sending resumes there, reporting a gap if
//! the agent no longer holds those bytes.

use std::collections::VecDeque;

/// The default bound: 8 MiB per session.
pub const DEFAULT_LIMIT: usize = 8 * 1024 * 1024;

/// What to send next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    /// Bytes `[offset, offset + data.len())` were lost before being sent.
    Gap {
        offset: u64,
        length: u64,
    },
    Data {
        offset: u64,
        data: Vec<u8>,
    },
}

#[derive(Debug)]
pub struct OutputBuffer {
    buf: VecDeque<u8>,
    /// Offset of `buf[0]`.
    start: u64,
    /// Everything before this is stored on the server (or lost and reported).
    acked: u64,
    /// Everything before this has been sent (or reported as a gap).
    sent: u64,
    /// A loss not yet reported: `[from, to)`.
    gap: Option<(u64, u64)>,
    limit: usize,
}

impl OutputBuffer {
    pub fn new(limit: usize) -> Self {
        Self { buf: VecDeque::new(), start: 0, acked: 0, sent: 0, gap: None, limit: limit.max(1) }
    }

    /// Offset just past the newest byte.
    pub fn end(&self) -> u64 {
        self.start + self.buf.len() as u64
    }

    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Everything before this has been sent (or reported as a gap).
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Bytes held (unacknowledged).
    pub fn held(&self) -> usize {
        self.buf.len()
    }

    /// Whether everything produced so far is stored on the server.
    pub fn fully_acked(&self) -> bool {
        self.acked >= self.end() && self.gap.is_none()
    }

    /// Appends output, dropping the oldest held bytes if the bound is exceeded.
    pub fn push(&mut self, data: &[u8]) {
        if data.len() >= self.limit {
            // Only the newest `limit` bytes can be kept.
            let keep = &data[data.len() - self.limit..];
            let new_start = self.end() + (data.len() - self.limit) as u64;
            self.drop_front_to(self.end());
            self.note_loss(self.start.max(self.sent), new_start);
            self.buf.clear();
            self.start = new_start;
            self.buf.extend(keep);
            self.acked = self.acked.max(new_start);
            self.sent = self.sent.max(new_start);
            return;
        }
        self.buf.extend(data);
        if self.buf.len() > self.limit {
            let excess = self.buf.len() - self.limit;
            self.drop_front_to(self.start + excess as u64);
        }
    }

    /// Drops held bytes before `to`, reporting any that were never sent.
    fn drop_front_to(&mut self, to: u64) {
        if to <= self.start {
            return;
        }
        let n = usize::try_from(to - self.start).unwrap_or(usize::MAX).min(self.buf.len());
        if self.sent < to {
            self.note_loss(self.sent, to);
            self.sent = to;
        }
        self.buf.drain(..n);
        self.start = to;
        self.acked = self.acked.max(to);
    }

    fn note_loss(&mut self, from: u64, to: u64) {
        if to <= from {
            return;
        }
        self.gap = Some(match self.gap {
            Some((f, t)) if t >= from => (f.min(from), t.max(to)),
            Some(_) | None => (from, to),
        });
    }

    /// The server stored everything before `offset`.
    pub fn ack(&mut self, offset: u64) {
        let offset = offset.min(self.end());
        if offset <= self.acked {
            return;
        }
        let n = usize::try_from(offset.saturating_sub(self.start)).unwrap_or(usize::MAX).min(self.buf.len());
        self.buf.drain(..n);
        self.start += n as u64;
        self.acked = offset;
        self.sent = self.sent.max(offset);
    }

    /// After a reconnect: the server's stored output ends at `server_end`. Sending resumes
    /// there; if the agent no longer holds bytes from there, that range becomes a gap.
    pub fn resume_from(&mut self, server_end: u64) {
        let server_end = server_end.min(self.end());
        if server_end < self.start {
            self.gap = Some((server_end, self.start));
            self.sent = self.start;
            self.acked = server_end;
        } else {
            // Any unreported loss lies before `start`, so the server already has what follows.
            self.ack(server_end);
            self.sent = server_end;
            self.gap = None;
        }
    }

    /// The next thing to send (at most `max` bytes of data), marking it sent.
    pub fn next_pending(&mut self, max: usize) -> Option<Pending> {
        if let Some((from, to)) = self.gap.take() {
            self.sent = self.sent.max(to);
            return Some(Pending::Gap { offset: from, length: to - from });
        }
        if self.sent >= self.end() {
            return None;
        }
        let skip = usize::try_from(self.sent - self.start).unwrap_or(0);
        let n = (self.buf.len() - skip).min(max.max(1));
        let data: Vec<u8> = self.buf.range(skip..skip + n).copied().collect();
        let offset = self.sent;
        self.sent += n as u64;
        Some(Pending::Data { offset, data })
    }

    pub fn has_pending(&self) -> bool {
        self.gap.is_some() || self.sent < self.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(b: &mut OutputBuffer) -> Vec<Pending> {
        std::iter::from_fn(|| b.next_pending(4)).collect()
    }

    #[test]
    fn sends_in_chunks_and_forgets_acked_bytes() {
        let mut b = OutputBuffer::new(100);
        b.push(b"hello world");
        assert_eq!(b.next_pending(5), Some(Pending::Data { offset: 0, data: b"hello".to_vec() }));
        assert_eq!(b.next_pending(100), Some(Pending::Data { offset: 5, data: b" world".to_vec() }));
        assert_eq!(b.next_pending(100), None);
        assert_eq!(b.held(), 11);
        b.ack(5);
        assert_eq!(b.held(), 6);
        b.ack(11);
        assert!(b.fully_acked());
        assert_eq!(b.end(), 11);
    }

    #[test]
    fn resends_unacked_bytes_after_reconnect() {
        let mut b = OutputBuffer::new(100);
        b.push(b"abcdefgh");
        drain(&mut b);
        b.ack(2);
        // The connection dropped; the server stored up to 5 before it died.
        b.resume_from(5);
        assert_eq!(drain(&mut b), vec![Pending::Data { offset: 5, data: b"fgh".to_vec() }]);
        // Or it stored less than it acked (it restarted from an older state): resend from there.
        let mut b = OutputBuffer::new(100);
        b.push(b"abcdefgh");
        drain(&mut b);
        b.resume_from(3);
        assert_eq!(
            drain(&mut b),
            vec![Pending::Data { offset: 3, data: b"defg".to_vec() }, Pending::Data { offset: 7, data: b"h".to_vec() }]
        );
    }

    /// `welcome` carries where the server's *stored* output ends, which may lie behind what it
    /// received: only the stored bytes are forgotten, everything after them is sent again.
    #[test]
    fn resume_from_the_stored_end_resends_received_but_unstored_bytes() {
        let mut b = OutputBuffer::new(100);
        b.push(b"0123456789");
        drain(&mut b); // all ten received by the server…
        b.ack(4); // …which stored and acked four, stored six, then the connection dropped.
        b.resume_from(6);
        assert_eq!(b.held(), 4, "stored bytes are forgotten");
        assert_eq!(drain(&mut b), vec![Pending::Data { offset: 6, data: b"6789".to_vec() }]);
        // The stored end equals the acked end: nothing is forgotten twice, the rest is resent.
        let mut b = OutputBuffer::new(100);
        b.push(b"abcdef");
        drain(&mut b);
        b.ack(3);
        b.resume_from(3);
        assert_eq!(drain(&mut b), vec![Pending::Data { offset: 3, data: b"def".to_vec() }]);
        b.ack(6);
        assert!(b.fully_acked());
    }

    #[test]
    fn overflow_of_unsent_bytes_is_an_explicit_gap() {
        let mut b = OutputBuffer::new(4);
        b.push(b"ab");
        b.push(b"cdef"); // "ab" is dropped unsent
        assert_eq!(
            drain(&mut b),
            vec![Pending::Gap { offset: 0, length: 2 }, Pending::Data { offset: 2, data: b"cdef".to_vec() }]
        );
        assert_eq!(b.end(), 6);
    }

    #[test]
    fn overflow_of_sent_but_unacked_bytes_is_detected_on_resume() {
        let mut b = OutputBuffer::new(4);
        b.push(b"abcd");
        drain(&mut b); // all sent, none acked
        b.push(b"ef"); // drops "ab" (sent, so no gap yet)
        assert_eq!(drain(&mut b), vec![Pending::Data { offset: 4, data: b"ef".to_vec() }]);
        // The server never stored anything: bytes 0..2 are gone.
        b.resume_from(0);
        assert_eq!(
            drain(&mut b),
            vec![Pending::Gap { offset: 0, length: 2 }, Pending::Data { offset: 2, data: b"cdef".to_vec() }]
        );
    }

    #[test]
    fn a_push_larger_than_the_bound_keeps_the_newest_bytes() {
        let mut b = OutputBuffer::new(3);
        b.push(b"xy");
        b.push(b"0123456");
        assert_eq!(
            drain(&mut b),
            vec![Pending::Gap { offset: 0, length: 6 }, Pending::Data { offset: 6, data: b"456".to_vec() }]
        );
        assert_eq!(b.end(), 9);
        assert!(b.held() <= 3);
    }

    #[test]
    fn memory_stays_bounded_under_sustained_output() {
        let mut b = OutputBuffer::new(1000);
        for _ in 0..10_000 {
            b.push(&[7u8; 97]);
            assert!(b.held() <= 1000);
        }
        assert_eq!(b.end(), 970_000);
    }
}
