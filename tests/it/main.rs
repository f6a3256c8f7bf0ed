//! Integration tests: one binary, one module per area.

mod support;

mod bundle;
mod cancel;
mod catalog;
mod certificates;
mod cli;
mod demo;
mod gating;
mod host;
mod net;
mod pack_sql;
mod packs;
mod reporters;
mod share;
mod sql;
mod target_file;
mod tls;
mod waivers;
