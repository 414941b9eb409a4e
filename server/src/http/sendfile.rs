//! Release downloads over plain HTTP with `sendfile(2)`: the kernel copies the artifact from the
//! page cache to the socket, as nginx does, instead of every byte being read into user space and
//! written out again through hyper (BENCHMARKS.md, "Release downloads"). Plain HTTP is the usual
//! deployment behind a reverse proxy; over TLS the bytes must be encrypted in user space anyway,
//! so TLS connections never come here.
//!
//! [`Sendfile`] wraps the plain-TCP acceptor. Each new connection's first bytes are read here:
//! anything but a `GET /api/v1/downloads/…` request head is handed to hyper at once, with the
//! bytes read so far replayed first ([`Rewind`]). A download request is answered here, but by
//! the same application hyper serves (middleware, signed-link checks, rate limits and errors
//! included): the download handler sees a [`SendfileOffer`] in the request and, instead of a
//! streaming body, hands over the open file and range, which this module sends. The connection
//! stays open for the next request (kept alive), which again may be a download or go to hyper.
//! Once hyper has a connection it keeps it: a download on a connection that began with another
//! request is streamed from user space as before (curl, `install.sh`, agents' updates and
//! download managers open connections that begin with the download).

use std::io;
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use poem::endpoint::BoxEndpoint;
use poem::http::uri::Scheme;
use poem::http::{Method, StatusCode, Version, header};
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Body, Endpoint, Request, RequestParts};
use prometheus::IntCounter;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::conn::Counted;
use super::rewind::Rewind;
use super::stopping::Stopping;

/// What a download request starts with.
const PREFIX: &[u8] = b"GET /api/v1/downloads/";
/// Longest request head read here; a longer one goes to hyper, which refuses it.
const MAX_HEAD: usize = 16 * 1024;
/// Most headers a download request may have to be answered here.
const MAX_HEADERS: usize = 64;
/// Most bytes one `sendfile` call is asked for.
const MAX_SEND: usize = 1 << 30;

/// A file range the download handler asks to be sent, with whatever must live until it is sent
/// (the client's download slot).
pub struct FileRange {
    pub file: std::fs::File,
    pub start: u64,
    pub len: u64,
    pub hold: Box<dyn Send + Sync>,
}

/// Put into requests answered here: a handler that finds it may offer a file range instead of
/// a body.
#[derive(Clone, Default)]
pub struct SendfileOffer(Arc<Mutex<Option<FileRange>>>);

impl SendfileOffer {
    pub fn offer(&self, range: FileRange) {
        *crate::lock(&self.0) = Some(range);
    }

    fn take(&self) -> Option<FileRange> {
        crate::lock(&self.0).take()
    }
}

/// What the connections answered here need.
struct Ctx {
    app: BoxEndpoint<'static>,
    head_timeout: Duration,
    send_timeout: Duration,
    sent_bytes: IntCounter,
}

type Conn = Counted<TcpStream>;
type Handed = (Rewind<Conn>, LocalAddr, RemoteAddr, Scheme);

pub struct Sendfile<A> {
    inner: A,
    ctx: Arc<Ctx>,
    handed_tx: mpsc::Sender<Handed>,
    handed_rx: mpsc::Receiver<Handed>,
    stopping: Stopping,
}

impl<A> Sendfile<A> {
    /// `app` answers the download requests read here; stalled sends end after `send_timeout`,
    /// a request head must arrive within `head_timeout`, and `stopping` ends the connections
    /// served here when the server stops.
    pub fn new(
        inner: A,
        app: BoxEndpoint<'static>,
        head_timeout: Duration,
        send_timeout: Duration,
        sent_bytes: IntCounter,
        stopping: Stopping,
    ) -> Self {
        let (handed_tx, handed_rx) = mpsc::channel(256);
        let ctx = Arc::new(Ctx { app, head_timeout, send_timeout, sent_bytes });
        Self { inner, ctx, handed_tx, handed_rx, stopping }
    }
}

impl<A: Acceptor<Io = Conn>> Acceptor for Sendfile<A> {
    type Io = Rewind<Conn>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        loop {
            tokio::select! {
                biased;
                Some(handed) = self.handed_rx.recv() => return Ok(handed),
                accepted = self.inner.accept() => {
                    let (io, local, remote, scheme) = accepted?;
                    let (ctx, tx, stop) = (self.ctx.clone(), self.handed_tx.clone(), self.stopping.token());
                    self.stopping.spawn(serve(io, local, remote, scheme, ctx, tx, stop));
                }
            }
        }
    }
}

/// What to do with a connection whose next request head is (partly) in the buffer.
enum Next {
    /// Not a download answered here: hyper takes the connection.
    HandOver,
    /// Closed, broken, or too slow: drop it.
    Close,
    /// A download request whose head is the buffer's first `usize` bytes.
    Download(usize, Box<poem::http::request::Parts>, bool),
}

