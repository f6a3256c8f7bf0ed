//! mssql-preflight: tells an administrator whether a Microsoft SQL Server
//! backend is ready for the application that will use it.
//!
//! A [`target::Target`] is described once; [`engine::run`] evaluates the
//! selected [`registry::Check`]s concurrently over memoised facts
//! ([`context::Fact`]); a [`report::Report`] is rendered as a table, JSON,
//! JUnit or Markdown.

pub mod actions;
pub mod bundle;
pub mod catalog;
pub mod certificate;
pub mod checks;
pub mod cli;
pub mod context;
#[cfg(feature = "emulator")]
pub mod emulated;
pub mod engine;
pub mod estate;
pub mod exit;
pub mod facts;
pub mod finding;
pub mod human;
pub mod outcome;
pub mod pack;
pub mod params;
pub mod probe;
pub mod profiles;
pub mod redact;
pub mod registry;
pub mod report;
pub mod selection;
pub mod serve;
pub mod suggest;
pub mod target;
pub mod tomlfile;
pub mod version;
pub mod waiver;
