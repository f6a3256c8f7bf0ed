//! net.smb.reachable: the backup share's server accepts SMB connections.

use async_trait::async_trait;

use super::{PortAnswers, Reach, attempts_words, firewall_fix, outcome_words};
use crate::context::RunContext;
use crate::facts::net::{ConnectAttempt, LookupFailure};
use crate::facts::share::{SmbReachability, SmbServer, SmbServerAddresses};
use crate::finding::{Finding, Outcome, Severity, Stop};
use crate::registry::{Check, CheckMeta, Family};

pub struct SmbReachable {
    meta: CheckMeta,
}

impl SmbReachable {
    pub(super) fn new() -> Self {
        SmbReachable {
            meta: CheckMeta::new("net.smb.reachable", Family::Net, Severity::Fail)
                .title("The backup share's server accepts SMB connections")
                .checks("Resolves the server named in the backup destination's UNC path and opens a TCP connection to its SMB port (445, or `smb_port` under [backup]) on every address.")
                .why("Backups are written to the share over SMB; if its port does not answer, every backup fails before any permission is even looked at.")
                .fix("Make sure the file server is running and shares files (the Server service, `Get-Service LanmanServer`), and allow inbound TCP 445 on its firewall and on every firewall between here and there.")
                .guide("Passwordstate backup guide §2 (network share on another server), §2.5"),
        }
    }
}

#[async_trait]
impl Check for SmbReachable {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let server = ctx.fact::<SmbServer>().await?;
        // Connecting needs addresses: a name that does not resolve is judged alone.
        let attempts = match server.addresses {
            Ok(_) => Some(ctx.fact::<SmbReachability>().await?),
            Err(_) => None,
        };
        judge_smb(
            &server,
            attempts.as_deref().map(Vec::as_slice),
            self.meta.severity,
        )
    }
}

/// The verdict on the share's server: its name, then the connection
/// attempts to its SMB port (`None` when the name did not resolve).
fn judge_smb(
    server: &SmbServerAddresses,
    attempts: Option<&[ConnectAttempt]>,
    severity: Severity,
) -> Outcome {
    let port = server.port;
    let attempts = match (&server.addresses, attempts) {
        (Err(failure @ (LookupFailure::NoSuchName | LookupFailure::NoRecords)), _) => {
            return Ok(Finding::problem(severity, format!(
                "the share's server `{}` does not resolve: {failure}",
                server.name
            ))
            .expected("an A or AAAA record for the file server")
            .actual(failure.to_string())
            .remediation(format!(
                "Create a DNS record for `{}`, or write the server's full name (FQDN) or address in `destination`.",
                server.name
            )));
        }
        (Err(failure), _) => {
            return Err(Stop::error(format!(
                "cannot tell whether `{}` resolves: {failure}",
                server.name
            )));
        }
        (Ok(_), Some(attempts)) => attempts,
        (Ok(_), None) => {
            return Err(Stop::error(format!(
                "`{}` resolves but no connection to it was tried",
                server.name
            )));
        }
    };
    let answers = PortAnswers::of(attempts);
    let failures = attempts_words(&answers.failed);
    let fix =
        |attempt: &ConnectAttempt| firewall_fix(&attempt.outcome, port, "the file server", "SMB");
    let finding = match answers.reach() {
        Reach::Everywhere => Finding::pass(format!(
            "`{}` accepts SMB connections on TCP {port} ({})",
            server.name,
            answers.connected_addresses()
        )),
        Reach::Partly => Finding::problem(
            Severity::Warn,
            format!(
                "`{}` answers on {} but not on {failures}",
                server.name, answers.connected[0].address
            ),
        )
        .expected(format!("every address accepts TCP {port}"))
        .actual(failures)
        .remediation(fix(answers.failed[0])),
        Reach::Nowhere => Finding::problem(
            severity,
            format!(
                "the SMB port of `{}` does not accept connections: {failures}",
                server.name
            ),
        )
        .expected(format!("TCP {port} open on the file server"))
        .actual(outcome_words(&answers.failed[0].outcome))
        .remediation(fix(answers.failed[0])),
    };
    Ok(finding
        .evidence("attempts", attempts)
        .evidence("port", port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::verdicts::{finding, verdict};
    use crate::facts::net::ConnectOutcome;
    use std::net::IpAddr;

    fn server(addresses: Result<Vec<IpAddr>, LookupFailure>) -> SmbServerAddresses {
        SmbServerAddresses {
            name: "files01".to_owned(),
            port: 445,
            addresses,
        }
    }

    fn attempt(last: u8, outcome: ConnectOutcome) -> ConnectAttempt {
        ConnectAttempt {
            address: std::net::SocketAddr::from(([192, 0, 2, last], 445)),
            outcome,
        }
    }

    #[test]
    fn smb_verdicts() {
        let resolved = server(Ok(vec![IpAddr::from([192, 0, 2, 1])]));
        let judge =
            |attempts: &[ConnectAttempt]| judge_smb(&resolved, Some(attempts), Severity::Fail);
        let open = ConnectOutcome::Connected { millis: 1 };
        let reached = finding(judge(&[attempt(1, open.clone())]));
        assert_eq!(reached.status, crate::finding::Status::Pass);
        assert!(reached.message.contains("TCP 445"), "{}", reached.message);
        let partly = judge(&[attempt(1, open), attempt(2, ConnectOutcome::Refused)]);
        assert_eq!(verdict(&partly), "warn");
        let refused = finding(judge(&[attempt(1, ConnectOutcome::Refused)]));
        assert_eq!(refused.status, crate::finding::Status::Fail);
        assert!(refused.remediation.unwrap().contains("LanmanServer"));
        let dropped = finding(judge(&[attempt(
            1,
            ConnectOutcome::TimedOut { after_millis: 5000 },
        )]));
        assert!(dropped.remediation.unwrap().contains("New-NetFirewallRule"));

        let unknown = judge_smb(
            &server(Err(LookupFailure::NoSuchName)),
            None,
            Severity::Fail,
        );
        assert_eq!(verdict(&unknown), "fail");
        assert!(
            finding(unknown)
                .remediation
                .unwrap()
                .contains("DNS record for `files01`")
        );
        let silent = judge_smb(
            &server(Err(LookupFailure::NoAnswer("timeout".into()))),
            None,
            Severity::Fail,
        );
        assert_eq!(verdict(&silent), "error");
        assert_eq!(
            verdict(&judge_smb(&resolved, None, Severity::Fail)),
            "error"
        );
    }
}
