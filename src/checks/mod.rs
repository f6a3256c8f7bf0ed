//! Built-in checks, one module per family. Each module's `checks()` lists
//! what it contributes; `builtin()` is the whole registry.

pub mod browser;
pub mod host;
pub mod net;
pub mod share;
pub mod sql;
pub mod tls;

use crate::registry::Registry;

/// Every built-in check.
pub fn builtin() -> Registry {
    let mut registry = Registry::new();
    for check in net::checks() {
        registry
            .add(check)
            .expect("built-in check ids are unique (tested)");
    }
    for check in tls::checks() {
        registry
            .add(check)
            .expect("built-in check ids are unique (tested)");
    }
    for check in browser::checks() {
        registry
            .add(check)
            .expect("built-in check ids are unique (tested)");
    }
    for check in sql::checks() {
        registry
            .add(check)
            .expect("built-in check ids are unique (tested)");
    }
    for check in share::checks().into_iter().chain(host::checks()) {
        registry
            .add(check)
            .expect("built-in check ids are unique (tested)");
    }
    registry
}
