//! Built-in checks, one module per family. Each module's `checks()` lists
//! what it contributes; `builtin()` is the whole registry.

pub(crate) mod host;
pub(crate) mod net;
pub(crate) mod share;
pub mod sql;
pub(crate) mod tls;

use crate::context::RunContext;
use crate::registry::Registry;

/// The instance as SQL Server Configuration Manager lists it: the named
/// instance, or MSSQLSERVER for the default one.
fn instance_name(ctx: &RunContext) -> String {
    ctx.target
        .server
        .instance
        .clone()
        .unwrap_or_else(|| "MSSQLSERVER".to_owned())
}

/// The order built-in checks run and reports list them in, kept as it was
/// before the checks moved into their families' files, so reports of
/// different versions compare line by line. A check not named here follows
/// these, in its family's order.
const REPORT_ORDER: &[&str] = &[
    "net.dns.resolve",
    "net.dns.reverse",
    "net.tcp.reachable",
    "tls.",
    "net.browser.instance",
    "sql.",
    "share.sql-can-write",
    "net.smb.reachable",
    "share.write",
    "share.space",
    "net.winrm.reachable",
    "host.",
];

/// Where `id` goes in [`REPORT_ORDER`]: its own entry, else its family's
/// (an entry ending in a dot), else after all of them.
fn report_rank(id: &str) -> usize {
    REPORT_ORDER
        .iter()
        .position(|entry| *entry == id)
        .or_else(|| {
            REPORT_ORDER
                .iter()
                .position(|entry| entry.ends_with('.') && id.starts_with(entry))
        })
        .unwrap_or(REPORT_ORDER.len())
}

/// Every built-in check.
pub fn builtin() -> Registry {
    let mut checks: Vec<_> = [
        net::checks(),
        tls::checks(),
        sql::checks(),
        share::checks(),
        host::checks(),
    ]
    .into_iter()
    .flatten()
    .collect();
    // Stable: within a rank, the family's own order.
    checks.sort_by_key(|check| report_rank(&check.meta().id));
    let mut registry = Registry::new();
    for check in checks {
        registry
            .add(check)
            .expect("built-in check ids are unique (tested)");
    }
    registry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_list_checks_in_their_historical_order() {
        assert_eq!(report_rank("net.dns.resolve"), 0);
        assert_eq!(report_rank("tls.cert.chain"), 3);
        assert_eq!(report_rank("sql.clock"), 5);
        assert_eq!(report_rank("sql.x.new"), 5);
        assert_eq!(report_rank("net.new.thing"), REPORT_ORDER.len());
        let ids: Vec<String> = builtin().ids().map(str::to_owned).collect();
        let position = |id: &str| ids.iter().position(|i| i == id).unwrap();
        assert!(position("net.tcp.reachable") < position("tls.handshake"));
        assert!(position("sql.backup.recent") < position("share.sql-can-write"));
        assert!(position("share.sql-can-write") < position("net.smb.reachable"));
        assert!(position("share.space") < position("net.winrm.reachable"));
        assert!(position("net.winrm.reachable") < position("host.pmp.masterkey"));
    }
}

/// What unit tests of judgements compare: an outcome's verdict in one word.
#[cfg(test)]
pub(crate) mod verdicts {
    use crate::finding::{Outcome, Stop};

    /// "pass", "warn", "fail", "error", or "skip:<kind>".
    pub fn verdict(outcome: &Outcome) -> String {
        match outcome {
            Ok(finding) => finding.status.as_str().to_owned(),
            Err(Stop::Skip(skip)) => format!("skip:{}", skip.kind.as_str()),
            Err(Stop::Error(_)) => "error".to_owned(),
        }
    }

    /// A check's typed parameters at their metadata defaults. Fails when the
    /// struct and the metadata disagree on a name: what keeps the defaults
    /// in one place and a typo out of both.
    pub fn default_params<P: serde::de::DeserializeOwned>(meta: &crate::registry::CheckMeta) -> P {
        crate::params::Params::default()
            .of(meta)
            .unwrap_or_else(|stop| panic!("{}: {stop}", meta.id))
    }

    /// The finding of an outcome that must have one.
    pub fn finding(outcome: Outcome) -> crate::finding::Finding {
        outcome.unwrap_or_else(|stop| panic!("expected a finding, got a stop: {stop}"))
    }
}
