//! sql.* checks, net.browser.instance and share.sql-can-write against the emulator.

use mssql_preflight::finding::Status;

use crate::support::accounts::Passwords;
use crate::support::emulator::EmulatedServer;
use crate::support::{assert_status, run};

const PMP: (&str, &str) = ("pmp", "Pmp-Test-Passw0rd!");
const PBACK: (&str, &str) = ("pback", "Pback-Test-Passw0rd!");

#[tokio::test]
async fn explore_healthy() {
    let server = EmulatedServer::start("sql2022-healthy").await;
    let passwords = Passwords::new();
    let toml = server
        .target()
        .with("")
        .render()
        .replace("[tls]", "[tls]")
        + &format!(
            "\n{}\n{}\n",
            passwords.sql(PMP.0, PMP.1),
            passwords.backup(PBACK.0, PBACK.1, None)
        );
    let toml = toml.replace("[server]\n", "[server]\ndatabase = \"PassTrix\"\n");
    let report = run(&toml, &["sql.*", "net.browser.*"]).await;
    for r in &report.results {
        eprintln!("{} {} {} | {:?}", r.id, r.status, r.message, r.notes);
    }
    eprintln!("{:#?}", server.emulator.unanswered_statements());
    assert_status(&report, "sql.login", Status::Pass);
}
