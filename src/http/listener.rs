//! The listening socket with a cap on open connections. At the cap, the server stops accepting:
//! new connections wait in the kernel's backlog (and are refused by it once that is full)
//! instead of each costing a task, buffers and a TLS handshake. A slot frees when a connection
//! closes, which the header and body timeouts make sure happens to idle and slow ones.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum_server::{AddrListener, Address};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How often reaching the cap is logged at most: under a flood it would be every connection.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// The remote address of a capped connection.
#[derive(Debug, Clone, Copy)]
pub struct CappedAddr(pub SocketAddr);

impl Address for CappedAddr {
    type Stream = CappedStream;
    type Listener = CappedListener;
}

pub struct CappedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    max: usize,
    warned: Mutex<Option<Instant>>,
}

impl CappedListener {
    /// Binds `addr`, allowing at most `max_connections` open connections (0: no cap).
    pub async fn bind(addr: SocketAddr, max_connections: usize) -> io::Result<Self> {
        let max = if max_connections == 0 {
            Semaphore::MAX_PERMITS
        } else {
            max_connections
        };
        Ok(Self {
            inner: TcpListener::bind(addr).await?,
            slots: Arc::new(Semaphore::new(max)),
            max,
            warned: Mutex::new(None),
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    async fn slot(&self) -> io::Result<OwnedSemaphorePermit> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let warn = match self.warned.lock() {
            Ok(mut last) if last.is_none_or(|t| t.elapsed() >= WARN_EVERY) => {
                *last = Some(Instant::now());
                true
            }
            _ => false,
        };
        if warn {
            tracing::warn!(
                max_connections = self.max,
                "the connection cap is reached; new connections wait until one closes (--max-connections)"
            );
        }
        metrics::counter!("annal_http_connection_cap_reached_total").increment(1);
        self.slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| io::Error::other("the connection cap is closed"))
    }
}

impl AddrListener<CappedStream, CappedAddr> for CappedListener {
    async fn bind_to(_addr: CappedAddr) -> io::Result<Self> {
        Err(io::Error::other("a capped listener is bound with CappedListener::bind"))
    }

    async fn accept_stream(&self) -> io::Result<(CappedStream, CappedAddr)> {
        // The slot first: at the cap, nothing is accepted at all.
        let permit = self.slot().await?;
        let (stream, addr) = self.inner.accept().await?;
        // Small writes (a device's answer) go out at once.
        let _ = stream.set_nodelay(true);
        metrics::gauge!("annal_http_connections_open").increment(1.0);
        Ok((
            CappedStream {
                inner: stream,
                _slot: permit,
            },
            CappedAddr(addr),
        ))
    }

    fn get_local_addr(&self) -> io::Result<CappedAddr> {
        self.inner.local_addr().map(CappedAddr)
    }
}

/// A connection holding one of the cap's slots until it is dropped.
pub struct CappedStream {
    inner: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl Drop for CappedStream {
    fn drop(&mut self) {
        metrics::gauge!("annal_http_connections_open").decrement(1.0);
    }
}

impl AsyncRead for CappedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CappedStream {
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
