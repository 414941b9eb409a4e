//! One attached viewer: replays stored output from the offset it asked for, then follows live
//! output, and forwards its input and resizes to the agent when its role allows.
//!
//! Flow control: `pause` stops sending (during a replay as well as live); `resume` carries on.
//! A paused or slow viewer never holds anyone up: it lags on the session's bounded broadcast and
//! is resynced from storage. A viewer whose socket accepts nothing for [`WRITE_TIMEOUT`] is
//! dropped. Its messages are read by a separate task into a small queue, so that replays and
//! live sending can look at them between pages without ever cancelling a half-done write (what
//! a viewer sends, and what is done with it, is in `controls`).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use poem::web::websocket::{Message, WebSocketStream};
use sessionforge_shared::frame;
use sessionforge_shared::protocol::{SessionState, ViewerEvent};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc};

mod controls;

use super::hub::Hub;
use super::live::{Item, LiveSession, Subscription, TermSize};
use crate::access::{AccessGuard, Grant};
use crate::store::audit::AuditEntry;
use controls::{Control, read_controls};

/// Stored output read per database round trip during a replay.
const REPLAY_PAGE: usize = 256 * 1024;
/// Most queued live items written before one flush.
const WRITE_BATCH: usize = 64;
/// A viewer whose socket takes nothing for this long is gone (its TCP window stays shut).
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Viewer messages queued before the reader stops reading the socket.
const CONTROL_QUEUE: usize = 64;

type WsResult = io::Result<()>;

/// Serves one viewer socket until either side closes it.
pub async fn serve(
    hub: Arc<Hub>,
    live: Arc<LiveSession>,
    socket: WebSocketStream,
    from: u64,
    can_input: bool,
    access: ViewerAccess,
) {
    let (sink, stream) = socket.split();
    let (tx, ctrl) = mpsc::channel(CONTROL_QUEUE);
    let reader = tokio::spawn(read_controls(stream, tx));
    let received = Vec::with_capacity(WRITE_BATCH + 1);
    let can_input = can_input && *access.guard.grant.borrow() == Grant::Full;
    let (access, typed) = (access.guard, access.first_input);
    let mut viewer = Viewer {
        hub,
        live,
        sink,
        pos: from,
        can_input,
        ctrl,
        paused: false,
        told: None,
        received,
        access,
        typed,
        bad_messages: 0,
    };
    match viewer.run().await {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
        Err(e) => tracing::debug!(error = %e, "viewer disconnected"),
    }
    reader.abort();
}

/// The next live item if one is waiting, with a lag reported like `recv` reports it.
fn try_next(rx: &mut broadcast::Receiver<Item>) -> Option<Result<Item, RecvError>> {
    match rx.try_recv() {
        Ok(item) => Some(Ok(item)),
        Err(broadcast::error::TryRecvError::Empty) => None,
        Err(broadcast::error::TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
        Err(broadcast::error::TryRecvError::Closed) => Some(Err(RecvError::Closed)),
    }
}

/// The viewer went away (its socket closed); not an error worth logging.
fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "viewer gone")
}

struct Viewer {
    hub: Arc<Hub>,
    live: Arc<LiveSession>,
    sink: SplitSink<WebSocketStream, Message>,
    /// Everything before this offset has been delivered (or reported as a gap).
    pos: u64,
    can_input: bool,
    ctrl: mpsc::Receiver<Control>,
    paused: bool,
    /// The state and size this viewer was last told, so that whatever changed while it lagged
    /// (and fell out of the broadcast ring) is told again after a resync.
    told: Option<Told>,
    /// When the live items of the batch being written were received (for the latency metric).
    received: Vec<Instant>,
    /// The access this socket was opened with; a revocation closes it.
    access: AccessGuard,
    /// Recorded in the audit log when this viewer first types (that someone typed, never what).
    typed: Option<AuditEntry>,
    /// Messages that could not be parsed; past [`MAX_PROTOCOL_ERRORS`] the socket is closed.
    bad_messages: u32,
}

/// Unparseable messages a viewer may send before its socket is closed (as for agents).
const MAX_PROTOCOL_ERRORS: u32 = 16;

