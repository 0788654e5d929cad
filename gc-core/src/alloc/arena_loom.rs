//! The address -> span index under `--cfg gc_loom` (the real one is `arena.rs`).
//!
//! The real index is a table of atomics in zero-filled memory, which loom's atomics cannot
//! be. Here a map behind a lock loom does not see stands in for it, with the same
//! interface: the models register the spans they build (`crate::loom_models::fixture`), and
//! the runtime code under test looks objects up exactly as it does normally. The index's
//! own publication protocol is therefore not modelled; what it publishes is (spans are
//! registered before a model's threads start). See the allocator overview (`crate::design::allocator`).

use super::span::Span;
use super::PAGE_SHIFT;
use crate::sync::UntrackedMutex;
use std::collections::BTreeMap;

crate::sync::global! {
    /// Page number -> span address (0 = none), for the current model execution.
    static PAGES: UntrackedMutex<BTreeMap<usize, usize>> = UntrackedMutex::new(BTreeMap::new());
}

fn pages() -> std::sync::MutexGuard<'static, BTreeMap<usize, usize>> {
    PAGES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Nothing to map under loom.
pub(crate) fn init() {}

/// The span owning `addr`, or null if `addr` is not in an in-use span.
pub(crate) fn span_of(addr: usize) -> *const Span {
    pages().get(&(addr >> PAGE_SHIFT)).copied().unwrap_or(0) as *const Span
}

/// Nothing to register under loom.
pub(crate) fn register(_base: usize) {}

/// Points every page of `[base, base + npages * PAGE_SIZE)` at `span` (null to clear).
pub(crate) fn set_span(base: usize, npages: usize, span: *const Span) {
    let mut m = pages();
    for p in (base >> PAGE_SHIFT)..(base >> PAGE_SHIFT) + npages {
        if span.is_null() {
            m.remove(&p);
        } else {
            m.insert(p, span as usize);
        }
    }
}
