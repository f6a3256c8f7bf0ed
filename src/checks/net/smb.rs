//! net.smb.reachable: the backup share's server accepts SMB connections.

use async_trait::async_trait;

use super::{PortAnswers, Reach, attempts_words, firewall_fix, outcome_words};
use crate::context::RunContext;
use crate::facts::net::{ConnectAttempt, LookupFailure};
use crate::facts::share::{SmbReachability, SmbServer};
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
        let port = server.port;
        if let Err(failure) = &server.addresses {
            return match failure {
                LookupFailure::NoSuchName | LookupFailure::NoRecords => Ok(Finding::fail(format!(
                    "the share's server `{}` does not resolve: {failure}",
                    server.name
                ))
                .expected("an A or AAAA record for the file server")
                .actual(failure.to_string())
                .remediation(format!(
                    "Create a DNS record for `{}`, or write the server's full name (FQDN) or address in `destination`.",
                    server.name
                ))),
                _ => Err(Stop::error(format!(
                    "cannot tell whether `{}` resolves: {failure}",
                    server.name
                ))),
            };
        }
        let attempts = ctx.fact::<SmbReachability>().await?;
        let answers = PortAnswers::of(&attempts);
        let failures = attempts_words(&answers.failed);
        let fix = |attempt: &ConnectAttempt| {
            firewall_fix(&attempt.outcome, port, "the file server", "SMB")
        };
        let finding = match answers.reach() {
            Reach::Everywhere => Finding::pass(format!(
                "`{}` accepts SMB connections on TCP {port} ({})",
                server.name,
                answers.connected_addresses()
            )),
            Reach::Partly => Finding::warn(format!(
                "`{}` answers on {} but not on {failures}",
                server.name, answers.connected[0].address
            ))
            .expected(format!("every address accepts TCP {port}"))
            .actual(failures)
            .remediation(fix(answers.failed[0])),
            Reach::Nowhere => Finding::fail(format!(
                "the SMB port of `{}` does not accept connections: {failures}",
                server.name
            ))
            .expected(format!("TCP {port} open on the file server"))
            .actual(outcome_words(&answers.failed[0].outcome))
            .remediation(fix(answers.failed[0])),
        };
        Ok(finding
            .evidence("attempts", &*attempts)
            .evidence("port", port))
    }
}
