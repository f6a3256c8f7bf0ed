//! PRELOGIN ([MS-TDS] §2.2.6.5): the client's request and the server's
//! answer, which carries the server's version and its encryption setting.

use serde::Serialize;

use crate::version::SqlVersion;

/// The ENCRYPTION option, as sent or answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encryption {
    /// Encryption available but off (only LOGIN7 is encrypted).
    Off,
    On,
    NotSupported,
    Required,
}

impl Encryption {
    const CLIENT_CERT: u8 = 0x80;

    pub fn code(self) -> u8 {
        match self {
            Encryption::Off => 0x00,
            Encryption::On => 0x01,
            Encryption::NotSupported => 0x02,
            Encryption::Required => 0x03,
        }
    }

    /// The value without the CLIENT_CERT bit, and whether that bit was set.
    pub fn from_code(code: u8) -> Option<(Encryption, bool)> {
        let value = match code & !Self::CLIENT_CERT {
            0x00 => Encryption::Off,
            0x01 => Encryption::On,
            0x02 => Encryption::NotSupported,
            0x03 => Encryption::Required,
            _ => return None,
        };
        Some((value, code & Self::CLIENT_CERT != 0))
    }

    pub fn wire_name(self) -> &'static str {
        match self {
            Encryption::Off => "ENCRYPT_OFF",
            Encryption::On => "ENCRYPT_ON",
            Encryption::NotSupported => "ENCRYPT_NOT_SUP",
            Encryption::Required => "ENCRYPT_REQ",
        }
    }
}

const VERSION: u8 = 0x00;
const ENCRYPTION: u8 = 0x01;
const INSTOPT: u8 = 0x02;
const THREADID: u8 = 0x03;
const MARS: u8 = 0x04;
const FEDAUTHREQUIRED: u8 = 0x06;
const TERMINATOR: u8 = 0xFF;

/// A client PRELOGIN asking for `encryption`, with the options every
/// client sends (version, encryption, instance, thread id, MARS off).
pub fn request(encryption: Encryption) -> Vec<u8> {
    // Client version: this tool's, as drivers state theirs; servers ignore it.
    let options: [(u8, Vec<u8>); 5] = [
        (VERSION, vec![0, 1, 0, 0, 0, 0]),
        (ENCRYPTION, vec![encryption.code()]),
        (INSTOPT, vec![0]),
        (THREADID, std::process::id().to_be_bytes().to_vec()),
        (MARS, vec![0]),
    ];
    let table_len = options.len() * 5 + 1;
    let mut table = Vec::with_capacity(table_len);
    let mut data = Vec::new();
    for (token, value) in &options {
        let offset = (table_len + data.len()) as u16;
        table.push(*token);
        table.extend_from_slice(&offset.to_be_bytes());
        table.extend_from_slice(&(value.len() as u16).to_be_bytes());
        data.extend_from_slice(value);
    }
    table.push(TERMINATOR);
    table.extend_from_slice(&data);
    table
}

/// What the server answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreloginResponse {
    pub version: Option<SqlVersion>,
    /// Absent when the server omitted the option (no server does).
    pub encryption: Option<Encryption>,
    /// The server asked for a client certificate (the 0x80 bit).
    pub client_cert_requested: bool,
    pub mars: Option<bool>,
    pub fed_auth_required: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreloginError {
    #[error("the PRELOGIN answer's option table is not terminated")]
    Unterminated,
    #[error(
        "PRELOGIN option 0x{token:02X} points at bytes {offset}..{end}, beyond the {len}-byte answer"
    )]
    OutOfBounds {
        token: u8,
        offset: usize,
        end: usize,
        len: usize,
    },
    #[error("PRELOGIN option 0x{token:02X} is {len} bytes long, expected at least {expected}")]
    TooShort {
        token: u8,
        len: usize,
        expected: usize,
    },
    #[error("the ENCRYPTION value 0x{0:02X} in the PRELOGIN answer is not defined")]
    UnknownEncryption(u8),
}

/// The options of a PRELOGIN message: each token with where its value lies
/// in `data`, every offset checked against the message's length.
fn options(data: &[u8]) -> Result<Vec<(u8, std::ops::Range<usize>)>, PreloginError> {
    let mut found = Vec::new();
    let mut position = 0;
    loop {
        let token = *data.get(position).ok_or(PreloginError::Unterminated)?;
        if token == TERMINATOR {
            return Ok(found);
        }
        let entry = data
            .get(position..position + 5)
            .ok_or(PreloginError::Unterminated)?;
        let offset = usize::from(u16::from_be_bytes([entry[1], entry[2]]));
        let len = usize::from(u16::from_be_bytes([entry[3], entry[4]]));
        if data.len() < offset + len {
            return Err(PreloginError::OutOfBounds {
                token,
                offset,
                end: offset + len,
                len: data.len(),
            });
        }
        found.push((token, offset..offset + len));
        position += 5;
    }
}

