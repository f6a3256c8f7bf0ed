//! A SQL Server for a test, and a target file pointing at it.
//!
//! `TestServer::start("sql2022-healthy")` starts a built-in emulator
//! scenario on loopback and describes it as the target an administrator
//! would write: host 127.0.0.1, its port, `[tls] ca_file` (the emulator's
//! root CA, in a temporary file) and `expected_name` (the server's DNS
//! name). Accounts and further sections are up to the test: `TargetToml`
//! takes extra TOML.
//!
//! With `MSSQL_PREFLIGHT_TEST_BACKEND=compose`, `start` points instead at the
//! real SQL Server that `docker compose` runs for the scenarios that have one
//! (fixtures/emulator/README.md lists them); every other scenario still runs
//! on the emulator. `start_emulated` always uses the emulator, for tests
//! that compare with what it serves.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use mssql_emulator::{Emulator, EmulatorOptions, Scenario};

/// Real servers of `docker compose` standing for emulator scenarios:
/// (scenario, address, expected certificate name).
const COMPOSE: [(&str, &str, &str); 3] = [
    ("sql2022-healthy", "127.0.0.1:14332", "mssql2022"),
    ("not-forced", "127.0.0.1:14331", "mssql2019"),
    (
        "backup-account-without-role",
        "127.0.0.1:14332",
        "mssql2022",
    ),
];

fn compose_backend() -> bool {
    std::env::var("MSSQL_PREFLIGHT_TEST_BACKEND").is_ok_and(|b| b == "compose")
}

pub struct TestServer {
    emulator: Option<Emulator>,
    addr: SocketAddr,
    host_name: String,
    /// The CA to trust, as a PEM file.
    pub ca_file: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// The scenario `name`: its compose server under
    /// `MSSQL_PREFLIGHT_TEST_BACKEND=compose` when it has one, else the
    /// emulator on 127.0.0.1 and a free port.
    pub async fn start(name: &str) -> TestServer {
        if compose_backend()
            && let Some((_, addr, host)) = COMPOSE.iter().find(|(n, _, _)| *n == name)
        {
            return TestServer {
                emulator: None,
                addr: addr.parse().expect("compose address"),
                host_name: (*host).to_owned(),
                ca_file: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("fixtures/mssql/certs/ca.crt"),
                _dir: None,
            };
        }
        Self::start_emulated(name).await
    }

    /// The emulator with scenario `name`, whatever the backend.
    pub async fn start_emulated(name: &str) -> TestServer {
        Self::start_with(name, EmulatorOptions::default()).await
    }

    pub async fn start_with(name: &str, options: EmulatorOptions) -> TestServer {
        let scenario =
            Scenario::builtin(name).unwrap_or_else(|| panic!("no built-in scenario `{name}`"));
        Self::start_scenario(scenario, options).await
    }

    pub async fn start_scenario(scenario: Scenario, options: EmulatorOptions) -> TestServer {
        let emulator = Emulator::start(scenario, options)
            .await
            .expect("the emulator starts");
        Self::around(emulator)
    }

    fn around(emulator: Emulator) -> TestServer {
        let dir = tempfile::tempdir().expect("temporary directory");
        let ca_file = dir.path().join("emulator-root-ca.pem");
        std::fs::write(&ca_file, emulator.ca_pem()).expect("write the CA file");
        TestServer {
            addr: emulator.tds_addr(),
            host_name: emulator.scenario().host_name().to_owned(),
            emulator: Some(emulator),
            ca_file,
            _dir: Some(dir),
        }
    }

    /// Starts the emulator with `name` on `port` of a loopback address of
    /// its own, trying a few addresses in case another test holds one.
    pub async fn start_on_port(name: &str, port: u16) -> TestServer {
        let mut last_error = String::new();
        for attempt in 0..20u8 {
            let bind = private_loopback(attempt);
            let scenario =
                Scenario::builtin(name).unwrap_or_else(|| panic!("no built-in scenario `{name}`"));
            let options = EmulatorOptions {
                bind,
                tds_port: port,
                ..EmulatorOptions::default()
            };
            match Emulator::start(scenario, options).await {
                Ok(emulator) => return Self::around(emulator),
                Err(error) => last_error = error.to_string(),
            }
        }
        panic!("no loopback address with port {port} free: {last_error}");
    }

