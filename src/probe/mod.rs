//! Protocol clients: they talk to the world and return observations, never
//! verdicts. Every operation takes a timeout.

pub mod dns;
pub mod sql;
pub mod ssrp;
pub mod tcp;
pub mod tds;
