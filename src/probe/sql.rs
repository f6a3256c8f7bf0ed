//! SQL Server sessions over tiberius: a login on a TCP connection we opened
//! ourselves (so port and instance resolution stay ours), and queries whose
//! answers come back as plain values. Observations only: a refused login is a
//! typed [`LoginFailure`], never a verdict. Every exchange has a deadline,
//! since tiberius's own handshake bound is not enough to stop a stalled
//! server from holding a check.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::{Serialize, Serializer};
use tiberius::{AuthMethod, Client, ColumnData, Config, EncryptionLevel, QueryItem};
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use futures::TryStreamExt;

use crate::probe::bounded::{Bounded, ReadBudget};
use crate::probe::login_ack::{self, LoginAck};
use crate::probe::tcp::{self, ConnectOutcome};
use crate::probe::tds::secured::SecuredTds7;
use crate::probe::wire_record::{LoginGate, Recorded, WireRecord};

/// How the login proves who it is.
#[derive(Clone)]
pub enum Credentials {
    /// SQL Server authentication: a login and password the server checks itself.
    Sql {
        user: String,
        password: SecretString,
    },
    /// Windows authentication by NTLM: `DOMAIN\user` and its password
    /// (through sspi-rs on Unix, through winauth on Windows).
    Windows {
        user: String,
        password: SecretString,
    },
    /// The Windows account running this process, through the system's SSPI
    /// (`user` only names it for reports). Windows only: the target refuses
    /// `auth = "integrated"` elsewhere.
    #[cfg(windows)]
    Integrated { user: String },
}

impl Credentials {
    pub fn user(&self) -> &str {
        match self {
            Credentials::Sql { user, .. } | Credentials::Windows { user, .. } => user,
            #[cfg(windows)]
            Credentials::Integrated { user } => user,
        }
    }

    fn auth_method(&self) -> AuthMethod {
        match self {
            Credentials::Sql { user, password } => {
                AuthMethod::sql_server(user, password.expose_secret())
            }
            Credentials::Windows { user, password } => {
                AuthMethod::windows(user, password.expose_secret())
            }
            #[cfg(windows)]
            Credentials::Integrated { .. } => AuthMethod::Integrated,
        }
    }
}

/// How the server's certificate is judged during the session's handshake.
#[derive(Debug, Clone)]
pub enum CertificateTrust {
    /// Verify chain and name, with this CA file added to the system's roots.
    Verify { ca_file: Option<PathBuf> },
    /// Accept any certificate: only when the user explicitly asked for it.
    AcceptAny,
}

/// Everything one login needs.
pub struct LoginRequest {
    /// The address that accepted TCP (see `facts::net::SqlEndpoint`).
    pub endpoint: SocketAddr,
    /// The name the certificate must carry, also sent as the server name.
    pub tls_name: String,
    pub trust: CertificateTrust,
    /// TDS 8.0 (TLS before PRELOGIN) instead of TDS 7.x with encryption required.
    pub strict: bool,
    pub credentials: Credentials,
    /// The database to open at login, as the application does; `None` for the login's default.
    pub database: Option<String>,
    pub timeout: Duration,
}

/// An error the server reported (an ERROR token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerError {
    pub number: u32,
    pub state: u8,
    pub class: u8,
    pub message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub server: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub procedure: String,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "error {}, state {}: {}",
            self.number, self.state, self.message
        )
    }
}

impl ServerError {
    /// The Windows error SQL Server quotes in a message about a file it
    /// could not open or write ("Cannot open backup device '…'. Operating
    /// system error 5(Access is denied.)", error 3201 and its kin). The
    /// message is the only place SQL Server reports it, so it is read here,
    /// once, and callers match on the kind.
    pub fn os_error(&self) -> Option<OsError> {
        let text = &self.message;
        text.match_indices("error ").find_map(|(at, word)| {
            let rest = &text[at + word.len()..];
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if digits == 0 || !rest[digits..].starts_with('(') {
                return None;
            }
            rest[..digits].parse().ok().map(OsError::from_code)
        })
    }
}

impl ServerError {
    /// The reason a refused login's message gives after `Reason:`, when the
    /// server sends one (most send 18456 state 1 and keep the reason in
    /// their error log; some, Azure SQL among them, say it).
    pub fn login_reason(&self) -> Option<LoginReason> {
        let (_, reason) = self.message.split_once("Reason:")?;
        Some(if reason.to_ascii_lowercase().contains("disabled") {
            LoginReason::AccountDisabled
        } else {
            LoginReason::Other
        })
    }
}

/// What a `Reason:` in a login refusal says, as far as this tool tells
/// reasons apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginReason {
    /// "The account is disabled."
    AccountDisabled,
    Other,
}

