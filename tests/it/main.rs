//! Integration tests: one binary, one module per area.

mod support;

mod bundle;
mod cli;
mod gating;
mod net;
mod packs;
mod reporters;
mod target_file;
mod waivers;
mod sql;
mod tls;
