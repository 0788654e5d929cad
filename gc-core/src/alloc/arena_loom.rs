//! The address -> span index under `--cfg gc_loom` (the real one is `arena.rs`).
//!
//! The real index is a table of atomics in zero-filled memory, which loom's atomics cannot
//! be. Here a map behind a lock loom does not see stands in for it, with the same
//! interface: the models register the spans they build (`crate::loom_models::fixture`), and
//! the runtime code under test looks objects up exactly as it does normally. The index's
//! own publication protocol is therefore not modelled; what it publishes is (spans are
//! registered before a model's threads start). See the allocator overview (`crate::design::allocator`).

use super::span::Span;
use super::{PAGE_SHIFT, PAGE_SIZE};
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

/// Visits the in-use spans that begin in `[from, end)` in address order, as in `arena.rs`.
pub(crate) fn spans_in(from: usize, end: usize, mut f: impl FnMut(&Span) -> bool) -> Option<usize> {
    let found: Vec<usize> = pages()
        .range(from.div_ceil(PAGE_SIZE)..end.div_ceil(PAGE_SIZE))
        .map(|(_, &s)| s)
        .collect();
    let mut last = 0;
    for s in found {
        if s == last {
            continue;
        }
        last = s;
        // SAFETY: the models keep every registered span alive while it is registered.
        let s = unsafe { &*(s as *const Span) };
        if s.base >= from && !f(s) {
            return Some(s.base + s.npages * PAGE_SIZE);
        }
    }
    None
}
