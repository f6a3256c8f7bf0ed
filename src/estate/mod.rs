//! Estates: many targets in one run. An inventory names the targets
//! (`inventory`), they run concurrently under one bound (`runner`), and
//! their reports make one estate report whose verdict is the worst
//! target's (`report`, rendered as JUnit by `junit` and HTML by `html`).

mod html;
pub(crate) mod inventory;
mod junit;
pub mod report;
pub(crate) mod rerun;
pub(crate) mod runner;

pub use inventory::{Entry, Inventory};
pub use report::{ESTATE_SCHEMA_ID, EstateReport, TargetReport};
