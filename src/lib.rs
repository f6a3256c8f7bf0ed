//! mssql-preflight: tells an administrator whether a Microsoft SQL Server
//! backend is ready for the application that will use it.
//!
//! A [`target::Target`] is described once; [`engine::run`] evaluates the
//! selected [`registry::Check`]s concurrently over memoised facts
//! ([`context::Fact`]); a [`report::Report`] is rendered as a table, JSON,
//! JUnit or Markdown.

pub(crate) mod actions;
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
pub(crate) mod exit;
pub mod facts;
pub mod finding;
pub mod human;
pub(crate) mod meta;
pub mod outcome;
pub mod pack;
pub mod params;
pub mod probe;
pub(crate) mod profiles;
pub mod redact;
pub mod registry;
pub mod report;
pub mod selection;
pub(crate) mod serve;
pub(crate) mod suggest;
pub mod target;
pub(crate) mod tomlfile;
pub(crate) mod version;
pub(crate) mod waiver;
