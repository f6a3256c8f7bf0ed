//! net.winrm.reachable: PowerShell remoting answers on the SQL Server host
//! when Passwordstate backs up through it.

use async_trait::async_trait;

use super::{attempts_words, firewall_fix};
use crate::context::RunContext;
use crate::facts::net::{WINRM_HTTP_PORT, WINRM_HTTPS_PORT, WinRmAttempts, WinRmReachability};
use crate::finding::Severity;
use crate::finding::{Finding, Outcome, Stop};
use crate::registry::{Check, CheckMeta, Family, ParamRule};
use crate::target::AppKind;

pub struct WinRmReachable {
    meta: CheckMeta,
}

impl WinRmReachable {
    pub(super) fn new() -> Self {
        WinRmReachable {
            meta: CheckMeta::new("net.winrm.reachable", Family::Net, Severity::Fail)
                .title("PowerShell remoting (WinRM) answers on the SQL Server host")
                .checks("When Passwordstate's database is on another server (`database_on_other_server = true` under [app]), opens a TCP connection to WinRM on the SQL Server host: 5985 (HTTP) and 5986 (HTTPS).")
                .why("With the database on another server, Passwordstate runs its database backups through a PowerShell remoting session on the SQL Server host, as the backup account.")
                .fix("On the SQL Server host run `Enable-PSRemoting -Force` in an elevated PowerShell, allow TCP 5985 (or 5986) from the Passwordstate web server, and add the backup account to the local Remote Management Users group.")
                .guide("Passwordstate backup guide §2.3 (PowerShell on the database server), §2.4 (Remote Management Users), §5 (PowerShell remoting on the SQL Server host)")
                .param("http_port", i64::from(WINRM_HTTP_PORT), "WinRM's HTTP port")
                .rule(ParamRule::Port)
                .param("https_port", i64::from(WINRM_HTTPS_PORT), "WinRM's HTTPS port")
                .rule(ParamRule::Port),
        }
    }
}

#[async_trait]
impl Check for WinRmReachable {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let app = ctx.target.app.as_ref().ok_or_else(|| {
            Stop::not_configured(format!(
                "no application configured: {}",
                ctx.target.how_to_set("app", &["kind"])
            ))
        })?;
        if app.kind != AppKind::Passwordstate {
            return Err(Stop::not_applicable(
                "only Passwordstate runs its backups through PowerShell remoting",
            ));
        }
        match app.database_on_other_server {
            Some(true) => {}
            Some(false) => {
                return Err(Stop::not_applicable(
                    "the database is on the Passwordstate web server: no remoting is needed",
                ));
            }
            None => {
                return Err(Stop::not_configured(format!(
                    "when Passwordstate's database is on another server (it then backs up over PowerShell remoting), {}, with the value true",
                    ctx.target.how_to_set("app", &["database_on_other_server"])
                )));
            }
        }
        let probed = ctx.fact::<WinRmReachability>().await?;
        Ok(judge_winrm(&ctx.target.server.host, &probed))
    }
}

/// The verdict on WinRM's ports on the SQL Server host.
fn judge_winrm(host: &str, probed: &WinRmAttempts) -> Finding {
    let WinRmAttempts {
        http_port: http,
        https_port: https,
        attempts,
    } = probed;
    let open: Vec<String> = attempts
        .iter()
        .filter(|a| a.outcome.is_connected())
        .map(|a| {
            let scheme = if a.address.port() == *https {
                "HTTPS"
            } else {
                "HTTP"
            };
            format!("{} ({scheme})", a.address)
        })
        .collect();
    let base = |f: Finding| f.evidence("attempts", attempts);
    if !open.is_empty() {
        return base(Finding::pass(format!(
            "WinRM answers on {}",
            open.join(", ")
        )));
    }
    let words = attempts_words(attempts);
    let fix = format!(
        "{} Then add the backup account to the Remote Management Users group on `{host}` (Passwordstate backup guide §2.4).",
        firewall_fix(&attempts[0].outcome, *http, &format!("`{host}`"), "WinRM")
    );
    base(
        Finding::problem(
            Severity::Fail,
            format!("PowerShell remoting does not answer on `{host}`: {words}"),
        )
        .expected(format!("TCP {http} (HTTP) or {https} (HTTPS) open"))
        .actual(words)
        .remediation(fix),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::net::{ConnectAttempt, ConnectOutcome};

    #[test]
    fn winrm_verdicts() {
        let attempt = |port, outcome| ConnectAttempt {
            address: std::net::SocketAddr::from(([192, 0, 2, 1], port)),
            outcome,
        };
        let probed = |attempts| WinRmAttempts {
            http_port: 5985,
            https_port: 5986,
            attempts,
        };
        let https_only = judge_winrm(
            "sql01",
            &probed(vec![
                attempt(5985, ConnectOutcome::Refused),
                attempt(5986, ConnectOutcome::Connected { millis: 1 }),
            ]),
        );
        assert_eq!(https_only.status, crate::finding::Status::Pass);
        assert!(
            https_only.message.contains("192.0.2.1:5986 (HTTPS)"),
            "{}",
            https_only.message
        );
        let refused = judge_winrm(
            "sql01",
            &probed(vec![
                attempt(5985, ConnectOutcome::Refused),
                attempt(5986, ConnectOutcome::Refused),
            ]),
        );
        assert_eq!(refused.status, crate::finding::Status::Fail);
        assert!(refused.remediation.unwrap().contains("Enable-PSRemoting"));
        let dropped = judge_winrm(
            "sql01",
            &probed(vec![
                attempt(5985, ConnectOutcome::TimedOut { after_millis: 5000 }),
                attempt(5986, ConnectOutcome::TimedOut { after_millis: 5000 }),
            ]),
        );
        assert!(dropped.remediation.unwrap().contains("New-NetFirewallRule"));
    }
}
