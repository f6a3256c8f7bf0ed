//! A TDS 7.x connection this tool has already secured, handed to the driver
//! (tiberius) to log in over: the TLS probe and the login then share one
//! connection and one handshake (issue 14), and the certificate the login
//! trusts is the very one the TLS checks judged.
//!
//! Kept only when all of this holds:
//! - the server answered our ENCRYPT_OFF with ENCRYPT_REQ: it forces
//!   encryption, so the whole session stays in TLS ([MS-TDS] 2.2.6.5). A
//!   server that answers ENCRYPT_OFF drops TLS after LOGIN7, which would
//!   leave the queries in clear; the login opens its own connection then;
//! - the server signed the handshake with the key of the certificate it
//!   presented (the capture records the chain whatever it is, so it also
//!   records whether those signatures verified);
//! - it did not ask for a client certificate.
//!
//! Whether the certificate itself may be trusted is the caller's decision
//! (`facts::sql`'s login clearance): until it is made, nothing of the
//! login leaves this machine, because the driver does not start.
//!
//! The driver is configured for no encryption of its own and sends its own
//! PRELOGIN first; [`DriverStream`] takes that message in and answers it
//! locally with the server's real answer, ENCRYPTION re-told as
//! ENCRYPT_NOT_SUP. Everything the driver writes after it travels inside this
//! TLS session.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::packet::{DEFAULT_PACKET_SIZE, FramingError, HEADER_LEN, Header, PacketType, frame};
use super::prelogin::{self, Encryption, PreloginResponse};
use super::wrapped::PreloginWrapped;
use crate::probe::wire_record::{Recorded, WireRecord};

/// The TLS session of a TDS 7.x connection, over the recorded socket.
pub type Tds7Tls = tokio_rustls::client::TlsStream<PreloginWrapped<Recorded<TcpStream>>>;

/// A secured connection no login has used yet.
pub struct SecuredTds7 {
    tls: Tds7Tls,
    wire: WireRecord,
    /// The PRELOGIN answer the driver is given.
    driver_answer: Vec<u8>,
}

impl std::fmt::Debug for SecuredTds7 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecuredTds7").finish_non_exhaustive()
    }
}

impl SecuredTds7 {
    /// The connection after a handshake whose signatures verified, kept
    /// when the server's PRELOGIN answer lets a login share it.
    pub(super) fn new(
        tls: Tds7Tls,
        wire: WireRecord,
        prelogin: &PreloginResponse,
        answer: &[u8],
    ) -> Option<SecuredTds7> {
        if !can_carry_a_login(prelogin) {
            return None;
        }
        let driver_answer = prelogin::with_encryption(answer, Encryption::NotSupported).ok()?;
        Some(SecuredTds7 {
            tls,
            wire,
            driver_answer,
        })
    }

    /// The stream the driver logs in over, and the record of the wire under it.
    pub fn into_driver_stream(self) -> (DriverStream<Tds7Tls>, WireRecord) {
        (DriverStream::over(self.tls, &self.driver_answer), self.wire)
    }
}

/// Whether a login may follow on a TDS 7.x connection that asked for
/// ENCRYPT_OFF and got `answer`: only when the server forces encryption, so
/// that it encrypts the whole session, and wants no client certificate.
fn can_carry_a_login(answer: &PreloginResponse) -> bool {
    answer.encryption == Some(Encryption::Required) && !answer.client_cert_requested
}

/// Holds a [`SecuredTds7`] until one login takes it. Dropped untaken, the
/// connection closes with no LOGIN7 sent.
#[derive(Debug, Clone, Default)]
pub struct SecuredSlot(Arc<Mutex<Option<SecuredTds7>>>);

impl SecuredSlot {
    pub(super) fn keep(&self, secured: SecuredTds7) {
        *self.0.lock() = Some(secured);
    }

    /// The connection, to the first caller only.
    pub fn take(&self) -> Option<SecuredTds7> {
        self.0.lock().take()
    }
}

/// How far the driver's PRELOGIN has been taken in.
#[derive(Debug, Default)]
struct Taking {
    header: [u8; HEADER_LEN],
    header_filled: usize,
    data_left: usize,
    last: bool,
}

enum Stage {
    /// The driver's PRELOGIN message is being taken in.
    TakingPrelogin(Taking),
    /// The driver reads the local answer; `usize` bytes of it read so far.
    Answering(usize),
    /// Bytes pass through the TLS session both ways.
    Passing,
}

/// The driver's side of a [`SecuredTds7`] (`S`: its TLS session).
pub struct DriverStream<S> {
    tls: S,
    stage: Stage,
    /// The framed PRELOGIN answer the driver reads.
    answer: Vec<u8>,
    /// A read that came before the driver's PRELOGIN was complete.
    reader: Option<Waker>,
}

impl<S> DriverStream<S> {
    /// A stream that answers the driver's PRELOGIN with `answer` (the data
    /// of a PRELOGIN answer), then passes through to `tls`.
    fn over(tls: S, answer: &[u8]) -> Self {
        DriverStream {
            tls,
            stage: Stage::TakingPrelogin(Taking::default()),
            answer: frame(PacketType::TabularResult, answer, DEFAULT_PACKET_SIZE),
            reader: None,
        }
    }