/// A Windows system error code as SQL Server quotes it, by what it means
/// for a file SQL Server writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OsError {
    /// ERROR_ACCESS_DENIED (5).
    AccessDenied,
    /// The file, folder, network path or share does not exist
    /// (ERROR_FILE_NOT_FOUND 2, ERROR_PATH_NOT_FOUND 3,
    /// ERROR_BAD_NETPATH 53, ERROR_BAD_NET_NAME 67).
    NotFound(u32),
    /// ERROR_DISK_FULL (112).
    DiskFull,
    /// Any other code.
    Other(u32),
}

impl OsError {
    pub fn from_code(code: u32) -> OsError {
        match code {
            5 => OsError::AccessDenied,
            2 | 3 | 53 | 67 => OsError::NotFound(code),
            112 => OsError::DiskFull,
            other => OsError::Other(other),
        }
    }
}

/// Why a login did not produce a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum LoginFailure {
    /// The TCP connection itself failed (the endpoint accepted earlier).
    Connect { detail: String },
    /// The server refused the login with an error (18456, 4060, 18452…).
    Server(ServerError),
    /// The TLS handshake failed: certificate rejected, no common protocol, or no TLS offered.
    Tls { detail: String },
    /// Windows authentication failed on this side (sspi-rs on Unix).
    Authentication { detail: String },
    /// Nothing came back in time.
    Timeout { after_millis: u64 },
    /// The connection broke; `login_sent` says whether LOGIN7 had left this
    /// machine (from the connection's own record, see `wire_record`).
    Io { detail: String, login_sent: bool },
    /// The server answered something unexpected.
    Protocol { detail: String, login_sent: bool },
    /// The server ended its answer to LOGIN7 without acknowledging it: no
    /// LOGINACK token, and no error either. No session exists.
    NotAcknowledged,
    /// The server sent the client elsewhere (Azure gateway redirection).
    Routing { host: String, port: u16 },
}

impl std::fmt::Display for LoginFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoginFailure::Connect { detail } => write!(f, "cannot connect: {detail}"),
            LoginFailure::Server(e) => write!(f, "the server refused the login ({e})"),
            LoginFailure::Tls { detail } => write!(f, "the TLS handshake failed: {detail}"),
            LoginFailure::Authentication { detail } => {
                write!(f, "Windows authentication (NTLM) failed: {detail}")
            }
            LoginFailure::Timeout { after_millis } => {
                write!(f, "the login did not complete within {after_millis} ms")
            }
            LoginFailure::Io { detail, .. } => write!(f, "the connection broke: {detail}"),
            LoginFailure::Protocol { detail, .. } => {
                write!(f, "the server's answer was not understood: {detail}")
            }
            LoginFailure::NotAcknowledged => f.write_str(
                "the server ended the login without acknowledging it (no LOGINACK token)",
            ),
            LoginFailure::Routing { host, port } => {
                write!(f, "the server redirected the login to {host}:{port}")
            }
        }
    }
}

/// Why a query gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum QueryFailure {
    /// The server rejected the statement (permission denied, unknown object…).
    Server(ServerError),
    /// No answer in time; the session cannot be used again.
    Timeout { after_millis: u64 },
    /// The connection broke or the answer was not understood; the session cannot be used again.
    Connection { detail: String },
    /// The server answered, but not in the shape the query asks for (rows
    /// or columns missing): nothing can be concluded from it.
    Unexpected { detail: String },
    /// The answer was larger than any answer to this tool's queries can be
    /// (see [`ANSWER_LIMITS`]); the session cannot be used again.
    TooLarge { detail: String },
}

/// The most an answer to one of this tool's queries may hold. The queries
/// are ours and return a few rows of short values; a server that sends
/// more is cut off, so it cannot exhaust this machine's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerLimits {
    /// Bytes read from the connection for the whole answer.
    pub bytes: u64,
    /// Rows over all result sets.
    pub rows: usize,
    /// Bytes of any one value (text counted as UTF-8).
    pub value_bytes: usize,
}

pub const ANSWER_LIMITS: AnswerLimits = AnswerLimits {
    bytes: 16 * 1024 * 1024,
    rows: 100_000,
    value_bytes: 1024 * 1024,
};

/// The most the login may read (TLS handshake and LOGINACK included): a
/// certificate chain and a few tokens take a few kilobytes.
pub const LOGIN_BYTES: u64 = 4 * 1024 * 1024;

impl QueryFailure {
    /// The server's error number, when the server answered with an error.
    pub fn number(&self) -> Option<u32> {
        match self {
            QueryFailure::Server(e) => Some(e.number),
            _ => None,
        }
    }
}

