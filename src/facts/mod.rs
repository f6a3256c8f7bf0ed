//! Facts about the target, gathered once per run by probes and shared by
//! every check that needs them. See `context::Fact`.

pub mod host;
pub mod net;
pub mod share;
pub mod sql;
pub mod tls;
