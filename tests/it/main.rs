//! Integration tests: one binary, one module per area.

mod support;

mod bundle;
mod cli;
mod gating;
mod net;
mod pack_sql;
mod packs;
mod reporters;
mod sql;
mod target_file;
mod tls;
mod waivers;