/// Answers download requests on `io` for as long as they come, then hands the connection to
/// hyper (or drops it).
async fn serve(
    mut io: Conn,
    local: LocalAddr,
    remote: RemoteAddr,
    scheme: Scheme,
    ctx: Arc<Ctx>,
    tx: mpsc::Sender<Handed>,
    stop: CancellationToken,
) {
    // The first request head has `head_timeout` from the accept, peek and read together.
    let deadline = Instant::now() + ctx.head_timeout;
    // Most connections are not downloads: a peek at their first bytes says so without reading
    // (or allocating) anything, so agents' and browsers' connections cost no more than before.
    let mut first = [0u8; PREFIX.len()];
    match tokio::time::timeout_at(deadline, io.get_ref().peek(&mut first)).await {
        Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
        Ok(Ok(n)) if first[..n] == PREFIX[..n] => {}
        Ok(Ok(_)) => {
            let _ = tx.send((Rewind::new(Bytes::new(), io), local, remote, scheme)).await;
            return;
        }
    }
    let mut buf = BytesMut::with_capacity(1024);
    let mut deadline = deadline;
    loop {
        let next = tokio::select! {
            next = next_request(io.get_ref(), &mut buf, deadline) => next,
            () = stop.cancelled() => Next::Close,
        };
        match next {
            Next::HandOver => {
                let _ = tx.send((Rewind::new(buf.freeze(), io), local, remote, scheme)).await;
                return;
            }
            Next::Close => break,
            Next::Download(head_len, parts, keep_alive) => {
                buf.advance(head_len);
                let parts = RequestParts::from((*parts, local.clone(), remote.clone(), scheme.clone()));
                match Box::pin(respond(io.get_ref(), parts, &ctx, keep_alive && !stop.is_cancelled())).await {
                    Ok(true) => deadline = Instant::now() + ctx.head_timeout,
                    Ok(false) => break,
                    Err(e) => {
                        tracing::debug!(error = %e, "a download over sendfile ended early");
                        return;
                    }
                }
            }
        }
    }
    // A clean end (FIN, not a reset over unread bytes), so the client gets all it was sent.
    let _ = tokio::time::timeout(ctx.send_timeout, tokio::io::AsyncWriteExt::shutdown(&mut io)).await;
}

/// Reads until the buffer holds a whole download request head, or shows it holds something else.
async fn next_request(tcp: &TcpStream, buf: &mut BytesMut, deadline: Instant) -> Next {
    loop {
        let n = buf.len().min(PREFIX.len());
        if buf[..n] != PREFIX[..n] {
            return Next::HandOver;
        }
        if buf.len() >= PREFIX.len() {
            match parse_head(buf) {
                Some(Ok(next)) => return next,
                Some(Err(())) => return Next::HandOver,
                None if buf.len() >= MAX_HEAD => return Next::HandOver,
                None => {}
            }
        }
        let read = tokio::time::timeout_at(deadline, async {
            loop {
                tcp.readable().await?;
                match tcp.try_read_buf(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    other => return other,
                }
            }
        })
        .await;
        match read {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Next::Close,
            Ok(Ok(_)) => {}
        }
    }
}

/// `None` while the head is incomplete; `Err` for a request this module leaves to hyper (a
/// body, an upgrade, HTTP/1.0, or anything it cannot parse).
fn parse_head(buf: &[u8]) -> Option<Result<Next, ()>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return None,
        Err(_) => return Some(Err(())),
    };
    if req.version != Some(1) || req.method != Some("GET") {
        return Some(Err(()));
    }
    let mut builder = poem::http::Request::builder().method(Method::GET).version(Version::HTTP_11);
    let mut keep_alive = true;
    for h in req.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        match name.as_str() {
            "content-length" if h.value != b"0" => return Some(Err(())),
            "transfer-encoding" | "upgrade" | "expect" => return Some(Err(())),
            "connection" if has_token(h.value, "close") => keep_alive = false,
            _ => {}
        }
        builder = builder.header(h.name, h.value);
    }
    let Some(path) = req.path else { return Some(Err(())) };
    match builder.uri(path).body(()) {
        Ok(r) => Some(Ok(Next::Download(len, Box::new(r.into_parts().0), keep_alive))),
        Err(_) => Some(Err(())),
    }
}