    /// The emulator behind this server; a test that needs it starts the
    /// server with `start_emulated`.
    pub fn emulator(&self) -> &Emulator {
        self.emulator
            .as_ref()
            .expect("this server is a compose server, not the emulator: use start_emulated")
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The DNS name applications use for the server.
    pub fn host_name(&self) -> String {
        self.host_name.clone()
    }

    /// The target file for this server, as an administrator would write it.
    pub fn target(&self) -> TargetToml {
        TargetToml {
            host: self.addr().ip().to_string(),
            port: self.addr().port(),
            ca_file: Some(self.ca_file.clone()),
            expected_name: Some(self.host_name()),
            trust_server_certificate: false,
            server_lines: Vec::new(),
            extra: String::new(),
        }
    }

    /// The target file for PMP's application account `pmp` in its database
    /// PassTrix, as PMP is set up.
    pub fn app_target(&self, passwords: &crate::support::accounts::Passwords) -> TargetToml {
        self.target()
            .in_server("database = \"PassTrix\"")
            .with(&passwords.sql("pmp", "Pmp-Test-Passw0rd!"))
    }

    /// The target file as TOML, with the defaults of [`EmulatedServer::target`].
    pub fn toml(&self) -> String {
        self.target().render()
    }
}

/// A statement the emulator could not answer (it could not parse it, or the
/// scenario lacks the data) fails the test that sent it: a real server
/// would have answered, so the test proved nothing about it.
impl Drop for TestServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        if let Some(emulator) = &self.emulator {
            let unanswered = emulator.unanswered_statements();
            assert!(
                unanswered.is_empty(),
                "the emulator could not answer what the test sent: {unanswered:#?}"
            );
        }
    }
}

/// A target file being put together for an emulated server.
#[derive(Debug, Clone)]
pub struct TargetToml {
    pub host: String,
    pub port: u16,
    pub ca_file: Option<PathBuf>,
    pub expected_name: Option<String>,
    pub trust_server_certificate: bool,
    /// Further `key = value` lines of the [server] section.
    pub server_lines: Vec<String>,
    /// Further sections, appended as written (`[sql]`, `[checks."…"]`, …).
    pub extra: String,
}

impl TargetToml {
    pub fn without_ca_file(mut self) -> Self {
        self.ca_file = None;
        self
    }

    pub fn without_expected_name(mut self) -> Self {
        self.expected_name = None;
        self
    }

    pub fn trusting_server_certificate(mut self) -> Self {
        self.trust_server_certificate = true;
        self
    }

    /// Adds a line such as `database = "PassTrix"` to the [server] section.
    pub fn in_server(mut self, line: &str) -> Self {
        self.server_lines.push(line.to_owned());
        self
    }

    pub fn with(mut self, section: &str) -> Self {
        self.extra.push('\n');
        self.extra.push_str(section);
        self.extra.push('\n');
        self
    }

    pub fn render(&self) -> String {
        let mut toml = format!("[server]\nhost = \"{}\"\nport = {}\n", self.host, self.port);
        for line in &self.server_lines {
            toml.push_str(line);
            toml.push('\n');
        }
        toml.push_str("\n[tls]\n");
        if let Some(ca) = &self.ca_file {
            toml.push_str(&format!(
                "ca_file = {}\n",
                toml::Value::String(ca.display().to_string())
            ));
        }
        if let Some(name) = &self.expected_name {
            toml.push_str(&format!("expected_name = \"{name}\"\n"));
        }
        if self.trust_server_certificate {
            toml.push_str("trust_server_certificate = true\n");
        }
        toml.push_str(&self.extra);
        toml
    }
}

/// A loopback address of its own (127.x.y.z) for a server that must listen
/// on a fixed port, such as 1433 for tools that recognise SQL Server by port.
fn private_loopback(attempt: u8) -> IpAddr {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let seed = std::process::id() ^ nanos;
    let bytes = seed.to_be_bytes();
    IpAddr::from([127, 77, bytes[2].wrapping_add(attempt), bytes[3].max(1)])
}
