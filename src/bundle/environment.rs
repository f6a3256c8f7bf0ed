//! environment.json: the machine the checks ran from — tool version, OS,
//! kernel, host name, time zone and how it resolves names — so a support
//! engineer can tell "the server is wrong" from "this machine sees it wrong".

use serde::Serialize;

use crate::target::Target;

#[derive(Debug, Serialize)]
pub struct Environment {
    pub tool: crate::report::ToolInfo,
    pub os: Os,
    pub kernel: Option<Kernel>,
    pub host_name: Option<String>,
    pub time_zone: TimeZone,
    pub resolver: ResolverConfig,
}

/// A value, or why it could not be read.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Known<T> {
    Value(T),
    Unknown { unavailable: String },
}

impl<T> From<Result<T, String>> for Known<T> {
    fn from(result: Result<T, String>) -> Self {
        match result {
            Ok(value) => Known::Value(value),
            Err(unavailable) => Known::Unknown { unavailable },
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Os {
    pub family: &'static str,
    pub arch: &'static str,
    /// PRETTY_NAME from /etc/os-release, where there is one.
    pub name: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Kernel {
    pub name: String,
    pub release: String,
    pub version: String,
    pub machine: String,
}

#[derive(Debug, Serialize)]
pub struct TimeZone {
    /// The IANA name (Europe/Berlin), as the system reports it.
    pub name: Known<String>,
    /// The UTC offset now, e.g. +01:00.
    pub utc_offset: Known<String>,
    /// The TZ environment variable, which overrides the system's zone.
    pub tz_variable: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ResolverConfig {
    /// Name servers the target file names (the system's resolver is not used then).
    pub target_nameservers: Vec<String>,
    /// /etc/resolv.conf as it is, or why it could not be read.
    pub resolv_conf: Known<String>,
    /// The `hosts:` line of /etc/nsswitch.conf: where names are looked up, in order.
    pub nsswitch_hosts: Option<String>,
    /// Lines of /etc/hosts that name the target's host: they win over DNS.
    pub hosts_file_entries: Vec<String>,
}

impl Environment {
    /// Gathers the environment. Call it before any other thread starts: the
    /// local UTC offset can only be read safely then.
    pub fn gather(target: &Target) -> Environment {
        Environment {
            tool: crate::report::ToolInfo::current(),
            os: Os {
                family: std::env::consts::OS,
                arch: std::env::consts::ARCH,
                name: os_release_name(),
            },
            kernel: kernel(),
            host_name: host_name(),
            time_zone: TimeZone {
                name: iana_time_zone::get_timezone()
                    .map_err(|e| e.to_string())
                    .into(),
                utc_offset: time::UtcOffset::current_local_offset()
                    .map_err(|e| e.to_string())
                    .map(|o| {
                        format!(
                            "{}{:02}:{:02}",
                            if o.is_negative() { '-' } else { '+' },
                            o.whole_hours().unsigned_abs(),
                            o.minutes_past_hour().unsigned_abs()
                        )
                    })
                    .into(),
                tz_variable: std::env::var("TZ").ok(),
            },
            resolver: ResolverConfig {
                target_nameservers: target
                    .dns
                    .nameservers
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                resolv_conf: std::fs::read_to_string("/etc/resolv.conf")
                    .map_err(|e| format!("cannot read /etc/resolv.conf: {e}"))
                    .into(),
                nsswitch_hosts: std::fs::read_to_string("/etc/nsswitch.conf").ok().and_then(
                    |text| {
                        text.lines()
                            .map(str::trim)
                            .find(|l| l.starts_with("hosts:"))
                            .map(str::to_owned)
                    },
                ),
                hosts_file_entries: hosts_entries(&target.server.host),
            },
        }
    }
}

fn os_release_name() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
}

#[cfg(unix)]
fn kernel() -> Option<Kernel> {
    let uname = rustix::system::uname();
    let text = |c: &std::ffi::CStr| c.to_string_lossy().into_owned();
    Some(Kernel {
        name: text(uname.sysname()),
        release: text(uname.release()),
        version: text(uname.version()),
        machine: text(uname.machine()),
    })
}

#[cfg(not(unix))]
fn kernel() -> Option<Kernel> {
    None
}

#[cfg(unix)]
fn host_name() -> Option<String> {
    Some(
        rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned(),
    )
}

#[cfg(not(unix))]
fn host_name() -> Option<String> {
    std::env::var("COMPUTERNAME").ok()
}

/// /etc/hosts lines (comments stripped) that name `host`, case-insensitively.
fn hosts_entries(host: &str) -> Vec<String> {
    let path = if cfg!(windows) {
        r"C:\Windows\System32\drivers\etc\hosts"
    } else {
        "/etc/hosts"
    };
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let host = host.trim_end_matches('.');
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| {
            l.split_whitespace()
                .skip(1)
                .any(|name| name.trim_end_matches('.').eq_ignore_ascii_case(host))
        })
        .map(str::to_owned)
        .collect()
}
