//! What a login put on the wire and what came back, recorded by the transport
//! itself. tiberius reports a failed login as an error string and a
//! successful one as a client; neither says whether LOGIN7 left this machine
//! or whether the server acknowledged it. This record does, so that "the
//! login was never sent" and "the server accepted the login" rest on what
//! happened, not on the wording of an error.
//!
//! The recorder only frames the byte streams (TDS packet headers, TLS record
//! headers); it never looks inside a payload, so it sees no secret.
//!
//! The same framing lets a [`LoginGate`] hold LOGIN7 back: a login's
//! connection, PRELOGIN and TLS handshake can then run while the server's
//! certificate is still being judged, and LOGIN7 leaves only once it is
//! cleared (issue 14: the login no longer waits for the judgement to start).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

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
#[derive(Debug, Default, Clone)]
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
    fn feed(&mut self, data: &[u8]) -> u32 {
        self.walk(data, |_, _| {})
    }

    /// [`Framer::feed`], telling `frame_start` where in `data` each frame
    /// begins and its first byte (its type).
    fn walk(&mut self, mut data: &[u8], mut frame_start: impl FnMut(usize, u8)) -> u32 {
        let total = data.len();
        self.frames.bytes += data.len() as u64;
        let mut application = 0;
        while !data.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
                continue;
            }
            if self.have == 0 {
                frame_start(total - data.len(), data[0]);
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
    /// Since when a [`LoginGate`] holds LOGIN7 back, while it does.
    holding_since: Option<Instant>,
    /// How long a [`LoginGate`] held LOGIN7 back, once decided.
    held: Duration,
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

    /// How long a [`LoginGate`] held LOGIN7 back: part of the time the
    /// login took, but spent waiting on this side.
    pub fn held(&self) -> Duration {
        let tally = self.tally.lock();
        tally.held
            + tally
                .holding_since
                .map_or(Duration::ZERO, |since| since.elapsed())
    }

    /// Where in `data`, were it written next, the first frame begins that can
    /// carry a TDS 7.x LOGIN7: a plain LOGIN7 packet, or encrypted data (sent
    /// only once the handshake is done, and LOGIN7 comes first).
    fn first_login_frame(&self, data: &[u8]) -> Option<usize> {
        let mut framer = self.tally.lock().written.clone();
        let mut first = None;
        framer.walk(data, |offset, kind| {
            if first.is_none() && (kind == TDS_LOGIN7 || kind == TLS_APPLICATION_DATA) {
                first = Some(offset);
            }
        });
        first
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

/// Holds a TDS 7.x login's LOGIN7 until its [`GateKey`] says whether it
/// may leave. Refused (or the key dropped), the write that would carry it
/// fails and no byte of it reaches the wire.
pub struct LoginGate {
    permit: oneshot::Receiver<bool>,
}

/// The decision a [`LoginGate`] waits for.
pub struct GateKey(oneshot::Sender<bool>);

impl GateKey {
    /// `true`: LOGIN7 may leave; `false`: it never does.
    pub fn decide(self, permit: bool) {
        // The login may have ended already (it failed earlier): nothing to hold.
        let _ = self.0.send(permit);
    }
}

/// A closed gate and the key that decides it.
pub fn login_gate() -> (LoginGate, GateKey) {
    let (key, permit) = oneshot::channel();
    (LoginGate { permit }, GateKey(key))
}

enum GateState {
    Waiting(oneshot::Receiver<bool>),
    Open,
    Refused,
}

/// A stream whose traffic is framed into a [`WireRecord`].
pub struct Recorded<S> {
    stream: S,
    record: WireRecord,
    gate: GateState,
}

impl<S> Recorded<S> {
    /// A recorder with no gate (the tests' shorthand).
    #[cfg(test)]
    pub fn new(stream: S) -> (Self, WireRecord) {
        Self::gated(stream, None)
    }

    /// A recorder of `stream`, with LOGIN7 held at `gate` when there is one.
    pub fn gated(stream: S, gate: Option<LoginGate>) -> (Self, WireRecord) {
        let record = WireRecord::default();
        let gate = match gate {
            Some(LoginGate { permit }) => GateState::Waiting(permit),
            None => GateState::Open,
        };
        (
            Recorded {
                stream,
                record: record.clone(),
                gate,
            },
            record,
        )
    }

    /// How much of `data` may be written now: all of it, the part before a
    /// frame that can carry LOGIN7 while the gate is undecided, or nothing
    /// (pending, or the error of a refused gate).
    fn admit(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        if matches!(self.gate, GateState::Open) {
            return Poll::Ready(Ok(data.len()));
        }
        match self.record.first_login_frame(data) {
            None => return Poll::Ready(Ok(data.len())),
            Some(before) if before > 0 => return Poll::Ready(Ok(before)),
            Some(_) => {}
        }
        let permitted = match &mut self.gate {
            GateState::Waiting(permit) => {
                let polled = Pin::new(permit).poll(cx);
                let mut tally = self.record.tally.lock();
                let since = *tally.holding_since.get_or_insert_with(Instant::now);
                match polled {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(permit) => {
                        tally.holding_since = None;
                        tally.held = since.elapsed();
                        permit.unwrap_or(false)
                    }
                }
            }
            GateState::Open => true,
            GateState::Refused => false,
        };
        if permitted {
            self.gate = GateState::Open;
            Poll::Ready(Ok(data.len()))
        } else {
            self.gate = GateState::Refused;
            Poll::Ready(Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "LOGIN7 was held back and not sent: the login was not cleared",
            )))
        }
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
        let admitted = match self.admit(cx, data) {
            Poll::Ready(Ok(n)) => n,
            other => return other,
        };
        let data = &data[..admitted];
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

    mod gate {
        use super::*;
        use futures::FutureExt;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        /// A gated stream, the server's end, and the gate's key.
        fn gated() -> (
            Recorded<tokio::io::DuplexStream>,
            tokio::io::DuplexStream,
            GateKey,
        ) {
            let (client, server) = tokio::io::duplex(64 * 1024);
            let (gate, key) = login_gate();
            (Recorded::gated(client, Some(gate)).0, server, key)
        }

        /// Everything the server received, once the client is gone.
        async fn received(
            client: Recorded<tokio::io::DuplexStream>,
            mut server: tokio::io::DuplexStream,
        ) -> Vec<u8> {
            drop(client);
            let mut bytes = Vec::new();
            server.read_to_end(&mut bytes).await.unwrap();
            bytes
        }

        #[tokio::test]
        async fn the_handshake_passes_and_login7_waits_for_the_decision() {
            let (mut client, server, key) = gated();
            let handshake = [tds(TDS_PRELOGIN, 40), tds(TDS_PRELOGIN, 300)].concat();
            client.write_all(&handshake).await.unwrap();
            let login = tls(TLS_APPLICATION_DATA, 200);
            // The handshake's last packet and LOGIN7 in one write: the packet
            // leaves, LOGIN7 waits.
            let both = [tds(TDS_PRELOGIN, 20), login.clone()].concat();
            assert!(client.write_all(&both).now_or_never().is_none());
            assert!(!client.record.login_sent(false));
            key.decide(true);
            client.write_all(&login).await.unwrap();
            assert!(client.record.login_sent(false));
            let expected = [handshake, tds(TDS_PRELOGIN, 20), login].concat();
            assert_eq!(received(client, server).await, expected);
        }

        #[tokio::test]
        async fn a_refused_gate_fails_the_write_and_no_byte_of_login7_leaves() {
            for plain in [false, true] {
                let (mut client, server, key) = gated();
                let handshake = tds(TDS_PRELOGIN, 40);
                client.write_all(&handshake).await.unwrap();
                let login = if plain {
                    tds(TDS_LOGIN7, 120)
                } else {
                    tls(TLS_APPLICATION_DATA, 200)
                };
                assert!(client.write_all(&login).now_or_never().is_none());
                key.decide(false);
                let error = client.write_all(&login).await.unwrap_err();
                assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
                // And stays refused.
                assert!(client.write_all(&login).await.is_err());
                assert!(!client.record.login_sent(false));
                assert_eq!(received(client, server).await, handshake, "plain: {plain}");
            }
        }

        #[tokio::test]
        async fn a_key_dropped_undecided_refuses() {
            let (mut client, server, key) = gated();
            drop(key);
            assert!(
                client
                    .write_all(&tls(TLS_APPLICATION_DATA, 200))
                    .await
                    .is_err()
            );
            assert!(received(client, server).await.is_empty());
        }

        #[tokio::test]
        async fn an_ungated_stream_writes_everything() {
            let (client, server) = tokio::io::duplex(64 * 1024);
            let (mut client, record) = Recorded::new(client);
            let login = tls(TLS_APPLICATION_DATA, 200);
            client.write_all(&login).await.unwrap();
            assert!(record.login_sent(false));
            assert_eq!(record.held(), Duration::ZERO);
            assert_eq!(received(client, server).await, login);
        }
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
