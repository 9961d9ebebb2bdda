//! The RPC table: which `(ns, func)` pairs a peer may start, and as what.
//!
//! Python exposes whole modules (`enable_modules`) and looks functions up
//! by attribute. Here an actor declares each function it serves, under a
//! namespace of its choosing (a dotted name such as `"myapp.svc"`); the set
//! of namespaces is the allowlist. A `Start` for a namespace that is not
//! exposed fails with `ModuleNotExposed`, one for an unknown function of an
//! exposed namespace with `AttributeError`, both without a `StartAck`, as
//! Python answers (spec/PROTOCOL.md §4.1).

use std::collections::BTreeMap;

use crate::msg::FuncType;

/// The functions an actor serves.
///
/// ```
/// use tractor_protocol::{Endpoints, FuncType};
///
/// let endpoints = Endpoints::new()
///     .expose("myapp.math", "square", FuncType::AsyncFunc)
///     .expose("myapp.feeds", "ticker", FuncType::Context);
/// assert_eq!(endpoints.lookup("myapp.math", "square"), Ok(FuncType::AsyncFunc));
/// assert!(endpoints.lookup("myapp.math", "cube").is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    namespaces: BTreeMap<String, BTreeMap<String, FuncType>>,
}

/// Why a `Start` cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupError {
    /// The namespace is not exposed (`ModuleNotExposed`).
    ModuleNotExposed,
    /// The namespace is exposed but has no such function (`AttributeError`).
    NoSuchFunction,
}

impl Endpoints {
    /// An empty table: nothing is exposed.
    pub fn new() -> Self {
        Endpoints::default()
    }

    /// Serves `func` in namespace `ns` as an endpoint of kind `kind`.
    pub fn expose(
        mut self,
        ns: impl Into<String>,
        func: impl Into<String>,
        kind: FuncType,
    ) -> Self {
        self.insert(ns, func, kind);
        self
    }

    /// Serves `func` in namespace `ns` as an endpoint of kind `kind`.
    pub fn insert(&mut self, ns: impl Into<String>, func: impl Into<String>, kind: FuncType) {
        self.namespaces
            .entry(ns.into())
            .or_default()
            .insert(func.into(), kind);
    }

    /// Exposes a namespace with no functions yet, so that calls into it
    /// fail as "no such function" rather than "not exposed".
    pub fn expose_namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespaces.entry(ns.into()).or_default();
        self
    }

    /// What serves `(ns, func)`.
    pub fn lookup(&self, ns: &str, func: &str) -> Result<FuncType, LookupError> {
        let funcs = self
            .namespaces
            .get(ns)
            .ok_or(LookupError::ModuleNotExposed)?;
        funcs.get(func).copied().ok_or(LookupError::NoSuchFunction)
    }

    /// Keeps only the namespaces `keep` accepts: how a child narrows the
    /// functions its program has to the `enable_modules` its parent sent.
    pub fn retain_namespaces(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.namespaces.retain(|ns, _| keep(ns));
    }

    /// The exposed namespaces, sorted: what a parent lists in a child's
    /// `enable_modules`.
    pub fn namespaces(&self) -> impl Iterator<Item = &str> {
        self.namespaces.keys().map(String::as_str)
    }
}
