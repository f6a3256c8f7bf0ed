//! Integration tests: one binary, one module per area.

mod support;

mod cli;
mod net;
mod reporters;
mod target_file;
