//! Protocol clients: they talk to the world and return observations, never
//! verdicts. Every operation takes a timeout.

pub mod bounded;
pub mod destination;
pub mod dns;
pub mod fs_error;
pub mod login_ack;
pub mod sddl;
pub mod smb;
pub mod sql;
pub mod ssrp;
pub mod tcp;
pub mod tds;
#[cfg(windows)]
pub mod windows_acl;
pub mod wire_record;
pub mod write_probe;
