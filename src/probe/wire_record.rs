//! What a login put on the wire and what came back, recorded by the transport
//! itself. tiberius reports a failed login as an error string and a
//! successful one as a client; neither says whether LOGIN7 left this machine
//! or whether the server acknowledged it. This record does, so that "the
//! login was never sent" and "the server accepted the login" rest on what
//! happened, not on the wording of an error.
//!
//! The recorder only frames the byte streams (TDS packet headers, TLS record
//! headers); it never looks inside a payload, so it sees no secret.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// TDS packet types ([MS-TDS] 2.2.3.1.1) this record tells apart.
const TDS_LOGIN7: u8 = 0x10;
const TDS_PRELOGIN: u8 = 0x12;
/// TLS record content types (RFC 8446 5.1); TDS packet types are all below them.
const TLS_HANDSHAKE: u8 = 0x16;
const TLS_APPLICATION_DATA: u8 = 0x17;
const TLS_RECORD_TYPES: std::ops::RangeInclusive<u8> = 0x14..=0x17;

/// Frames seen in one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Frames {
    pub bytes: u64,
    /// TDS PRELOGIN packets (in TDS 7.x they also carry the TLS handshake).
    pub prelogin_packets: u32,
    /// Unencrypted LOGIN7 packets.
    pub login7_packets: u32,
    pub tls_handshake_records: u32,
    /// Encrypted TDS messages: sent only once a TLS handshake completed.
    pub tls_application_records: u32,
}

/// Splits a byte stream into TDS packets and TLS records by their headers.
#[derive(Debug, Default)]
struct Framer {
    header: [u8; 8],
    have: usize,
    /// Payload bytes of the current frame still to pass over.
    skip: usize,
    frames: Frames,
}

impl Framer {
    fn header_len(first: u8) -> usize {
        if TLS_RECORD_TYPES.contains(&first) {
            5
        } else {
            8
        }
    }

    /// Counts the frames that start in `data`; returns how many TLS
    /// application records began in it.
    fn feed(&mut self, mut data: &[u8]) -> u32 {
        self.frames.bytes += data.len() as u64;
        let mut application = 0;
        while !data.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
                continue;
            }
            let need = if self.have == 0 {
                1
            } else {
                Self::header_len(self.header[0])
            };
            let n = (need - self.have).min(data.len());
            self.header[self.have..self.have + n].copy_from_slice(&data[..n]);
            self.have += n;
            data = &data[n..];
            if self.have < Self::header_len(self.header[0]) {
                continue;
            }
            let kind = self.header[0];
            if TLS_RECORD_TYPES.contains(&kind) {
                self.skip = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
                match kind {
                    TLS_HANDSHAKE => self.frames.tls_handshake_records += 1,
                    TLS_APPLICATION_DATA => {
                        self.frames.tls_application_records += 1;
                        application += 1;
                    }
                    _ => {}
                }
            } else {
                let length = usize::from(u16::from_be_bytes([self.header[2], self.header[3]]));
                self.skip = length.saturating_sub(8);
                match kind {
                    TDS_PRELOGIN => self.frames.prelogin_packets += 1,
                    TDS_LOGIN7 => self.frames.login7_packets += 1,
                    _ => {}
                }
            }
            self.have = 0;
        }
        application
    }
}

#[derive(Debug, Default)]
struct Tally {
    written: Framer,
    read: Framer,
    /// Encrypted records this side wrote after the server's first encrypted
    /// record arrived: in TDS 8 the first encrypted exchange is PRELOGIN, so
    /// only these can carry LOGIN7.
    written_after_server_data: u32,
}

/// A shared view of what went over one connection.
#[derive(Debug, Clone, Default)]
pub struct WireRecord {
    tally: Arc<Mutex<Tally>>,
}

impl WireRecord {
    pub fn written(&self) -> Frames {
        self.tally.lock().written.frames
    }

    /// A TLS handshake was started: TLS records written (TDS 8), or more
    /// than the one PRELOGIN packet (TDS 7.x wraps the handshake in them).
    pub fn tls_started(&self) -> bool {
        let w = self.written();
        w.tls_handshake_records > 0 || w.prelogin_packets > 1
    }

    /// LOGIN7 left this machine: as a plain packet, or — with TLS — as
    /// encrypted data, which a client sends only after the handshake; in
    /// TDS 8 only encrypted data after the server's PRELOGIN answer.
    pub fn login_sent(&self, strict: bool) -> bool {
        let tally = self.tally.lock();
        let w = tally.written.frames;
        if strict {
            tally.written_after_server_data > 0
        } else {
            w.login7_packets > 0 || w.tls_application_records > 0
        }
    }

