//! Integration tests: one binary, one module per area.

mod support;

mod cli;
mod net;
mod sql;
mod tls;
