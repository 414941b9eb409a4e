//! One session's output as the agent holds it until the server acknowledges storing it.
//!
//! Bytes live in `[acked, end)`; `[acked, sent)` is in flight, `[sent, end)` not yet sent. They
//! are kept in the session's spool on disk (see [`crate::spool`]), so that a killed agent loses
//! nothing, or in memory when there is no spool. Either way the buffer is bounded by
//! *backpressure*, not by dropping: once `limit` bytes are unacknowledged, [`is_full`] says so and
//! the PTY reader stops reading until the server catches up, exactly as a slow terminal makes a
//! program wait. A gap is reported only for what is truly lost: bytes the spool could not take
//! (disk full) beyond what memory may hold, or spooled bytes that can no longer be read.
//!
//! After a reconnect the server says where its *stored* output ends (which may be behind what
//! it received): bytes before that are forgotten and sending resumes there, reporting a gap if
//! the agent no longer holds those bytes.
//!
//! [`is_full`]: OutputBuffer::is_full

use std::collections::VecDeque;

use crate::spool::{Meta, Spool};

/// The default bound without a spool: 8 MiB per session.
pub const DEFAULT_LIMIT: usize = 8 * 1024 * 1024;
/// The default bound with a spool: 256 MiB per session.
pub const DEFAULT_SPOOL_LIMIT: u64 = 256 * 1024 * 1024;
/// Bytes memory may hold beyond the bound before the oldest are dropped (and reported): only a
/// producer that ignores backpressure, or a spool that cannot be written, gets there.
const MEMORY_SLACK: usize = 8 * 1024 * 1024;

/// What to send next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    /// Bytes `[offset, offset + length)` were lost before being sent.
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
    spool: Option<Spool>,
    /// The newest bytes that are not in the spool: all of them without a spool, or those the
    /// spool could not take. They start at `mem_start`, which is the spool's end when there is
    /// one.
    mem: VecDeque<u8>,
    mem_start: u64,
    /// Everything before this is stored on the server (or lost and reported).
    acked: u64,
    /// Everything before this has been sent (or reported as a gap).
    sent: u64,
    /// A loss not yet reported: `[from, to)`.
    gap: Option<(u64, u64)>,
    /// Most unacknowledged bytes before the producer must wait.
    limit: u64,
    /// The spool failed and this was logged.
    spool_failed: bool,
}

impl OutputBuffer {
    /// A buffer in memory, bounded at `limit` unacknowledged bytes.
    pub fn new(limit: usize) -> Self {
        Self::build(None, 0, limit.max(1) as u64)
    }

    /// A buffer spooled to disk, bounded at `limit` unacknowledged bytes.
    pub fn spooled(spool: Spool, limit: u64) -> Self {
        let start = spool.start();
        let mut b = Self::build(Some(spool), start, limit.max(1));
        b.mem_start = b.spool.as_ref().map_or(start, Spool::end);
        b
    }

    fn build(spool: Option<Spool>, start: u64, limit: u64) -> Self {
        Self {
            spool,
            mem: VecDeque::new(),
            mem_start: start,
            acked: start,
            sent: start,
            gap: None,
            limit,
            spool_failed: false,
        }
    }

    /// Offset just past the newest byte.
    pub fn end(&self) -> u64 {
        self.mem_start + self.mem.len() as u64
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
        usize::try_from(self.end().saturating_sub(self.acked)).unwrap_or(usize::MAX)
    }

    /// Whether the producer must wait for the server before adding more.
    pub fn is_full(&self) -> bool {
        self.end().saturating_sub(self.acked) >= self.limit
    }

    /// Whether everything produced so far is stored on the server.
    pub fn fully_acked(&self) -> bool {
        self.acked >= self.end() && self.gap.is_none()
    }

    /// Whether the bytes live in a spool on disk.
    pub fn is_spooled(&self) -> bool {
        self.spool.is_some()
    }

    /// Records what the server must be told about the session beside its spooled output.
    pub fn write_meta(&self, meta: &Meta) {
        if let Some(spool) = &self.spool
            && let Err(e) = spool.write_meta(meta)
        {
            tracing::warn!(error = %e, "cannot update the session's spool");
        }
    }