impl std::fmt::Display for QueryFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryFailure::Server(e) => write!(f, "the server answered {e}"),
            QueryFailure::Timeout { after_millis } => {
                write!(f, "no answer within {after_millis} ms")
            }
            QueryFailure::Connection { detail } => write!(f, "the session broke: {detail}"),
            QueryFailure::Unexpected { detail } => {
                write!(f, "the answer could not be read: {detail}")
            }
            QueryFailure::TooLarge { detail } => write!(
                f,
                "the answer was larger than any answer to this query can be: {detail}"
            ),
        }
    }
}

/// One value of a result set, in a form checks and JSON both understand.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Exact decimals keep their digits.
    Decimal(String),
    Text(String),
    Binary(Vec<u8>),
    /// A date and time without offset, as SQL Server stores `datetime`/`datetime2`.
    DateTime(time::PrimitiveDateTime),
    DateTimeOffset(time::OffsetDateTime),
    Date(time::Date),
    Time(time::Time),
}

impl SqlValue {
    pub fn is_null(&self) -> bool {
        matches!(self, SqlValue::Null)
    }

    /// How many bytes the value holds (text as UTF-8); fixed-size values count 8.
    pub fn size(&self) -> usize {
        match self {
            SqlValue::Text(t) | SqlValue::Decimal(t) => t.len(),
            SqlValue::Binary(b) => b.len(),
            _ => 8,
        }
    }

    /// Integers, bits, and text or decimals holding an integer (SERVERPROPERTY
    /// answers are often text).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            SqlValue::Int(i) => Some(*i),
            SqlValue::Bool(b) => Some(i64::from(*b)),
            SqlValue::Text(t) | SqlValue::Decimal(t) => t.trim().parse().ok(),
            SqlValue::Float(f) if f.fract() == 0.0 => Some(*f as i64),
            _ => None,
        }
    }

    /// True/false from a bit, an integer 0/1, or text such as `TRUE`/`1`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            SqlValue::Bool(b) => Some(*b),
            SqlValue::Int(i) => Some(*i != 0),
            SqlValue::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Some(true),
                "0" | "false" | "no" | "off" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// Text as is; other non-null values as their display form.
    pub fn as_text(&self) -> Option<String> {
        match self {
            SqlValue::Null => None,
            SqlValue::Text(t) => Some(t.clone()),
            other => Some(other.to_string()),
        }
    }

    /// The value as an instant in UTC, for values that are dates and times
    /// (a `datetime` without offset is read as UTC).
    pub fn as_utc(&self) -> Option<time::OffsetDateTime> {
        match self {
            SqlValue::DateTime(dt) => Some(dt.assume_utc()),
            SqlValue::DateTimeOffset(dt) => Some(*dt),
            SqlValue::Text(t) => parse_datetime_text(t),
            _ => None,
        }
    }

    /// The JSON form used in evidence, bundles and check packs.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            SqlValue::Null => Value::Null,
            SqlValue::Bool(b) => Value::Bool(*b),
            SqlValue::Int(i) => Value::from(*i),
            SqlValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(f.to_string())),
            other => Value::String(other.to_string()),
        }
    }
}

impl std::fmt::Display for SqlValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use time::format_description::well_known::Rfc3339;
        match self {
            SqlValue::Null => f.write_str("NULL"),
            SqlValue::Bool(b) => write!(f, "{}", u8::from(*b)),
            SqlValue::Int(i) => write!(f, "{i}"),
            SqlValue::Float(x) => write!(f, "{x}"),
            SqlValue::Decimal(t) | SqlValue::Text(t) => f.write_str(t),
            SqlValue::Binary(bytes) => {
                f.write_str("0x")?;
                bytes.iter().try_for_each(|b| write!(f, "{b:02X}"))
            }
            SqlValue::DateTime(dt) => match dt.assume_utc().format(&Rfc3339) {
                // No offset is known: print it without one.
                Ok(text) => f.write_str(text.trim_end_matches('Z')),
                Err(_) => write!(f, "{dt}"),
            },
            SqlValue::DateTimeOffset(dt) => match dt.format(&Rfc3339) {
                Ok(text) => f.write_str(&text),
                Err(_) => write!(f, "{dt}"),
            },
            SqlValue::Date(d) => write!(f, "{d}"),
            SqlValue::Time(t) => write!(f, "{t}"),
        }
    }
}

impl Serialize for SqlValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

fn parse_datetime_text(text: &str) -> Option<time::OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    let text = text.trim();
    if let Ok(dt) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Some(dt);
    }
    let format = time::macros::format_description!(
        "[year]-[month]-[day][first [T][ ]][hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    time::PrimitiveDateTime::parse(text, &format)
        .ok()
        .map(|dt| dt.assume_utc())
}

/// One result set: its column names and rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResultSet {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<SqlValue>>,
}