/// Parses the data of the server's PRELOGIN answer.
pub fn parse_response(data: &[u8]) -> Result<PreloginResponse, PreloginError> {
    let mut response = PreloginResponse {
        version: None,
        encryption: None,
        client_cert_requested: false,
        mars: None,
        fed_auth_required: None,
    };
    for (token, range) in options(data)? {
        let value = &data[range];
        let at_least = |expected: usize| {
            if value.len() >= expected {
                Ok(())
            } else {
                Err(PreloginError::TooShort {
                    token,
                    len: value.len(),
                    expected,
                })
            }
        };
        match token {
            VERSION => {
                at_least(6)?;
                response.version = Some(SqlVersion {
                    major: value[0].into(),
                    minor: value[1].into(),
                    build: u16::from_be_bytes([value[2], value[3]]).into(),
                    revision: u16::from_be_bytes([value[4], value[5]]).into(),
                });
            }
            ENCRYPTION => {
                at_least(1)?;
                let (encryption, client_cert) = Encryption::from_code(value[0])
                    .ok_or(PreloginError::UnknownEncryption(value[0]))?;
                response.encryption = Some(encryption);
                response.client_cert_requested = client_cert;
            }
            MARS => {
                at_least(1)?;
                response.mars = Some(value[0] != 0);
            }
            FEDAUTHREQUIRED => {
                at_least(1)?;
                response.fed_auth_required = Some(value[0] != 0);
            }
            _ => {}
        }
    }
    Ok(response)
}

/// The server's PRELOGIN answer `data` with its ENCRYPTION value replaced by
/// `encryption`, every other byte as the server sent it: what a driver is
/// told when this tool has already secured the connection (see
/// `probe::tds::secured`).
pub fn with_encryption(data: &[u8], encryption: Encryption) -> Result<Vec<u8>, PreloginError> {
    let (_, range) = options(data)?
        .into_iter()
        .find(|(token, range)| *token == ENCRYPTION && !range.is_empty())
        .ok_or(PreloginError::TooShort {
            token: ENCRYPTION,
            len: 0,
            expected: 1,
        })?;
    let mut rewritten = data.to_vec();
    rewritten[range.start] = encryption.code();
    Ok(rewritten)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_has_the_layout_of_the_specification_example() {
        let request = request(Encryption::Off);
        // Five 5-byte entries and the terminator, then the data.
        assert_eq!(&request[..5], &[0x00, 0x00, 0x1A, 0x00, 0x06]);
        assert_eq!(&request[5..10], &[0x01, 0x00, 0x20, 0x00, 0x01]);
        assert_eq!(&request[10..15], &[0x02, 0x00, 0x21, 0x00, 0x01]);
        assert_eq!(&request[15..20], &[0x03, 0x00, 0x22, 0x00, 0x04]);
        assert_eq!(&request[20..25], &[0x04, 0x00, 0x26, 0x00, 0x01]);
        assert_eq!(request[25], 0xFF);
        assert_eq!(request[0x20], 0x00);
        assert_eq!(request.len(), 0x27);
        // Our own request parses as an answer would.
        let parsed = parse_response(&request).unwrap();
        assert_eq!(parsed.encryption, Some(Encryption::Off));
    }

    #[test]
    fn a_server_answer_yields_version_and_encryption() {
        // [MS-TDS] §4.1 shape, as a SQL Server 2022 answer with ENCRYPT_REQ.
        let answer = [
            0x00, 0x00, 0x10, 0x00, 0x06, 0x01, 0x00, 0x16, 0x00, 0x01, 0x04, 0x00, 0x17, 0x00,
            0x01, 0xFF, 16, 0, 0x0F, 0xA0, 0, 0, 0x83, 0,
        ];
        let parsed = parse_response(&answer).unwrap();
        assert_eq!(parsed.version.unwrap().to_string(), "16.0.4000.0");
        assert_eq!(
            parsed.version.unwrap().release_name(),
            Some("SQL Server 2022")
        );
        assert_eq!(parsed.encryption, Some(Encryption::Required));
        assert!(parsed.client_cert_requested);
        assert_eq!(parsed.mars, Some(false));
    }

    #[test]
    fn lengths_from_the_wire_are_bounded() {
        assert_eq!(parse_response(&[]), Err(PreloginError::Unterminated));
        assert_eq!(
            parse_response(&[0x00, 0x00]),
            Err(PreloginError::Unterminated)
        );
        assert!(matches!(
            parse_response(&[0x01, 0xFF, 0xF0, 0x00, 0x01, 0xFF]),
            Err(PreloginError::OutOfBounds { .. })
        ));
        assert!(matches!(
            parse_response(&[0x00, 0x00, 0x06, 0x00, 0x01, 0xFF, 9]),
            Err(PreloginError::TooShort { .. })
        ));
        assert_eq!(
            parse_response(&[0x01, 0x00, 0x06, 0x00, 0x01, 0xFF, 0x09]),
            Err(PreloginError::UnknownEncryption(9))
        );
    }

    #[test]
    fn an_answer_is_rewritten_only_in_its_encryption_value() {
        let answer = [
            0x00, 0x00, 0x10, 0x00, 0x06, 0x01, 0x00, 0x16, 0x00, 0x01, 0x04, 0x00, 0x17, 0x00,
            0x01, 0xFF, 16, 0, 0x0F, 0xA0, 0, 0, 0x03, 0,
        ];
        let rewritten = with_encryption(&answer, Encryption::NotSupported).unwrap();
        assert_eq!(rewritten[0x16], 0x02);
        let mut unchanged = rewritten.clone();
        unchanged[0x16] = answer[0x16];
        assert_eq!(unchanged, answer);
        let parsed = parse_response(&rewritten).unwrap();
        assert_eq!(parsed.encryption, Some(Encryption::NotSupported));
        assert_eq!(parsed.version.unwrap().to_string(), "16.0.4000.0");
        // An answer without the option cannot be rewritten.
        assert!(with_encryption(&[0xFF], Encryption::NotSupported).is_err());
    }
}
