//! Integration tests: one binary, one module per area.

mod support;

mod architecture;
mod bounds;
mod bundle;
mod cancel;
mod catalog;
mod certificates;
mod cli;
mod demo;
mod estate;
mod estate_progress;
mod gating;
mod host;
mod net;
mod pack_sql;
mod packs;
mod platforms;
mod render_properties;
mod report_snapshots;
mod reporters;
mod serve;
mod share;
mod signals;
mod sql;
mod target_file;
mod tls;
mod verdict;
mod waivers;
