//! Acceptor wrappers: [`NoDelay`] turns off Nagle's algorithm on every accepted TCP socket
//! (terminal output is many small writes that must not wait for ACKs), and
//! [`CountingAcceptor`] counts open connections for `/metrics` (the count drops when the
//! connection's IO object is dropped, whatever ended it).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use prometheus::IntGauge;
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

pub struct CountingAcceptor<A> {
    inner: A,
    gauge: IntGauge,
}

impl<A> CountingAcceptor<A> {
    pub fn new(inner: A, gauge: IntGauge) -> Self {
        Self { inner, gauge }
    }
}

impl<A: Acceptor> Acceptor for CountingAcceptor<A> {
    type Io = CountedIo<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (io, local, remote, scheme) = self.inner.accept().await?;
        self.gauge.inc();
        Ok((CountedIo { inner: io, gauge: self.gauge.clone() }, local, remote, scheme))
    }
}

pub struct CountedIo<T> {
    inner: T,
    gauge: IntGauge,
}

impl<T> Drop for CountedIo<T> {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for CountedIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CountedIo<T> {
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