impl ResultSet {
    /// The index of a column, by case-insensitive name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
    }

    /// The value of column `name` in row `row`, NULL when either is missing.
    pub fn get(&self, row: usize, name: &str) -> &SqlValue {
        const NULL: &SqlValue = &SqlValue::Null;
        self.column(name)
            .and_then(|c| self.rows.get(row).and_then(|r| r.get(c)))
            .unwrap_or(NULL)
    }

    /// The first column of the first row, if any row came back.
    pub fn scalar(&self) -> Option<&SqlValue> {
        self.rows.first().and_then(|r| r.first())
    }

    /// Rows as JSON objects keyed by column name.
    pub fn to_json_rows(&self) -> Vec<serde_json::Map<String, serde_json::Value>> {
        self.rows
            .iter()
            .map(|row| {
                self.columns
                    .iter()
                    .zip(row)
                    .map(|(name, value)| (name.clone(), value.to_json()))
                    .collect()
            })
            .collect()
    }
}

/// What tiberius talks over: the recorded socket (tiberius does its own
/// TLS), or a connection this tool secured (see `probe::tds::secured`).
trait Transport: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Transport for S {}

type TdsClient = Client<Compat<Bounded<Box<dyn Transport>>>>;

/// A logged-in connection. Queries run one at a time; after a timeout or a
/// broken connection the session refuses further queries, since tiberius
/// cannot resynchronise a connection abandoned mid-answer.
pub struct Connection {
    client: Option<TdsClient>,
    timeout: Duration,
    lost: Option<String>,
    /// The server's acknowledgement of the login.
    ack: LoginAck,
    /// What the connection may still read for the answer in progress.
    budget: Arc<ReadBudget>,
    limits: AnswerLimits,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("open", &self.client.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Logs in. The caller has decided that the certificate may be trusted (or
/// that the user accepted an unverified one): this sends LOGIN7.
pub async fn login(request: LoginRequest) -> Result<Connection, LoginFailure> {
    login_gated(request, None).await.0
}

/// [`login`], with LOGIN7 held at `gate` (when there is one) until the gate
/// is decided: the connection, PRELOGIN and TLS handshake go ahead, and a
/// refused gate fails the login with no LOGIN7 sent. Also returns how long
/// LOGIN7 was held, which the time limit does not count.
pub async fn login_gated(
    request: LoginRequest,
    gate: Option<LoginGate>,
) -> (Result<Connection, LoginFailure>, Duration) {
    let started = Instant::now();
    let (outcome, wire) = connect_and_log_in(request, gate, started).await;
    let held = wire.as_ref().map_or(Duration::ZERO, WireRecord::held);
    (outcome, held)
}

async fn connect_and_log_in(
    request: LoginRequest,
    gate: Option<LoginGate>,
    started: Instant,
) -> (Result<Connection, LoginFailure>, Option<WireRecord>) {
    let stream = match tcp::connect(request.endpoint, request.timeout).await {
        Ok(stream) => stream,
        Err(ConnectOutcome::TimedOut { after_millis }) => {
            return (Err(LoginFailure::Timeout { after_millis }), None);
        }
        Err(other) => {
            let detail = format!("{other:?}");
            return (Err(LoginFailure::Connect { detail }), None);
        }
    };
    let config = config_for(&request);
    let (stream, wire) = Recorded::gated(stream, gate);
    let outcome = log_in_over(Box::new(stream), &wire, config, &request, started, true).await;
    (outcome, Some(wire))
}

/// Logs in over a TDS 7.x connection whose PRELOGIN and TLS handshake this
/// tool made (the TLS probe's, see `probe::tds::secured`): tiberius, told
/// the connection needs no encryption of its own, writes its TDS packets
/// into that TLS session. The caller has cleared the certificate of that
/// very handshake; nothing is sent before this is called.
pub async fn login_secured(
    request: LoginRequest,
    secured: SecuredTds7,
) -> Result<Connection, LoginFailure> {
    let started = Instant::now();
    let mut config = config_for(&request);
    config.encryption(EncryptionLevel::NotSupported);
    let (stream, wire) = secured.into_driver_stream();
    log_in_over(Box::new(stream), &wire, config, &request, started, false).await
}

/// tiberius's login over `stream`, judged from what `wire` saw;
/// `driver_tls`: tiberius makes the TLS handshake itself (else it was made
/// before, and a failure is never the handshake's).
async fn log_in_over(
    stream: Box<dyn Transport>,
    wire: &WireRecord,
    config: Config,
    request: &LoginRequest,
    started: Instant,
    driver_tls: bool,
) -> Result<Connection, LoginFailure> {
    let budget = ReadBudget::new(LOGIN_BYTES);
    let stream = Bounded::new(stream, budget.clone()).compat_write();
    let (connected, ack) = login_ack::witnessed(within_limit_not_held(
        Client::connect(config, stream),
        started + request.timeout,
        wire,
    ))
    .await;
    let login_sent = wire.login_sent(request.strict);
    // The time the server took: a LOGIN7 held at a gate waited on this side.
    let elapsed = started.elapsed().saturating_sub(wire.held());
    match connected {
        Ok(Ok(client)) => match ack {
            Some(ack) => Ok(Connection {
                client: Some(client),
                timeout: request.timeout,
                lost: None,
                ack,
                budget,
                limits: ANSWER_LIMITS,
            }),
            None => Err(LoginFailure::NotAcknowledged),
        },
        Ok(Err(_)) if budget.exceeded() => Err(LoginFailure::Protocol {
            detail: format!(
                "the server sent more than {LOGIN_BYTES} bytes during the login, far more than a login takes"
            ),
            login_sent,
        }),
        Ok(Err(error)) => Err(classify_login_error(
            error,
            elapsed,
            wire.tls_started() && driver_tls,
            login_sent,
        )),
        Err(_) => Err(LoginFailure::Timeout {
            after_millis: elapsed.as_millis() as u64,
        }),
    }
}

/// Runs `future` until `deadline`, moved on by however long a gate held
/// LOGIN7 back: waiting for this side's decision is not the server's time.
async fn within_limit_not_held<F: std::future::Future>(
    future: F,
    deadline: Instant,
    wire: &WireRecord,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    let mut future = std::pin::pin!(future);
    loop {
        let limit = (deadline + wire.held()).saturating_duration_since(Instant::now());
        match tokio::time::timeout(limit, future.as_mut()).await {
            Err(elapsed) if Instant::now() >= deadline + wire.held() => return Err(elapsed),
            Err(_) => continue,
            Ok(output) => return Ok(output),
        }
    }
}

fn config_for(request: &LoginRequest) -> Config {
    let mut config = Config::new();
    config.host(&request.tls_name);
    config.hostname_in_certificate(&request.tls_name);
    config.port(request.endpoint.port());
    config.application_name("mssql-preflight");
    config.encryption(if request.strict {
        EncryptionLevel::Strict
    } else {
        EncryptionLevel::Required
    });
    match &request.trust {
        CertificateTrust::Verify {
            ca_file: Some(path),
        } => config.trust_cert_ca(path.display()),
        CertificateTrust::Verify { ca_file: None } => {}
        CertificateTrust::AcceptAny => config.trust_cert(),
    }
    if let Some(database) = &request.database {
        config.database(database);
    }
    config.authentication(request.credentials.auth_method());
    // The login runs under our own limit (`within_limit_not_held`); tiberius's
    // would also count a LOGIN7 held at a gate, and it costs a timer thread.
    config.handshake_timeout(None);
    // Every query runs under our own limit (`Connection::query_within`), so
    // a statement allowed longer than one exchange (a backup) is not cut short.
    config.command_timeout(None);
    config
}

/// Turns a tiberius error from a login into a typed failure. Whether
/// tiberius's TLS handshake was under way and whether LOGIN7 had been sent
/// come from the connection's own record, not from the error's wording.
fn classify_login_error(
    error: tiberius::error::Error,
    elapsed: Duration,
    in_driver_handshake: bool,
    login_sent: bool,
) -> LoginFailure {
    use tiberius::error::Error;
    match error {
        Error::Server(token) => LoginFailure::Server(server_error(&token)),
        Error::Io {
            kind: std::io::ErrorKind::TimedOut,
            ..
        } => LoginFailure::Timeout {
            after_millis: elapsed.as_millis() as u64,
        },
        Error::Routing { host, port } => LoginFailure::Routing { host, port },
        #[cfg(not(windows))]
        Error::SspiRs(detail) => LoginFailure::Authentication { detail },
        Error::Tls(detail) if !login_sent => LoginFailure::Tls { detail },
        other if !login_sent && in_driver_handshake => LoginFailure::Tls {
            detail: other.to_string(),
        },
        Error::Io { message, .. } => LoginFailure::Io {
            detail: message,
            login_sent,
        },
        other => LoginFailure::Protocol {
            detail: other.to_string(),
            login_sent,
        },
    }
}

fn server_error(token: &tiberius::error::TokenError) -> ServerError {
    ServerError {
        number: token.code(),
        state: token.state(),
        class: token.class(),
        message: token.message().to_owned(),
        server: token.server().to_owned(),
        procedure: token.procedure().to_owned(),
    }
}

impl Connection {
    /// What the server's LOGINACK said: the proof this session exists.
    pub fn ack(&self) -> &LoginAck {
        &self.ack
    }

    /// Runs a batch and returns every result set it produced, each with its
    /// column names (also when it has no rows).
    pub async fn query(&mut self, sql: &str) -> Result<Vec<ResultSet>, QueryFailure> {
        self.query_within(sql, self.timeout).await
    }

    /// [`Connection::query`] with its own limit, for statements that take
    /// longer than an exchange (a backup). On timeout the connection is
    /// dropped, which makes SQL Server abandon the statement.
    pub async fn query_within(
        &mut self,
        sql: &str,
        limit: Duration,
    ) -> Result<Vec<ResultSet>, QueryFailure> {
        if let Some(why) = &self.lost {
            return Err(QueryFailure::Connection {
                detail: format!("the session was lost earlier ({why})"),
            });
        }
        let Some(client) = self.client.as_mut() else {
            return Err(QueryFailure::Connection {
                detail: "the session is closed".to_owned(),
            });
        };
        let started = Instant::now();
        self.budget.reset(self.limits.bytes);
        let outcome = tokio::time::timeout(limit, run_batch(client, sql, self.limits)).await;
        let failure = match outcome {
            Ok(Ok(sets)) => return Ok(sets),
            Ok(Err(BatchError::TooLarge(detail))) => QueryFailure::TooLarge { detail },
            Ok(Err(_)) if self.budget.exceeded() => QueryFailure::TooLarge {
                detail: format!("the server sent more than {} bytes", self.limits.bytes),
            },
            Ok(Err(BatchError::Tds(tiberius::error::Error::Server(token)))) => {
                return Err(QueryFailure::Server(server_error(&token)));
            }
            Ok(Err(BatchError::Tds(tiberius::error::Error::Io {
                kind: std::io::ErrorKind::TimedOut,
                ..
            }))) => QueryFailure::Timeout {
                after_millis: started.elapsed().as_millis() as u64,
            },
            Ok(Err(BatchError::Tds(other))) => QueryFailure::Connection {
                detail: other.to_string(),
            },
            Err(_) => QueryFailure::Timeout {
                after_millis: started.elapsed().as_millis() as u64,
            },
        };
        self.lost = Some(failure.to_string());
        self.client = None;
        Err(failure)
    }

    /// Says goodbye politely; a session dropped without it is closed by the OS.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = tokio::time::timeout(self.timeout, client.close()).await;
        }
    }
}

/// Why a batch gave no result sets.
enum BatchError {
    Tds(tiberius::error::Error),
    /// More rows, or a longer value, than `AnswerLimits` allows.
    TooLarge(String),
}

impl From<tiberius::error::Error> for BatchError {
    fn from(error: tiberius::error::Error) -> Self {
        BatchError::Tds(error)
    }
}

/// Reads the answer item by item, stopping at the first row or value past
/// `limits` (the bytes are bounded by the connection's `ReadBudget`).
async fn run_batch(
    client: &mut TdsClient,
    sql: &str,
    limits: AnswerLimits,
) -> Result<Vec<ResultSet>, BatchError> {
    let mut stream = client.simple_query(sql).await?;
    let mut sets: Vec<ResultSet> = Vec::new();
    let mut rows = 0usize;
    while let Some(item) = stream.try_next().await? {
        match item {
            QueryItem::Metadata(meta) => sets.push(ResultSet {
                columns: meta.columns().iter().map(|c| c.name().to_owned()).collect(),
                rows: Vec::new(),
            }),
            QueryItem::Row(row) => {
                rows += 1;
                if rows > limits.rows {
                    return Err(BatchError::TooLarge(format!(
                        "more than {} rows",
                        limits.rows
                    )));
                }
                let values: Vec<SqlValue> = row.cells().map(|(_, data)| value_of(data)).collect();
                if let Some((at, size)) = values
                    .iter()
                    .map(SqlValue::size)
                    .enumerate()
                    .find(|(_, size)| *size > limits.value_bytes)
                {
                    let column = row.columns().get(at).map(|c| c.name()).unwrap_or("?");
                    return Err(BatchError::TooLarge(format!(
                        "a value of {size} bytes in column `{column}` (at most {} expected)",
                        limits.value_bytes
                    )));
                }
                match sets.last_mut() {
                    Some(set) => set.rows.push(values),
                    None => sets.push(ResultSet {
                        columns: row.columns().iter().map(|c| c.name().to_owned()).collect(),
                        rows: vec![values],
                    }),
                }
            }
        }
    }
    Ok(sets)
}

/// Converts one cell. Types checks never read (xml, exotic numerics) keep
/// their text form, so nothing is lost for bundles.
pub fn value_of(data: &ColumnData<'static>) -> SqlValue {
    use tiberius::FromSql;
    let or_null = |v: Option<SqlValue>| v.unwrap_or(SqlValue::Null);
    match data {
        ColumnData::U8(v) => or_null(v.map(|x| SqlValue::Int(x.into()))),
        ColumnData::I16(v) => or_null(v.map(|x| SqlValue::Int(x.into()))),
        ColumnData::I32(v) => or_null(v.map(|x| SqlValue::Int(x.into()))),
        ColumnData::I64(v) => or_null(v.map(SqlValue::Int)),
        ColumnData::F32(v) => or_null(v.map(|x| SqlValue::Float(x.into()))),
        ColumnData::F64(v) => or_null(v.map(SqlValue::Float)),
        ColumnData::Bit(v) => or_null(v.map(SqlValue::Bool)),
        ColumnData::String(v) => or_null(v.as_ref().map(|s| SqlValue::Text(s.to_string()))),
        ColumnData::Guid(v) => or_null(v.map(|g| SqlValue::Text(g.to_string()))),
        ColumnData::Binary(v) => or_null(v.as_ref().map(|b| SqlValue::Binary(b.to_vec()))),
        ColumnData::Numeric(v) => or_null(v.map(|n| SqlValue::Decimal(n.to_string()))),
        ColumnData::Xml(v) => or_null(v.as_ref().map(|x| SqlValue::Text(x.to_string()))),
        ColumnData::DateTime(_) | ColumnData::SmallDateTime(_) | ColumnData::DateTime2(_) => {
            match time::PrimitiveDateTime::from_sql(data) {
                Ok(v) => or_null(v.map(SqlValue::DateTime)),
                Err(e) => SqlValue::Text(format!("<unreadable date: {e}>")),
            }
        }
        ColumnData::DateTimeOffset(_) => match time::OffsetDateTime::from_sql(data) {
            Ok(v) => or_null(v.map(SqlValue::DateTimeOffset)),
            Err(e) => SqlValue::Text(format!("<unreadable date: {e}>")),
        },
        ColumnData::Date(_) => match time::Date::from_sql(data) {
            Ok(v) => or_null(v.map(SqlValue::Date)),
            Err(e) => SqlValue::Text(format!("<unreadable date: {e}>")),
        },
        ColumnData::Time(_) => match time::Time::from_sql(data) {
            Ok(v) => or_null(v.map(SqlValue::Time)),
            Err(e) => SqlValue::Text(format!("<unreadable time: {e}>")),
        },
    }
}

/// `text` as a Unicode string literal: `N'…'` with quotes doubled.
pub fn literal(text: &str) -> String {
    format!("N'{}'", text.replace('\'', "''"))
}

/// `name` as a bracketed identifier: `[…]` with closing brackets doubled.
pub fn ident(name: &str) -> String {
    format!("[{}]", name.replace(']', "]]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operating_system_error_is_read_from_sql_servers_message() {
        let error = |message: &str| ServerError {
            number: 3201,
            state: 1,
            class: 16,
            message: message.to_owned(),
            server: String::new(),
            procedure: String::new(),
        };
        let os = |message: &str| error(message).os_error();
        assert_eq!(
            os(
                "Cannot open backup device 'D:\\b\\x.bak'. Operating system error 5(Access is denied.)."
            ),
            Some(OsError::AccessDenied)
        );
        assert_eq!(
            os(
                "Cannot open backup device '\\\\nas\\gone\\x.bak'. Operating system error 67(The network name cannot be found.)."
            ),
            Some(OsError::NotFound(67))
        );
        assert_eq!(
            os(
                "Write on \"x.bak\" failed: 112(There is not enough space on the disk.) Operating system error 112(There is not enough space on the disk.)."
            ),
            Some(OsError::DiskFull)
        );
        assert_eq!(
            os("Operating system error 1117(I/O device error.)."),
            Some(OsError::Other(1117))
        );
        assert_eq!(os("BACKUP DATABASE is terminating abnormally."), None);
        assert_eq!(os("error 5 without a parenthesis"), None);
    }

    #[test]
    fn a_login_reason_is_read_when_the_server_gives_one() {
        let refusal = |message: &str| ServerError {
            number: 18456,
            state: 1,
            class: 14,
            message: message.to_owned(),
            server: String::new(),
            procedure: String::new(),
        };
        assert_eq!(
            refusal("Login failed for user 'pmp'. Reason: The account is disabled.").login_reason(),
            Some(LoginReason::AccountDisabled)
        );
        assert_eq!(
            refusal("Login failed for user 'pmp'. Reason: Password did not match that for the login provided.").login_reason(),
            Some(LoginReason::Other)
        );
        assert_eq!(refusal("Login failed for user 'pmp'.").login_reason(), None);
    }

    #[test]
    fn quoting_cannot_be_escaped() {
        assert_eq!(literal("O'Brien"), "N'O''Brien'");
        assert_eq!(ident("a]b"), "[a]]b]");
        assert_eq!(ident(r"CORP\pback"), r"[CORP\pback]");
    }

    #[test]
    fn values_convert_for_checks_and_json() {
        assert_eq!(SqlValue::Text("5".into()).as_i64(), Some(5));
        assert_eq!(SqlValue::Bool(true).as_i64(), Some(1));
        assert_eq!(SqlValue::Text("TRUE".into()).as_bool(), Some(true));
        assert_eq!(SqlValue::Null.as_bool(), None);
        assert_eq!(SqlValue::Binary(vec![1, 0xab]).to_string(), "0x01AB");
        assert_eq!(SqlValue::Int(3).to_json(), serde_json::json!(3));
        assert_eq!(SqlValue::Null.to_json(), serde_json::Value::Null);
        let when = SqlValue::DateTime(time::macros::datetime!(2024-05-01 10:20:30));
        assert_eq!(when.to_string(), "2024-05-01T10:20:30");
        assert_eq!(
            when.as_utc(),
            Some(time::macros::datetime!(2024-05-01 10:20:30 UTC))
        );
        assert_eq!(
            SqlValue::Text("2024-05-01 10:20:30.123".into()).as_utc(),
            Some(time::macros::datetime!(2024-05-01 10:20:30.123 UTC))
        );
    }

    #[test]
    fn cells_convert_from_tiberius() {
        assert_eq!(value_of(&ColumnData::I32(Some(8))), SqlValue::Int(8));
        assert_eq!(value_of(&ColumnData::I32(None)), SqlValue::Null);
        assert_eq!(
            value_of(&ColumnData::String(Some("x".into()))),
            SqlValue::Text("x".into())
        );
        assert_eq!(value_of(&ColumnData::Bit(Some(true))), SqlValue::Bool(true));
        let numeric = tiberius::numeric::Numeric::new_with_scale(12345, 2);
        assert_eq!(
            value_of(&ColumnData::Numeric(Some(numeric))),
            SqlValue::Decimal("123.45".into())
        );
    }

    #[test]
    fn result_sets_look_up_columns_by_name() {
        let set = ResultSet {
            columns: vec!["Name".into(), "value".into()],
            rows: vec![vec![SqlValue::Text("a".into()), SqlValue::Int(1)]],
        };
        assert_eq!(set.get(0, "VALUE"), &SqlValue::Int(1));
        assert_eq!(set.get(1, "value"), &SqlValue::Null);
        assert_eq!(set.get(0, "nope"), &SqlValue::Null);
        assert_eq!(set.scalar(), Some(&SqlValue::Text("a".into())));
        assert_eq!(
            serde_json::to_value(set.to_json_rows()).unwrap(),
            serde_json::json!([{"Name": "a", "value": 1}])
        );
    }

    #[test]
    fn login_errors_are_classified_by_what_the_wire_saw() {
        use crate::probe::wire_record::tests_support::{after_login, before_tls, during_tls};
        let elapsed = Duration::from_millis(7);
        let io = |kind, message: &str| tiberius::error::Error::Io {
            kind,
            message: message.into(),
        };
        let classify = |error, wire: &WireRecord| {
            classify_login_error(error, elapsed, wire.tls_started(), wire.login_sent(false))
        };
        assert!(matches!(
            classify(tiberius::error::Error::Tls("bad".into()), &during_tls()),
            LoginFailure::Tls { .. }
        ));
        assert_eq!(
            classify(io(std::io::ErrorKind::TimedOut, "x"), &during_tls()),
            LoginFailure::Timeout { after_millis: 7 }
        );
        // A certificate rejected mid-handshake: TLS, whatever the words.
        assert!(matches!(
            classify(
                io(
                    std::io::ErrorKind::InvalidData,
                    "invalid peer certificate: UnknownIssuer"
                ),
                &during_tls()
            ),
            LoginFailure::Tls { .. }
        ));
        // The server closed the connection after LOGIN7 went out: not a TLS
        // failure, even though rustls words it as one.
        assert_eq!(
            classify(
                io(
                    std::io::ErrorKind::UnexpectedEof,
                    "peer closed connection without sending TLS close_notify"
                ),
                &after_login()
            ),
            LoginFailure::Io {
                detail: "peer closed connection without sending TLS close_notify".into(),
                login_sent: true
            }
        );
        assert_eq!(
            classify(
                io(
                    std::io::ErrorKind::ConnectionReset,
                    "connection reset by peer"
                ),
                &before_tls()
            ),
            LoginFailure::Io {
                detail: "connection reset by peer".into(),
                login_sent: false
            }
        );
        let routed = tiberius::error::Error::Routing {
            host: "gw".into(),
            port: 11000,
        };
        assert_eq!(
            classify(routed, &after_login()),
            LoginFailure::Routing {
                host: "gw".into(),
                port: 11000
            }
        );
    }
}
