//! TDS packet framing ([MS-TDS] §2.2.3): an 8-byte header (type, status,
//! big-endian length including the header, SPID, packet id, window) before
//! each packet's data. Reading tolerates any TCP segmentation and never
//! trusts a length from the wire beyond the bounds given here.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub const HEADER_LEN: usize = 8;

/// The largest packet a client uses before the login negotiates another
/// size; SQL Server's PRELOGIN and handshake packets stay within it.
pub const DEFAULT_PACKET_SIZE: usize = 4096;

/// The most the protocol allows in one packet (the length field is a u16,
/// and SQL Server caps the negotiated size at 32767).
pub const MAX_PACKET_SIZE: usize = 32_767;

/// Status bit: last packet of the message.
pub const STATUS_END_OF_MESSAGE: u8 = 0x01;

/// Packet types this crate sends or expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    /// Tabular result: the server's answer to PRELOGIN and LOGIN7.
    TabularResult,
    /// PRELOGIN, and TLS handshake records wrapped in TDS 7.x.
    PreLogin,
    Other(u8),
}

impl PacketType {
    pub fn code(self) -> u8 {
        match self {
            PacketType::TabularResult => 0x04,
            PacketType::PreLogin => 0x12,
            PacketType::Other(code) => code,
        }
    }

    pub fn from_code(code: u8) -> PacketType {
        match code {
            0x04 => PacketType::TabularResult,
            0x12 => PacketType::PreLogin,
            other => PacketType::Other(other),
        }
    }
}

/// A packet header as read from the wire, already checked for a sane length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub packet_type: PacketType,
    pub status: u8,
    /// Header included.
    pub length: usize,
    pub packet_id: u8,
}

impl Header {
    pub fn data_len(&self) -> usize {
        self.length - HEADER_LEN
    }

    pub fn is_last(&self) -> bool {
        self.status & STATUS_END_OF_MESSAGE != 0
    }

    /// Parses and bounds-checks a header.
    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Result<Header, FramingError> {
        let length = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        if !(HEADER_LEN..=MAX_PACKET_SIZE + 1).contains(&length) {
            return Err(FramingError::BadLength {
                length,
                header: *bytes,
            });
        }
        Ok(Header {
            packet_type: PacketType::from_code(bytes[0]),
            status: bytes[1],
            length,
            packet_id: bytes[6],
        })
    }

    pub fn encode(
        packet_type: PacketType,
        last: bool,
        data_len: usize,
        packet_id: u8,
    ) -> [u8; HEADER_LEN] {
        let length =
            u16::try_from(data_len + HEADER_LEN).expect("callers split data into packets that fit");
        let [hi, lo] = length.to_be_bytes();
        let status = if last { STATUS_END_OF_MESSAGE } else { 0 };
        [packet_type.code(), status, hi, lo, 0, 0, packet_id, 0]
    }
}

/// The peer sent something that is not TDS framing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error(
        "a TDS packet header announced {length} bytes, outside 8..=32768 (header bytes {})",
        hex(header)
    )]
    BadLength {
        length: usize,
        header: [u8; HEADER_LEN],
    },
    #[error("a TDS message grew beyond {limit} bytes without ending")]
    MessageTooLong { limit: usize },
    #[error("expected a TDS packet of type 0x{expected:02X}, got type 0x{actual:02X}")]
    UnexpectedType { expected: u8, actual: u8 },
}

impl From<FramingError> for io::Error {
    fn from(error: FramingError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, error)
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Frames `data` as one message of `packet_type`, split into packets of at
/// most `packet_size` bytes (header included).
pub fn frame(packet_type: PacketType, data: &[u8], packet_size: usize) -> Vec<u8> {
    let chunk = packet_size.clamp(HEADER_LEN + 1, MAX_PACKET_SIZE) - HEADER_LEN;
    let mut out = Vec::with_capacity(data.len() + HEADER_LEN * (data.len() / chunk + 1));
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[][..]]
    } else {
        data.chunks(chunk).collect()
    };
    let count = chunks.len();
    for (index, part) in chunks.into_iter().enumerate() {
        let packet_id = (index + 1) as u8; // wraps at 256 by design of the field
        out.extend_from_slice(&Header::encode(
            packet_type,
            index + 1 == count,
            part.len(),
            packet_id,
        ));
        out.extend_from_slice(part);
    }
    out
}

/// Writes one message.
pub async fn write_message<W: AsyncWrite + Unpin>(
    writer: &mut W,
    packet_type: PacketType,
    data: &[u8],
) -> io::Result<()> {
    writer
        .write_all(&frame(packet_type, data, DEFAULT_PACKET_SIZE))
        .await?;
    writer.flush().await
}

/// Reads one message: packets until one carries end-of-message, their data
/// joined. Refuses messages longer than `limit` bytes of data.
pub async fn read_message<R: AsyncRead + Unpin>(
    reader: &mut R,
    limit: usize,
) -> io::Result<(PacketType, Vec<u8>)> {
    let mut data = Vec::new();
    loop {
        let mut header = [0u8; HEADER_LEN];
        reader.read_exact(&mut header).await?;
        let header = Header::parse(&header)?;
        if data.len() + header.data_len() > limit {
            return Err(FramingError::MessageTooLong { limit }.into());
        }
        let start = data.len();
        data.resize(start + header.data_len(), 0);
        reader.read_exact(&mut data[start..]).await?;
        if header.is_last() {
            return Ok((header.packet_type, data));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_at_the_packet_size_and_only_the_last_ends_the_message() {
        let data = vec![7u8; 10];
        let framed = frame(PacketType::PreLogin, &data, 12);
        // 4 data bytes per packet: 3 packets.
        assert_eq!(framed.len(), 10 + 3 * HEADER_LEN);
        assert_eq!(&framed[..8], &[0x12, 0x00, 0x00, 0x0C, 0, 0, 1, 0]);
        assert_eq!(&framed[12..20], &[0x12, 0x00, 0x00, 0x0C, 0, 0, 2, 0]);
        assert_eq!(&framed[24..32], &[0x12, 0x01, 0x00, 0x0A, 0, 0, 3, 0]);
    }

    #[test]
    fn headers_with_impossible_lengths_are_refused() {
        assert!(Header::parse(&[0x04, 1, 0, 7, 0, 0, 1, 0]).is_err());
        assert!(Header::parse(&[0x04, 1, 0xFF, 0xFF, 0, 0, 1, 0]).is_err());
        let ok = Header::parse(&[0x04, 1, 0, 8, 0, 0, 1, 0]).unwrap();
        assert_eq!(ok.data_len(), 0);
        assert!(ok.is_last());
    }

    #[tokio::test]
    async fn a_message_split_over_packets_and_arbitrary_segments_is_joined() {
        let framed = frame(PacketType::TabularResult, b"hello world", 12);
        let (client, mut server) = tokio::io::duplex(1);
        let writer = tokio::spawn(async move {
            for byte in framed {
                server.write_all(&[byte]).await.unwrap();
            }
        });
        let mut client = client;
        let (kind, data) = read_message(&mut client, 64).await.unwrap();
        writer.await.unwrap();
        assert_eq!(kind, PacketType::TabularResult);
        assert_eq!(data, b"hello world");
    }

    #[tokio::test]
    async fn a_message_beyond_the_limit_is_refused() {
        let framed = frame(PacketType::TabularResult, &[0u8; 100], 4096);
        let mut reader = &framed[..];
        let error = read_message(&mut reader, 50).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }
}
