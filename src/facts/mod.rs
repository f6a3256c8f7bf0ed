//! Facts about the target, gathered once per run by probes and shared by
//! every check that needs them. See `context::Fact`.

pub(crate) mod host;
pub(crate) mod net;
pub mod share;
pub mod sql;
pub mod tls;