/// Whether a comma-separated header value holds `token` (any case).
fn has_token(value: &[u8], token: &str) -> bool {
    value.split(|b| *b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Runs the request through the application and writes its answer: the offered file range with
/// `sendfile`, or the (small) body it returned. Returns whether the connection stays open.
async fn respond(tcp: &TcpStream, parts: RequestParts, ctx: &Ctx, keep_alive: bool) -> io::Result<bool> {
    let offer = SendfileOffer::default();
    let mut req = Request::from_parts(parts, Body::empty());
    req.extensions_mut().insert(offer.clone());
    let (parts, body) = ctx.app.get_response(req).await.into_parts();
    let (status, mut headers) = (parts.status, parts.headers);
    let range = offer.take().filter(|_| matches!(status, StatusCode::OK | StatusCode::PARTIAL_CONTENT));
    let body = match &range {
        Some(_) => Bytes::new(),
        None => {
            // Errors and refusals: a small JSON body, sent with its length.
            let body = body.into_bytes().await.map_err(io::Error::other)?;
            headers.remove(header::TRANSFER_ENCODING);
            headers.insert(header::CONTENT_LENGTH, body.len().into());
            body
        }
    };
    // The application may end the connection too.
    let keep_alive = keep_alive && !headers.get(header::CONNECTION).is_some_and(|v| has_token(v.as_bytes(), "close"));
    if !keep_alive {
        headers.insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    }
    if !headers.contains_key(header::DATE) {
        let now = httpdate::fmt_http_date(std::time::SystemTime::now());
        if let Ok(v) = header::HeaderValue::from_str(&now) {
            headers.insert(header::DATE, v);
        }
    }
    let mut head = Vec::with_capacity(512);
    head.extend_from_slice(
        format!("HTTP/1.1 {} {}\r\n", status.as_u16(), status.canonical_reason().unwrap_or("")).as_bytes(),
    );
    for (name, value) in &headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head.extend_from_slice(&body);
    write_all(tcp, &head, ctx.send_timeout).await?;
    if let Some(range) = range {
        send_file(tcp, &range, ctx).await?;
    }
    Ok(keep_alive)
}

async fn write_all(tcp: &TcpStream, mut data: &[u8], send_timeout: Duration) -> io::Result<()> {
    while !data.is_empty() {
        tokio::time::timeout(send_timeout, tcp.writable()).await.map_err(|_| stalled())??;
        match tcp.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn stalled() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the client took nothing for the send timeout")
}

/// Sends the range with `sendfile(2)`, waiting (up to the send timeout each time) while the
/// socket's buffer is full.
async fn send_file(tcp: &TcpStream, range: &FileRange, ctx: &Ctx) -> io::Result<()> {
    let mut offset = i64::try_from(range.start).map_err(io::Error::other)?;
    let mut left = range.len;
    while left > 0 {
        tokio::time::timeout(ctx.send_timeout, tcp.writable()).await.map_err(|_| stalled())??;
        let count = usize::try_from(left).unwrap_or(MAX_SEND).min(MAX_SEND);
        let sent = tcp.try_io(Interest::WRITABLE, || {
            nix::sys::sendfile::sendfile(tcp.as_fd(), range.file.as_fd(), Some(&mut offset), count)
                .map_err(io::Error::from)
        });
        match sent {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the artifact file shrank")),
            Ok(n) => {
                left -= n as u64;
                ctx.sent_bytes.inc_by(n as u64);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(buf: &[u8]) -> &'static str {
        match parse_head(buf) {
            None => "partial",
            Some(Err(())) => "hyper",
            Some(Ok(Next::Download(_, _, true))) => "download",
            Some(Ok(Next::Download(_, _, false))) => "download, then close",
            Some(Ok(_)) => "other",
        }
    }

    #[test]
    fn only_plain_bodiless_http11_gets_are_answered_here() {
        assert_eq!(kind(b"GET /api/v1/downloads/x?sig=1 HTTP/1.1\r\nHost: a\r\n"), "partial");
        assert_eq!(kind(b"GET /api/v1/downloads/x?sig=1 HTTP/1.1\r\nHost: a\r\n\r\n"), "download");
        assert_eq!(kind(b"GET /api/v1/downloads/x HTTP/1.1\r\nConnection: close\r\n\r\n"), "download, then close");
        assert_eq!(kind(b"GET /api/v1/downloads/x HTTP/1.1\r\nconnection: TE, Close\r\n\r\n"), "download, then close");
        assert_eq!(kind(b"GET /api/v1/downloads/x HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"), "download");
        assert_eq!(kind(b"GET /api/v1/downloads/x HTTP/1.0\r\n\r\n"), "hyper");
        assert_eq!(kind(b"GET /api/v1/downloads/x HTTP/1.1\r\nContent-Length: 5\r\n\r\n"), "hyper");
        assert_eq!(kind(b"GET /api/v1/downloads/x HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"), "hyper");
        assert_eq!(kind(b"GET /api/v1/downloads/x HTTP/1.1\r\nBad Header\r\n\r\n"), "hyper");
    }
}