/// Who opened a viewer socket: the access it holds, and the audit event its first input records.
pub struct ViewerAccess {
    pub guard: AccessGuard,
    pub first_input: Option<AuditEntry>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Told {
    state: SessionState,
    exit_code: Option<i32>,
    size: TermSize,
}

impl Viewer {
    async fn run(&mut self) -> WsResult {
        // A viewer may ask for an offset beyond what the server has (it saw live output that
        // was not stored before a crash): it then waits for the agent to resend from there.
        let mut sub = self.live.subscribe(self.pos);
        // Output before `retained_from` is gone (retention): `from` says where it starts. Later
        // resyncs report anything lost meanwhile as a gap instead.
        self.pos = self.pos.max(sub.retained_from);
        self.event(&ViewerEvent::Attached {
            session_id: self.live.id,
            can_input: self.can_input,
            state: sub.state,
            exit_code: sub.exit_code,
            from: self.pos,
            end: sub.live_end,
            cols: sub.size.cols,
            rows: sub.size.rows,
            size_locked: sub.size.locked,
        })
        .await?;
        self.told = Some(Told { state: sub.state, exit_code: sub.exit_code, size: sub.size });
        self.catch_up(&mut sub).await?;
        loop {
            tokio::select! {
                item = sub.rx.recv(), if !self.paused => {
                    // Send whatever else is already waiting in one flush. A lag noticed while
                    // collecting it is a lag too: the receiver has skipped items by then.
                    let mut next = Some(item);
                    let mut fed = 0;
                    self.received.clear();
                    while let Some(item) = next.take() {
                        match item {
                            Ok(item) => {
                                if let Item::Output { received: Some(at), .. } = item {
                                    self.received.push(at);
                                }
                                self.feed(&item).await?;
                            }
                            Err(RecvError::Lagged(_)) => {
                                self.flush().await?;
                                self.resync(&mut sub).await?;
                                break;
                            }
                            Err(RecvError::Closed) => {
                                self.flush().await?;
                                return Ok(());
                            }
                        }
                        fed += 1;
                        if fed <= WRITE_BATCH {
                            next = try_next(&mut sub.rx);
                        }
                    }
                    self.flush().await?;
                    for at in self.received.drain(..) {
                        self.hub.output_latency.observe(at.elapsed().as_secs_f64());
                    }
                }
                control = self.ctrl.recv() => match control {
                    Some(c) => self.control(c).await?,
                    None => return Ok(()),
                },
                grant = self.access.changed() => match grant {
                    Grant::Revoked => return self.revoked().await,
                    Grant::ReadOnly if self.can_input => {
                        self.can_input = false;
                        self.error("READ_ONLY", "your access changed: you can watch this session but no longer type").await?;
                    }
                    Grant::ReadOnly | Grant::Full => {}
                },
            }
        }
    }

    /// Access was taken away: says so and closes the socket.
    async fn revoked(&mut self) -> WsResult {
        self.error("ACCESS_REVOKED", "your access to this session was revoked").await?;
        let close = Message::close_with(1008u16, "access revoked");
        let _ = tokio::time::timeout(WRITE_TIMEOUT, self.sink.send(close)).await;
        Ok(())
    }

    /// The viewer fell out of the broadcast ring: says so, and replays from storage what it
    /// missed before following live output again.
    async fn resync(&mut self, sub: &mut Subscription) -> WsResult {
        self.event(&ViewerEvent::Resync { from: self.pos }).await?;
        *sub = self.live.subscribe(self.pos);
        self.catch_up(sub).await?;
        // State and size changes may have fallen out of the ring meanwhile.
        self.tell_current(sub).await
    }

    /// Replays storage from `pos` up to the subscription's unstored tail, then the tail, then
    /// says "live". Looks at the viewer's messages between pages, and stops while paused.
    async fn catch_up(&mut self, sub: &mut Subscription) -> WsResult {
        if self.pos < sub.retained_from {
            let (offset, length) = (self.pos, sub.retained_from - self.pos);
            self.event(&ViewerEvent::Gap { offset, length }).await?;
            self.pos = sub.retained_from;
        }
        while self.pos < sub.tail_start {
            self.controls_between_pages().await?;
            let chunks = self
                .hub
                .store()
                .read_output(self.live.id, self.pos, sub.tail_start, REPLAY_PAGE)
                .await
                .map_err(io::Error::other)?;
            if chunks.is_empty() {
                break;
            }
            for c in chunks {
                let item = match c.data {
                    Some(data) => Item::Output {
                        offset: c.start,
                        end: c.end,
                        frame: frame::encode_output(self.live.id, c.start, &data).into(),
                        received: None,
                    },
                    None => Item::Gap { offset: c.start, length: c.end - c.start },
                };
                self.feed(&item).await?;
            }
            self.flush().await?;
        }
        for item in std::mem::take(&mut sub.snapshot) {
            self.feed(&item).await?;
        }
        let offset = self.pos;
        self.event(&ViewerEvent::Live { offset }).await
    }

