//! One acceptor type for "TLS or plain TCP", chosen at start-up. poem's own boxed acceptor
//! splits every connection into a locked reader and writer and drops vectored writes, which
//! makes hyper copy each response chunk once more; this enum forwards everything as it is.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub enum Either<L, R> {
    Left(L),
    Right(R),
}

impl<L: Acceptor, R: Acceptor> Acceptor for Either<L, R> {
    type Io = Either<L::Io, R::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        match self {
            Either::Left(a) => a.local_addr(),
            Either::Right(a) => a.local_addr(),
        }
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        match self {
            Either::Left(a) => a.accept().await.map(|(io, l, r, s)| (Either::Left(io), l, r, s)),
            Either::Right(a) => a.accept().await.map(|(io, l, r, s)| (Either::Right(io), l, r, s)),
        }
    }
}

impl<L: AsyncRead + Unpin, R: AsyncRead + Unpin> AsyncRead for Either<L, R> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Either::Left(io) => Pin::new(io).poll_read(cx, buf),
            Either::Right(io) => Pin::new(io).poll_read(cx, buf),
        }
    }
}

impl<L: AsyncWrite + Unpin, R: AsyncWrite + Unpin> AsyncWrite for Either<L, R> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Either::Left(io) => Pin::new(io).poll_write(cx, buf),
            Either::Right(io) => Pin::new(io).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Either::Left(io) => Pin::new(io).poll_flush(cx),
            Either::Right(io) => Pin::new(io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Either::Left(io) => Pin::new(io).poll_shutdown(cx),
            Either::Right(io) => Pin::new(io).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Either::Left(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Either::Right(io) => Pin::new(io).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Either::Left(io) => io.is_write_vectored(),
            Either::Right(io) => io.is_write_vectored(),
        }
    }
}
