//! Connections that die when the receiver shuts down.
//!
//! axum's graceful shutdown waits for every in-flight request, and a
//! [`Behaviour::Hang`](super::Behaviour::Hang) request never finishes. So
//! each accepted socket is wrapped: once the shutdown token fires, every
//! read and write fails, hyper tears the connection down and drops the
//! handler with it. Clients then see a reset, like a receiver that went
//! away, never a made-up answer.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use axum::serve::Listener;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// A TCP listener whose connections fail once `shutdown` is cancelled.
pub(super) struct CancellableListener {
    pub(super) inner: TcpListener,
    pub(super) shutdown: CancellationToken,
}

impl Listener for CancellableListener {
    type Io = CancellableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    // Small responses go out in one write anyway; no-delay only
                    // guards against Nagle plus delayed ACK stalls under load.
                    let _ = stream.set_nodelay(true);
                    return (CancellableStream::new(stream, &self.shutdown), addr);
                }
                // A peer gave up before we accepted: nothing to do.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                            | io::ErrorKind::ConnectionRefused
                    ) => {}
                // Out of file descriptors under a benchmark: back off briefly
                // so closing connections can free some, instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A TCP stream whose reads and writes fail after shutdown.
pub(super) struct CancellableStream {
    io: TcpStream,
    // A child token per connection, so connections do not all contend on
    // the one waiter list of the parent token.
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl CancellableStream {
    fn new(io: TcpStream, shutdown: &CancellationToken) -> Self {
        Self {
            io,
            cancelled: Box::pin(shutdown.child_token().cancelled_owned()),
        }
    }

    /// Fails once shut down; otherwise registers the waker so an idle or
    /// hanging connection is woken by the shutdown itself.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.cancelled.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "test receiver shut down",
            )),
            Poll::Pending => Ok(()),
        }
    }
}

impl AsyncRead for CancellableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for CancellableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