    fn on_write(&self, data: &[u8]) {
        let mut tally = self.tally.lock();
        let application = tally.written.feed(data);
        if tally.read.frames.tls_application_records > 0 {
            tally.written_after_server_data += application;
        }
    }

    fn on_read(&self, data: &[u8]) {
        self.tally.lock().read.feed(data);
    }
}

/// A stream whose traffic is framed into a [`WireRecord`].
pub struct Recorded<S> {
    stream: S,
    record: WireRecord,
}

impl<S> Recorded<S> {
    pub fn new(stream: S) -> (Self, WireRecord) {
        let record = WireRecord::default();
        (
            Recorded {
                stream,
                record: record.clone(),
            },
            record,
        )
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Recorded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.record.on_read(&buf.filled()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recorded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = polled {
            self.record.on_write(&data[..n]);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Records in the states a login passes through, for tests of code that
/// reads them.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    fn tds_packet(kind: u8) -> Vec<u8> {
        vec![kind, 0x01, 0x00, 0x08, 0, 0, 1, 0]
    }

    fn tls_record(kind: u8) -> Vec<u8> {
        vec![kind, 0x03, 0x03, 0x00, 0x00]
    }

    /// Only PRELOGIN went out.
    pub fn before_tls() -> WireRecord {
        let record = WireRecord::default();
        record.on_write(&tds_packet(TDS_PRELOGIN));
        record
    }

    /// The TLS handshake started (TDS 7.x: inside PRELOGIN packets).
    pub fn during_tls() -> WireRecord {
        let record = before_tls();
        record.on_write(&tds_packet(TDS_PRELOGIN));
        record
    }

    /// The handshake completed and LOGIN7 went out encrypted.
    pub fn after_login() -> WireRecord {
        let record = during_tls();
        record.on_write(&tls_record(TLS_APPLICATION_DATA));
        record
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tds(kind: u8, payload: usize) -> Vec<u8> {
        let length = (payload + 8) as u16;
        let mut packet = vec![kind, 0x01];
        packet.extend_from_slice(&length.to_be_bytes());
        packet.extend_from_slice(&[0, 0, 1, 0]);
        packet.extend(std::iter::repeat_n(0xAB, payload));
        packet
    }

    fn tls(kind: u8, payload: usize) -> Vec<u8> {
        let mut record = vec![kind, 0x03, 0x03];
        record.extend_from_slice(&(payload as u16).to_be_bytes());
        record.extend(std::iter::repeat_n(0x17, payload));
        record
    }

    #[test]
    fn frames_are_counted_however_the_stream_is_split() {
        let stream: Vec<u8> = [
            tds(TDS_PRELOGIN, 40),
            tds(TDS_PRELOGIN, 300),
            tls(TLS_APPLICATION_DATA, 200),
        ]
        .concat();
        for chunk in [1, 3, 7, 64, stream.len()] {
            let mut framer = Framer::default();
            let application: u32 = stream.chunks(chunk).map(|c| framer.feed(c)).sum();
            assert_eq!(framer.frames.prelogin_packets, 2, "chunks of {chunk}");
            assert_eq!(
                framer.frames.tls_application_records, 1,
                "chunks of {chunk}"
            );
            assert_eq!(application, 1);
            assert_eq!(framer.frames.bytes, stream.len() as u64);
        }
    }

    #[test]
    fn tds7_login_is_sent_once_encrypted_data_or_a_plain_login7_leaves() {
        let record = WireRecord::default();
        record.on_write(&tds(TDS_PRELOGIN, 40));
        assert!(!record.tls_started());
        record.on_write(&tds(TDS_PRELOGIN, 200));
        assert!(record.tls_started());
        assert!(!record.login_sent(false));
        record.on_write(&tls(TLS_APPLICATION_DATA, 300));
        assert!(record.login_sent(false));

        let plain = WireRecord::default();
        plain.on_write(&tds(TDS_PRELOGIN, 40));
        plain.on_write(&tds(TDS_LOGIN7, 120));
        assert!(plain.login_sent(false));
    }

    #[test]
    fn tds8_login_is_sent_only_after_the_server_answered_prelogin() {
        let record = WireRecord::default();
        record.on_write(&tls(TLS_HANDSHAKE, 300));
        record.on_read(&tls(TLS_HANDSHAKE, 3000));
        record.on_write(&tls(TLS_APPLICATION_DATA, 60));
        assert!(record.tls_started());
        assert!(!record.login_sent(true), "that was PRELOGIN");
        record.on_read(&tls(TLS_APPLICATION_DATA, 60));
        record.on_write(&tls(TLS_APPLICATION_DATA, 300));
        assert!(record.login_sent(true));
    }
}
