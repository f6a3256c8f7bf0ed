//! The check registry: the `Check` trait (metadata plus a verdict over
//! facts) and every check the binary knows. What a check declares lives in
//! `meta`; selection by profile and pattern in `selection`.

use std::sync::Arc;

use async_trait::async_trait;

use crate::context::RunContext;
use crate::finding::Outcome;
// What a check declares lives in the leaf module `meta`; checks name it
// through the registry they register with.
pub use crate::meta::{CheckMeta, Family, ParamMeta, ParamRule, Text};

/// A check: metadata plus a verdict over facts. Checks never print and never
/// talk to the network themselves; they ask the context for facts.
#[async_trait]
pub trait Check: Send + Sync {
    fn meta(&self) -> &CheckMeta;
    async fn evaluate(&self, ctx: &RunContext) -> Outcome;
}

/// All checks the binary knows: built-in ones and those from check packs.
#[derive(Clone, Default)]
pub struct Registry {
    checks: Vec<Arc<dyn Check>>,
}

impl Registry {
    pub fn new() -> Self {
        Registry::default()
    }

    /// Adds a check. Ids are unique: a second check with the same id is refused.
    pub fn add(&mut self, check: Arc<dyn Check>) -> Result<(), DuplicateId> {
        let id = check.meta().id.clone();
        if self.get(&id).is_some() {
            return Err(DuplicateId(id.into_owned()));
        }
        self.checks.push(check);
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<&Arc<dyn Check>> {
        self.checks.iter().find(|c| c.meta().id == id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Check>> {
        self.checks.iter()
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.checks.iter().map(|c| c.meta().id.as_ref())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("two checks share the id `{0}`")]
pub struct DuplicateId(pub String);
