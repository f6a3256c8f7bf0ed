//! Integration tests: one binary, one module per area.

mod support;

mod cancel;
mod cli;
mod host;
mod net;
mod reporters;
mod share;
mod sql;
mod target_file;
mod tls;
