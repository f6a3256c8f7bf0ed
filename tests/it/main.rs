//! Integration tests: one binary, one module per area.

mod support;

mod cancel;
mod cli;
mod host;
mod net;
mod share;
mod sql;
mod tls;
