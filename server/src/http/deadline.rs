//! Deadlines for what a client must send before the server does any work for it: a new
//! connection has `header_timeout` to finish its TLS handshake (which runs inside the first
//! read) and send a whole request head, and a kept-alive HTTP/1 connection has as long again
//! for each next request head. A client that trickles bytes (slowloris) or sends nothing is
//! closed when its time is up. Once a connection switches protocols (a WebSocket upgrade) or
//! speaks HTTP/2 (framed, with its own flow control), the deadline no longer applies; idle
//! connections are closed by the server's idle timeout instead.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The start of every HTTP/2 connection (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";
/// What an upgrade answer starts with.
const SWITCHING: &[u8] = b"HTTP/1.1 101";

pub struct HeadDeadline<A> {
    inner: A,
    timeout: Duration,
}

impl<A> HeadDeadline<A> {
    pub fn new(inner: A, timeout: Duration) -> Self {
        Self { inner, timeout }
    }
}

impl<A: Acceptor> Acceptor for HeadDeadline<A> {
    type Io = Deadlined<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (io, local, remote, scheme) = self.inner.accept().await?;
        let sleep = Box::pin(tokio::time::sleep(self.timeout));
        let io =
            Deadlined { inner: io, timeout: self.timeout, phase: Phase::AwaitHead, tail: Vec::new(), sleep, seen: 0 };
        Ok((io, local, remote, scheme))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a request head to end (`\r\n\r\n`), under the deadline.
    AwaitHead,
    /// A request is being handled; `answered` once the response started.
    Busy { answered: bool },
    /// Upgraded or HTTP/2: no more deadlines here.
    Passthrough,
}

pub struct Deadlined<T> {
    inner: T,
    timeout: Duration,
    phase: Phase,
    /// The last bytes read while waiting for a head (a `\r\n\r\n` may span reads).
    tail: Vec<u8>,
    sleep: Pin<Box<Sleep>>,
    /// Bytes read so far on this connection (to spot the HTTP/2 preface).
    seen: usize,
}

impl<T> Deadlined<T> {
    /// Follows the request heads in what was just read.
    fn on_read(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if self.seen < H2_PREFACE.len() {
            let n = (H2_PREFACE.len() - self.seen).min(data.len());
            if data[..n] == H2_PREFACE[self.seen..self.seen + n] && self.seen + n == H2_PREFACE.len() {
                self.phase = Phase::Passthrough;
            }
        }
        self.seen = self.seen.saturating_add(data.len());
        if let Phase::Busy { answered: true } = self.phase {
            // The next request begins: its head gets a fresh deadline.
            self.phase = Phase::AwaitHead;
            self.tail.clear();
            self.sleep.as_mut().reset(Instant::now() + self.timeout);
        }
        if self.phase == Phase::AwaitHead {
            self.tail.extend_from_slice(data);
            if self.tail.windows(4).any(|w| w == b"\r\n\r\n") {
                self.phase = Phase::Busy { answered: false };
                self.tail.clear();
            } else if self.tail.len() > 3 {
                self.tail.drain(..self.tail.len() - 3);
            }
        }
    }

    fn on_write(&mut self, data: &[u8]) {
        if let Phase::Busy { .. } = self.phase {
            self.phase = if data.starts_with(SWITCHING) { Phase::Passthrough } else { Phase::Busy { answered: true } };
        }
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the client did not send a request in time")
}

impl<T: AsyncRead + Unpin> AsyncRead for Deadlined<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.phase != Phase::Passthrough {
                    this.on_read(&buf.filled()[before..]);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if this.phase == Phase::AwaitHead && this.sleep.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(timed_out()));
                }
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Deadlined<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            self.on_write(&buf[..n]);
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let (Poll::Ready(Ok(n)), Some(first)) = (&r, bufs.iter().find(|b| !b.is_empty())) {
            let n = (*n).min(first.len());
            self.on_write(&first[..n]);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io() -> Deadlined<()> {
        Deadlined {
            inner: (),
            timeout: Duration::from_secs(1),
            phase: Phase::AwaitHead,
            tail: Vec::new(),
            sleep: Box::pin(tokio::time::sleep(Duration::from_secs(1))),
            seen: 0,
        }
    }

    #[tokio::test]
    async fn follows_heads_across_reads_keep_alive_and_upgrades() {
        let mut d = io();
        d.on_read(b"GET / HTTP/1.1\r\nHost: x\r\n\r");
        assert_eq!(d.phase, Phase::AwaitHead, "not finished yet");
        d.on_read(b"\n");
        assert_eq!(d.phase, Phase::Busy { answered: false });
        d.on_write(b"HTTP/1.1 200 OK\r\n");
        assert_eq!(d.phase, Phase::Busy { answered: true });
        d.on_read(b"GET /again");
        assert_eq!(d.phase, Phase::AwaitHead, "a kept-alive connection's next request is timed too");
        d.on_read(b" HTTP/1.1\r\n\r\n");
        d.on_write(b"HTTP/1.1 101 Switching Protocols\r\n");
        assert_eq!(d.phase, Phase::Passthrough, "WebSockets are not request heads");
    }

    #[tokio::test]
    async fn http2_is_left_to_its_own_framing() {
        let mut d = io();
        d.on_read(b"PRI * HTTP");
        d.on_read(b"/2.0\r\n\r\nSM\r\n\r\n");
        assert_eq!(d.phase, Phase::Passthrough);
    }
}