    /// Takes in driver bytes of its PRELOGIN message; returns how many of
    /// `data` belonged to it (the message ends at a packet with the
    /// end-of-message bit).
    fn take_prelogin(&mut self, data: &[u8]) -> io::Result<usize> {
        let Stage::TakingPrelogin(taking) = &mut self.stage else {
            return Ok(0);
        };
        let mut used = 0;
        while used < data.len() {
            if taking.header_filled < HEADER_LEN {
                let n = (HEADER_LEN - taking.header_filled).min(data.len() - used);
                taking.header[taking.header_filled..taking.header_filled + n]
                    .copy_from_slice(&data[used..used + n]);
                taking.header_filled += n;
                used += n;
                if taking.header_filled < HEADER_LEN {
                    break;
                }
                let header = Header::parse(&taking.header)?;
                if header.packet_type != PacketType::PreLogin {
                    return Err(FramingError::UnexpectedType {
                        expected: PacketType::PreLogin.code(),
                        actual: header.packet_type.code(),
                    }
                    .into());
                }
                taking.data_left = header.data_len();
                taking.last = header.is_last();
            }
            let n = taking.data_left.min(data.len() - used);
            taking.data_left -= n;
            used += n;
            if taking.data_left == 0 {
                if taking.last {
                    self.stage = Stage::Answering(0);
                    if let Some(reader) = self.reader.take() {
                        reader.wake();
                    }
                    break;
                }
                taking.header_filled = 0;
            }
        }
        Ok(used)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for DriverStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.stage {
            Stage::TakingPrelogin(_) => {
                this.reader = Some(cx.waker().clone());
                Poll::Pending
            }
            Stage::Answering(read) => {
                let n = (this.answer.len() - read).min(buf.remaining());
                buf.put_slice(&this.answer[read..read + n]);
                this.stage = if read + n == this.answer.len() {
                    Stage::Passing
                } else {
                    Stage::Answering(read + n)
                };
                Poll::Ready(Ok(()))
            }
            Stage::Passing => Pin::new(&mut this.tls).poll_read(cx, buf),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for DriverStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Stage::TakingPrelogin(_) = this.stage {
            return Poll::Ready(this.take_prelogin(data));
        }
        Pin::new(&mut this.tls).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.stage {
            // Nothing of the driver's PRELOGIN goes to the server.
            Stage::TakingPrelogin(_) => Poll::Ready(Ok(())),
            Stage::Answering(_) | Stage::Passing => Pin::new(&mut this.tls).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tls).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::tds::packet::read_message;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn the_drivers_prelogin_is_answered_here_and_what_follows_reaches_the_server() {
        let (client, mut server) = tokio::io::duplex(65536);
        let mut driver = DriverStream::over(client, b"the answer");
        // The driver's PRELOGIN in two packets, written in awkward pieces.
        let prelogin = frame(PacketType::PreLogin, &[7u8; 20], 18);
        let login = frame(PacketType::Other(0x10), b"login", DEFAULT_PACKET_SIZE);
        for piece in prelogin.chunks(5) {
            driver.write_all(piece).await.unwrap();
        }
        driver.flush().await.unwrap();
        let (kind, data) = read_message(&mut driver, 4096).await.unwrap();
        assert_eq!(kind, PacketType::TabularResult);
        assert_eq!(data, b"the answer");
        driver.write_all(&login).await.unwrap();
        driver.flush().await.unwrap();
        // The server sees the login and nothing of the PRELOGIN.
        let mut seen = vec![0u8; login.len()];
        server.read_exact(&mut seen).await.unwrap();
        assert_eq!(seen, login);
        server.write_all(b"reply").await.unwrap();
        let mut reply = [0u8; 5];
        driver.read_exact(&mut reply).await.unwrap();
        assert_eq!(&reply, b"reply");
    }

    #[tokio::test]
    async fn a_driver_that_does_not_start_with_prelogin_is_refused() {
        let (client, _server) = tokio::io::duplex(1024);
        let mut driver = DriverStream::over(client, b"the answer");
        let login = frame(PacketType::Other(0x10), b"login", DEFAULT_PACKET_SIZE);
        let error = driver.write_all(&login).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }

    fn answer(encryption: u8) -> PreloginResponse {
        let data = [
            0x00, 0x00, 0x0B, 0x00, 0x06, 0x01, 0x00, 0x11, 0x00, 0x01, 0xFF, 16, 0, 0x0F, 0xA0, 0,
            0, encryption,
        ];
        prelogin::parse_response(&data).unwrap()
    }

    #[test]
    fn only_a_server_that_forces_encryption_keeps_the_connection_for_a_login() {
        assert!(can_carry_a_login(&answer(0x03)));
        // ENCRYPT_OFF: TLS would end after LOGIN7, the queries in clear.
        assert!(!can_carry_a_login(&answer(0x00)));
        assert!(!can_carry_a_login(&answer(0x01)));
        assert!(!can_carry_a_login(&answer(0x02)));
        // A client certificate asked for: not this tool's to give.
        assert!(!can_carry_a_login(&answer(0x83)));
    }
}
