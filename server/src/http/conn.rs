//! Acceptor wrappers on the TCP side: [`NoDelay`] turns off Nagle's algorithm on every accepted
//! socket (terminal output is many small writes that must not wait for ACKs), and
//! [`Limited`] caps open connections in all and per peer address, before any byte is read, and
//! counts them for `/metrics` (a connection's slot frees when its IO object is dropped,
//! whatever ended it).

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use prometheus::{IntCounter, IntGauge};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub struct NoDelay<A>(pub A);

impl<A: Acceptor<Io = tokio::net::TcpStream>> Acceptor for NoDelay<A> {
    type Io = tokio::net::TcpStream;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.0.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (io, local, remote, scheme) = self.0.accept().await?;
        if let Err(e) = io.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        Ok((io, local, remote, scheme))
    }
}

/// How many connections may be open.
#[derive(Clone, Copy, Debug)]
pub struct Caps {
    pub max: u32,
    pub max_per_ip: u32,
}

/// Open connections, in all and per peer address.
#[derive(Debug, Default)]
struct Open {
    total: u32,
    per_ip: HashMap<IpAddr, u32>,
}

/// Counts open connections and refuses (closes at once) those over the caps.
pub struct Limited<A> {
    inner: A,
    caps: Caps,
    open: Arc<Mutex<Open>>,
    gauge: IntGauge,
    refused: IntCounter,
}

impl<A> Limited<A> {
    pub fn new(inner: A, caps: Caps, gauge: IntGauge, refused: IntCounter) -> Self {
        Self { inner, caps, open: Arc::default(), gauge, refused }
    }
}

fn lock(open: &Mutex<Open>) -> std::sync::MutexGuard<'_, Open> {
    open.lock().unwrap_or_else(|p| p.into_inner())
}

impl<A: Acceptor> Acceptor for Limited<A> {
    type Io = Counted<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        loop {
            let (io, local, remote, scheme) = self.inner.accept().await?;
            let ip = remote.as_socket_addr().map(|a| a.ip());
            {
                let mut open = lock(&self.open);
                let from_ip = ip.map_or(0, |ip| open.per_ip.get(&ip).copied().unwrap_or(0));
                if open.total >= self.caps.max || from_ip >= self.caps.max_per_ip {
                    drop(open);
                    self.refused.inc();
                    tracing::debug!(peer = ?ip, "connection refused: too many open connections");
                    // Dropping the socket closes it; nothing was read from it.
                    continue;
                }
                open.total += 1;
                if let Some(ip) = ip {
                    *open.per_ip.entry(ip).or_insert(0) += 1;
                }
            }
            self.gauge.inc();
            let io = Counted { inner: io, ip, open: self.open.clone(), gauge: self.gauge.clone() };
            return Ok((io, local, remote, scheme));
        }
    }
}

/// A connection holding its slot until dropped.
pub struct Counted<T> {
    inner: T,
    ip: Option<IpAddr>,
    open: Arc<Mutex<Open>>,
    gauge: IntGauge,
}

impl<T> Counted<T> {
    pub fn get_ref(&self) -> &T {
        &self.inner
    }
}

impl<T> Drop for Counted<T> {
    fn drop(&mut self) {
        self.gauge.dec();
        let mut open = lock(&self.open);
        open.total = open.total.saturating_sub(1);
        if let Some(ip) = self.ip
            && let Some(n) = open.per_ip.get_mut(&ip)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.per_ip.remove(&ip);
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
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
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(unix)]
impl<T: std::os::fd::AsRawFd> std::os::fd::AsRawFd for Counted<T> {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.inner.as_raw_fd()
    }
}