    /// Deletes the spool (the session is over and all of it stored).
    pub fn discard(&mut self) {
        if let Some(spool) = self.spool.take() {
            spool.remove();
        }
    }

    /// Appends output: to the spool when there is one (it can take anything the PTY gives),
    /// else to memory. The caller waits while [`Self::is_full`].
    pub fn push(&mut self, data: &[u8]) {
        if self.spool.is_some()
            && self.flush_to_spool()
            && let Some(spool) = &mut self.spool
        {
            match spool.append(data) {
                Ok(()) => {
                    self.mem_start = spool.end();
                    return;
                }
                Err(e) if !self.spool_failed => {
                    self.spool_failed = true;
                    tracing::warn!(error = %e, "cannot write the session's spool; holding output in memory");
                }
                Err(_) => {}
            }
        }
        self.mem.extend(data);
        let cap = usize::try_from(self.limit).unwrap_or(usize::MAX).saturating_add(MEMORY_SLACK);
        if self.mem.len() > cap {
            let excess = self.mem.len() - cap;
            let to = self.mem_start + excess as u64;
            if self.sent < to {
                self.note_loss(self.sent.max(self.mem_start), to);
                self.sent = to;
            }
            self.mem.drain(..excess);
            self.mem_start = to;
            self.acked = self.acked.max(to);
        }
    }

    /// Moves bytes held in memory because the spool could not take them into the spool, in
    /// order; returns whether memory is empty now.
    fn flush_to_spool(&mut self) -> bool {
        let Some(spool) = &mut self.spool else { return self.mem.is_empty() };
        while !self.mem.is_empty() {
            let (front, _) = self.mem.as_slices();
            let n = front.len();
            if spool.append(front).is_err() {
                return false;
            }
            self.mem.drain(..n);
            self.mem_start += n as u64;
        }
        true
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

    /// The first offset still held.
    fn held_from(&self) -> u64 {
        self.spool.as_ref().map_or(self.mem_start, Spool::start).min(self.mem_start)
    }

    /// The server stored everything before `offset`.
    pub fn ack(&mut self, offset: u64) {
        let offset = offset.min(self.end());
        if offset <= self.acked {
            return;
        }
        self.acked = offset;
        self.sent = self.sent.max(offset);
        if let Some(spool) = &mut self.spool {
            spool.release_before(offset);
        }
        if offset > self.mem_start {
            let n = usize::try_from(offset - self.mem_start).unwrap_or(usize::MAX).min(self.mem.len());
            self.mem.drain(..n);
            self.mem_start += n as u64;
        }
    }

    /// After a reconnect: the server's stored output ends at `server_end`. Sending resumes
    /// there; if the agent no longer holds bytes from there, that range becomes a gap.
    pub fn resume_from(&mut self, server_end: u64) {
        let server_end = server_end.min(self.end());
        let held_from = self.held_from();
        if server_end < held_from {
            self.gap = Some((server_end, held_from));
            self.sent = held_from;
            self.acked = server_end;
        } else {
            // Any unreported loss lies before what is held, so the server already has it.
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
        let offset = self.sent;
        let max = max.max(1);
        if let Some(spool) = &self.spool
            && offset < spool.end()
            && offset >= spool.start()
        {
            match spool.read(offset, max) {
                Ok(data) => {
                    self.sent += data.len() as u64;
                    return Some(Pending::Data { offset, data });
                }
                Err(e) => {
                    // The spool lost these bytes (deleted or damaged on disk): say so.
                    tracing::warn!(error = %e, "cannot read the session's spool; reporting the loss");
                    let to = spool.end();
                    self.sent = to;
                    return Some(Pending::Gap { offset, length: to - offset });
                }
            }
        }
        if offset < self.mem_start {
            // Neither held in memory nor spooled (a hole between spool segments).
            self.sent = self.mem_start;
            return Some(Pending::Gap { offset, length: self.mem_start - offset });
        }
        let skip = usize::try_from(offset - self.mem_start).unwrap_or(0);
        let n = (self.mem.len() - skip).min(max);
        let data: Vec<u8> = self.mem.range(skip..skip + n).copied().collect();
        self.sent += n as u64;
        Some(Pending::Data { offset, data })
    }

    pub fn has_pending(&self) -> bool {
        self.gap.is_some() || self.sent < self.end()
    }
}

#[cfg(test)]
mod tests;
