//! The byte stream TLS runs over in TDS 7.x: during the handshake, TLS
//! records travel as the data of PRELOGIN (0x12) packets in both directions;
//! once the handshake is done, raw TLS records follow on the connection.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::packet::{DEFAULT_PACKET_SIZE, FramingError, HEADER_LEN, Header, PacketType, frame};

/// Wraps a connection so that a TLS client can run its handshake through
/// TDS packets. Call [`PreloginWrapped::handshake_done`] once the handshake
/// completes to pass bytes through untouched from then on.
pub struct PreloginWrapped<S> {
    inner: S,
    wrapping: bool,
    // Reading: the header being assembled, then how much of its packet's
    // data is still to come.
    header: [u8; HEADER_LEN],
    header_filled: usize,
    data_left: usize,
    // Writing: TLS bytes gathered until the next flush, then the framed
    // packets still to be written.
    pending: Vec<u8>,
    framed: Vec<u8>,
    framed_written: usize,
    /// Packet types the server used for handshake data: 0x12 as the
    /// specification says, or 0x04 as very old servers did.
    pub server_packet_types: Vec<u8>,
}

impl<S> PreloginWrapped<S> {
    pub fn new(inner: S) -> Self {
        PreloginWrapped {
            inner,
            wrapping: true,
            header: [0; HEADER_LEN],
            header_filled: 0,
            data_left: 0,
            pending: Vec::new(),
            framed: Vec::new(),
            framed_written: 0,
            server_packet_types: Vec::new(),
        }
    }

    /// From now on, bytes pass through without TDS framing.
    pub fn handshake_done(&mut self) {
        self.wrapping = false;
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for PreloginWrapped<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.wrapping {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        while this.data_left == 0 {
            while this.header_filled < HEADER_LEN {
                let mut header = ReadBuf::new(&mut this.header[this.header_filled..]);
                ready!(Pin::new(&mut this.inner).poll_read(cx, &mut header))?;
                let got = header.filled().len();
                if got == 0 {
                    if this.header_filled == 0 {
                        return Poll::Ready(Ok(())); // a clean end between packets
                    }
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection in the middle of a TDS packet header",
                    )));
                }
                this.header_filled += got;
            }
            let header = Header::parse(&this.header)?;
            let code = header.packet_type.code();
            if !matches!(
                header.packet_type,
                PacketType::PreLogin | PacketType::TabularResult
            ) {
                return Poll::Ready(Err(FramingError::UnexpectedType {
                    expected: PacketType::PreLogin.code(),
                    actual: code,
                }
                .into()));
            }
            if !this.server_packet_types.contains(&code) {
                this.server_packet_types.push(code);
            }
            this.header_filled = 0;
            this.data_left = header.data_len();
        }
        let want = this.data_left.min(buf.remaining());
        let mut limited = ReadBuf::new(buf.initialize_unfilled_to(want));
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut limited))?;
        let got = limited.filled().len();
        if got == 0 {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection in the middle of a TDS packet",
            )));
        }
        buf.advance(got);
        this.data_left -= got;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for PreloginWrapped<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.wrapping {
            return Pin::new(&mut this.inner).poll_write(cx, data);
        }
        // Gathered here and framed on flush: TLS writes one flight and then
        // flushes, and a flight goes out as one PRELOGIN message.
        this.pending.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.framed_written == this.framed.len() && !this.pending.is_empty() {
            this.framed = frame(PacketType::PreLogin, &this.pending, DEFAULT_PACKET_SIZE);
            this.framed_written = 0;
            this.pending.clear();
        }
        while this.framed_written < this.framed.len() {
            let written = ready!(
                Pin::new(&mut this.inner).poll_write(cx, &this.framed[this.framed_written..])
            )?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            this.framed_written += written;
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::tds::packet::read_message;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn writes_are_framed_as_one_prelogin_message_per_flush() {
        let (client, mut server) = tokio::io::duplex(65536);
        let mut wrapped = PreloginWrapped::new(client);
        wrapped.write_all(b"\x16\x03\x01hello").await.unwrap();
        wrapped.write_all(b" again").await.unwrap();
        wrapped.flush().await.unwrap();
        let (kind, data) = read_message(&mut server, 1 << 16).await.unwrap();
        assert_eq!(kind, PacketType::PreLogin);
        assert_eq!(data, b"\x16\x03\x01hello again");
    }

    #[tokio::test]
    async fn reads_unwrap_packets_whatever_the_segmentation_then_pass_through() {
        let (client, mut server) = tokio::io::duplex(1);
        let mut bytes = frame(PacketType::PreLogin, b"first", 10);
        bytes.extend(frame(PacketType::PreLogin, b"second", 4096));
        let writer = tokio::spawn(async move {
            for byte in bytes {
                server.write_all(&[byte]).await.unwrap();
            }
            server.write_all(b"raw").await.unwrap();
            server
        });
        let mut wrapped = PreloginWrapped::new(client);
        let mut got = vec![0u8; 11];
        wrapped.read_exact(&mut got).await.unwrap();
        assert_eq!(got, b"firstsecond");
        wrapped.handshake_done();
        let mut raw = [0u8; 3];
        wrapped.read_exact(&mut raw).await.unwrap();
        assert_eq!(&raw, b"raw");
        assert_eq!(wrapped.server_packet_types, vec![0x12]);
        drop(writer.await.unwrap());
    }

    #[tokio::test]
    async fn bytes_that_are_not_tds_are_refused() {
        let garbage = [0xA7u8, 0x10, 0x00, 0x20, 1, 2, 3, 4, 5, 6, 7, 8];
        let mut wrapped = PreloginWrapped::new(&garbage[..]);
        let mut buf = [0u8; 4];
        let error = wrapped.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("0xA7"), "{error}");
    }

    #[tokio::test]
    async fn a_packet_cut_short_is_an_unexpected_end() {
        let mut bytes = frame(PacketType::PreLogin, b"0123456789", 4096);
        bytes.truncate(12);
        let mut wrapped = PreloginWrapped::new(&bytes[..]);
        let mut buf = [0u8; 10];
        let error = wrapped.read_exact(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }
}
