//! A stream whose reads count against a budget: past it, reads fail. A
//! server answers our queries, and we know how much they can return; one
//! that streams without end (an endless value, endless rows, endless
//! messages) is cut off here, before the SQL library buffers it all.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How many bytes may still be read, shared between the stream and the
/// code that sets a limit per exchange.
#[derive(Debug, Default)]
pub struct ReadBudget {
    limit: AtomicU64,
    read: AtomicU64,
}

impl ReadBudget {
    pub fn new(limit: u64) -> Arc<ReadBudget> {
        let budget = Arc::new(ReadBudget::default());
        budget.reset(limit);
        budget
    }

    /// Starts counting afresh, allowing `limit` bytes.
    pub fn reset(&self, limit: u64) {
        self.read.store(0, Ordering::SeqCst);
        self.limit.store(limit, Ordering::SeqCst);
    }

    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::SeqCst)
    }

    /// More than the limit arrived since the last reset.
    pub fn exceeded(&self) -> bool {
        self.read.load(Ordering::SeqCst) > self.limit()
    }
}

pub struct Bounded<S> {
    inner: S,
    budget: Arc<ReadBudget>,
}

impl<S> Bounded<S> {
    pub fn new(inner: S, budget: Arc<ReadBudget>) -> Self {
        Bounded { inner, budget }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Bounded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.budget.exceeded() {
            return Poll::Ready(Err(over_budget(&self.budget)));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let got = (buf.filled().len() - before) as u64;
            self.budget.read.fetch_add(got, Ordering::SeqCst);
            if self.budget.exceeded() {
                return Poll::Ready(Err(over_budget(&self.budget)));
            }
        }
        polled
    }
}

fn over_budget(budget: &ReadBudget) -> io::Error {
    io::Error::other(format!(
        "the server sent more than {} bytes in one answer",
        budget.limit()
    ))
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Bounded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn reads_within_the_budget_pass_and_the_first_past_it_fails() {
        let (mut server, client) = tokio::io::duplex(64);
        let budget = ReadBudget::new(10);
        let mut bounded = Bounded::new(client, budget.clone());
        server.write_all(b"0123456789").await.unwrap();
        let mut buf = [0u8; 10];
        bounded.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"0123456789");
        assert!(!budget.exceeded());
        server.write_all(b"x").await.unwrap();
        let error = bounded.read(&mut buf).await.unwrap_err();
        assert!(error.to_string().contains("more than 10 bytes"), "{error}");
        assert!(budget.exceeded());
        budget.reset(1);
        server.write_all(b"y").await.unwrap();
        assert_eq!(
            bounded.read(&mut buf).await.unwrap(),
            1,
            "a reset budget allows reads again"
        );
    }
}