    /// Tells the viewer the session's state and size as of `sub`, where they differ from what
    /// it was told last.
    async fn tell_current(&mut self, sub: &Subscription) -> WsResult {
        let now = Told { state: sub.state, exit_code: sub.exit_code, size: sub.size };
        let Some(told) = self.told else { return Ok(()) };
        if (told.state, told.exit_code) != (now.state, now.exit_code) {
            self.put(event_message(&ViewerEvent::State { state: now.state, exit_code: now.exit_code })).await?;
        }
        if told.size != now.size {
            let (cols, rows, size_locked) = (now.size.cols, now.size.rows, now.size.locked);
            self.put(event_message(&ViewerEvent::Size { cols, rows, size_locked })).await?;
        }
        self.told = Some(now);
        self.flush().await
    }

    /// Queues an item without flushing, skipping or trimming what the viewer already has, and
    /// reporting any hole before it as a gap.
    async fn feed(&mut self, item: &Item) -> WsResult {
        match item {
            Item::Output { offset, end, frame: bytes, .. } => {
                if *end <= self.pos {
                    return Ok(());
                }
                if *offset > self.pos {
                    let gap = ViewerEvent::Gap { offset: self.pos, length: offset - self.pos };
                    self.put(event_message(&gap)).await?;
                    self.pos = *offset;
                }
                let msg = if *offset == self.pos {
                    bytes.to_vec()
                } else {
                    let skip = usize::try_from(self.pos - offset).unwrap_or(0);
                    frame::encode_output(self.live.id, self.pos, &bytes[frame::HEADER_LEN + skip..])
                };
                self.put(Message::Binary(msg)).await?;
                self.pos = *end;
            }
            Item::Gap { offset, length } => {
                let end = offset.saturating_add(*length);
                if end <= self.pos {
                    return Ok(());
                }
                // Anything between what was delivered and the gap is missing too: one gap.
                let start = self.pos;
                self.put(event_message(&ViewerEvent::Gap { offset: start, length: end - start })).await?;
                self.pos = end;
            }
            Item::State { state, exit_code } => {
                self.put(event_message(&ViewerEvent::State { state: *state, exit_code: *exit_code })).await?;
                if let Some(t) = self.told.as_mut() {
                    (t.state, t.exit_code) = (*state, *exit_code);
                }
            }
            Item::Size { cols, rows, locked } => {
                let (cols, rows, size_locked) = (*cols, *rows, *locked);
                self.put(event_message(&ViewerEvent::Size { cols, rows, size_locked })).await?;
                if let Some(t) = self.told.as_mut() {
                    t.size = TermSize { cols, rows, locked: size_locked };
                }
            }
        }
        Ok(())
    }

    async fn put(&mut self, msg: Message) -> WsResult {
        tokio::time::timeout(WRITE_TIMEOUT, self.sink.feed(msg)).await.map_err(|_| stalled())?
    }

    async fn flush(&mut self) -> WsResult {
        tokio::time::timeout(WRITE_TIMEOUT, self.sink.flush()).await.map_err(|_| stalled())?
    }

    async fn event(&mut self, ev: &ViewerEvent) -> WsResult {
        self.put(event_message(ev)).await?;
        self.flush().await
    }

    async fn error(&mut self, code: &str, message: &str) -> WsResult {
        self.event(&ViewerEvent::Error { code: code.into(), message: message.into() }).await
    }
}

fn stalled() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the viewer accepted nothing for 30 s")
}

fn event_message(ev: &ViewerEvent) -> Message {
    Message::Text(serde_json::to_string(ev).unwrap_or_else(|_| "{}".into()))
}
