//! Protocol clients: they talk to the world and return observations, never
//! verdicts. Every operation takes a timeout.

pub(crate) mod bounded;
pub mod destination;
pub(crate) mod dns;
pub(crate) mod fs_error;
pub(crate) mod login_ack;
// Read on Windows only (`windows_acl`, `facts::host`); its tests run everywhere.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) mod sddl;
pub mod smb;
pub mod sql;
pub mod ssrp;
pub(crate) mod tcp;
pub mod tds;
#[cfg(windows)]
pub(crate) mod windows_acl;
pub(crate) mod wire_record;
pub mod write_probe;
