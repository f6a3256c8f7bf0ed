//! share.* and net.smb.reachable against a real Samba server on loopback and
//! temporary directories.

use mssql_preflight::finding::Status;

use crate::support::samba::{READER, READER_PASSWORD, Samba, WRITER, WRITER_PASSWORD, probe_files};
use crate::support::{assert_status, run};

#[tokio::test]
async fn the_writer_can_write_to_the_share() {
    let samba = Samba::start();
    let toml = samba.target(&samba.unc("backups", ""), WRITER, WRITER_PASSWORD);
    let report = run(&toml, &["share.write", "net.smb.reachable"]).await;
    assert_status(&report, "net.smb.reachable", Status::Pass);
    let r = assert_status(&report, "share.write", Status::Pass);
    assert!(r.message.contains("as `pback` over SMB 3"), "{}", r.message);
    assert!(probe_files(&samba.share_dir("backups")).is_empty());
}

#[tokio::test]
async fn the_reader_is_denied() {
    let samba = Samba::start();
    let toml = samba.target(&samba.unc("backups", ""), READER, READER_PASSWORD);
    let report = run(&toml, &["share.write"]).await;
    let r = assert_status(&report, "share.write", Status::Fail);
    assert!(r.message.contains("STATUS_ACCESS_DENIED"), "{}", r.message);
}
