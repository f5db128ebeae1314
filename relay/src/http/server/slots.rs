//! A connection's slot under the listener's cap and its address's share, held by its TCP
//! stream until the descriptor closes.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;

/// A client's TCP stream holding its connection slot: the slot is free again only when the
/// descriptor closes, after an upgrade too (the upgraded socket owns this stream).
pub(super) struct Counted {
    pub(super) stream: TcpStream,
    pub(super) _slot: Slot,
}

/// A connection's place under the global cap and under its address's share.
pub(super) struct Slot {
    pub(super) _global: OwnedSemaphorePermit,
    pub(super) _address: Option<AddressHeld>,
}

/// Open connections per address key. O(1) per connect and close under a short lock.
#[derive(Default)]
pub(super) struct PerAddress(std::sync::Mutex<std::collections::HashMap<String, usize>>);

impl PerAddress {
    /// One more connection for `key`, unless it already holds `max`.
    pub(super) fn take(self: &Arc<Self>, key: String, max: usize) -> Option<AddressHeld> {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(key.clone()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(AddressHeld { table: self.clone(), key })
    }
}

/// Gives its address's place back when the connection's descriptor closes.
pub(super) struct AddressHeld {
    table: Arc<PerAddress>,
    key: String,
}

impl Drop for AddressHeld {
    fn drop(&mut self) {
        let mut open = self.table.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
