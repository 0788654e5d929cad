//! Arenas and the address -> span index (Go's `heapArena` and `mheap_.arenas`).
//!
//! The table has one slot per possible 64 MiB arena of a 48-bit address space (2^22 slots,
//! 32 MiB of address space mapped lazily, so only the slots used cost memory). A slot points
//! at the arena's metadata: one span pointer per page. Every page of an in-use span points
//! at that span; free pages point at nothing.
//!
//! Synchronisation: the table pointer is published once at start-up (before any object
//! exists). Arena metadata is created under the page heap lock and published with a release
//! store; page slots are written under the page heap lock and read without it. A reader
//! only looks up addresses of live objects, whose spans cannot be freed meanwhile. See the
//! allocator overview (`crate::design::allocator`).

use super::span::Span;
use super::{os, ARENA_SHIFT, ARENA_SIZE, PAGES_PER_ARENA, PAGE_SHIFT, PAGE_SIZE};
use crate::sync::{AtomicPtr, Ordering};
use std::ptr;

/// Address bits the table covers (x86-64 and AArch64 user space).
const ADDRESS_BITS: usize = 48;
/// Slots in the arena table.
const TABLE_LEN: usize = 1 << (ADDRESS_BITS - ARENA_SHIFT);

/// Metadata for one arena: the span owning each page.
pub(crate) struct ArenaMeta {
    /// The span owning each page. Inline, so a lookup is one load less.
    spans: [AtomicPtr<Span>; PAGES_PER_ARENA],
}

crate::sync::global! {
    /// The arena table; null until `init`.
    static TABLE: AtomicPtr<AtomicPtr<ArenaMeta>> = AtomicPtr::new(ptr::null_mut());
}

/// Maps the arena table. Idempotent; called once from heap initialisation.
pub(crate) fn init() {
    // Acquire pairs with the Release half of the CAS below (a racing first caller), but
    // only the pointer passes: the table comes zeroed from `mmap`, nothing is written to it
    // before the CAS, and `slot` loads `TABLE` Relaxed. Relaxed would do.
    if !TABLE.load(Ordering::Acquire).is_null() {
        return;
    }
    let bytes = TABLE_LEN * std::mem::size_of::<AtomicPtr<ArenaMeta>>();
    let base = os::map_aligned(bytes, PAGE_SIZE)
        .unwrap_or_else(|e| crate::fatal(&format!("cannot map the arena table: {e}")));
    // Zeroed memory is a valid array of null `AtomicPtr`s. Two first callers (unit tests
    // start the arena directly) race here: the loser's mapping is left unused.
    let _ = TABLE.compare_exchange(
        std::ptr::null_mut(),
        base as *mut AtomicPtr<ArenaMeta>,
        // The Release half pairs with the Acquire load at the top of `init`, the Acquire
        // halves with a racing caller's CAS; as there, only the pointer passes (and the
        // loser discards what it read). Relaxed would do.
        Ordering::AcqRel,
        Ordering::Acquire,
    );
}

#[inline(always)]
fn slot(addr: usize) -> Option<&'static AtomicPtr<ArenaMeta>> {
    let i = addr >> ARENA_SHIFT;
    if i >= TABLE_LEN {
        return None;
    }
    let t = TABLE.load(Ordering::Relaxed);
    if t.is_null() {
        return None;
    }
    // SAFETY: `t` points at `TABLE_LEN` slots mapped by `init` and never unmapped; `i` is in
    // range.
    Some(unsafe { &*t.add(i) })
}

/// The span owning `addr`, or null if `addr` is not in an in-use span.
#[inline(always)]
pub(crate) fn span_of(addr: usize) -> *const Span {
    let Some(slot) = slot(addr) else {
        return ptr::null();
    };
    // Acquire pairs with the Release store in `register`: we see the metadata zeroed.
    let meta = slot.load(Ordering::Acquire);
    if meta.is_null() {
        return ptr::null();
    }
    let page = (addr >> PAGE_SHIFT) & (PAGES_PER_ARENA - 1);
    // Acquire pairs with the Release store in `set_span`: we see the span's fields, which
    // `Heap::new_span` set before it called `set_span`.
    // SAFETY: arena metadata, once published, lives for the rest of the process.
    unsafe { (*meta).spans[page].load(Ordering::Acquire) }
}

/// Registers a freshly mapped arena at `base`. Called with the page heap lock held.
pub(crate) fn register(base: usize) {
    let slot = slot(base).unwrap_or_else(|| crate::fatal("arena outside the 48-bit table"));
    // Acquire would pair with the Release store below in an earlier `register`, but every
    // store to a slot is made under the page heap lock, which we hold: the lock already
    // orders it before us. Relaxed would do.
    if !slot.load(Ordering::Acquire).is_null() {
        return;
    }
    // Box the metadata: 64 KiB of bookkeeping, zero-initialised = all pages free.
    // Allocated zeroed on the heap (64 KiB must not pass through a small thread stack);
    // all-zero bytes are a valid array of null `AtomicPtr`s.
    let layout = std::alloc::Layout::new::<ArenaMeta>();
    // SAFETY: the layout has a non-zero size; zeroed memory is a valid `ArenaMeta` (an
    // array of `AtomicPtr`, for which zero is null); the pointer comes from the global
    // allocator with this layout, as `Box::from_raw` requires.
    let meta: Box<ArenaMeta> = unsafe {
        let p = std::alloc::alloc_zeroed(layout).cast::<ArenaMeta>();
        if p.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        Box::from_raw(p)
    };
    // Release pairs with the Acquire load of the slot in `span_of`: a lookup that finds the
    // metadata sees it zeroed.
    slot.store(Box::into_raw(meta), Ordering::Release);
}

/// Points every page of `[base, base + npages * PAGE_SIZE)` at `span` (null to clear).
/// Called with the page heap lock held; the arenas must be registered.
pub(crate) fn set_span(base: usize, npages: usize, span: *const Span) {
    for p in 0..npages {
        let addr = base + p * PAGE_SIZE;
        let slot = slot(addr).unwrap_or_else(|| crate::fatal("page outside the arena table"));
        // Acquire pairs with the Release store in `register`, which ran under the page heap
        // lock we hold: the lock already orders it before us. Relaxed would do.
        let meta = slot.load(Ordering::Acquire);
        assert!(!meta.is_null(), "page of an unregistered arena");
        let page = (addr >> PAGE_SHIFT) & (PAGES_PER_ARENA - 1);
        // Release pairs with the Acquire load of the page slot in `span_of`: a lookup that
        // finds `span` sees its fields, set before the span was handed to us.
        // SAFETY: published metadata lives forever.
        unsafe { (*meta).spans[page].store(span as *mut Span, Ordering::Release) };
    }
}

/// Visits the in-use spans that begin in `[from, end)` in address order, calling `f` on
/// each until it returns `false`; then returns the address just past the span that
/// stopped the walk (`None` if none did). Called with the page heap lock held (spans are
/// made and freed, their pages pointed at them and cleared, only under it, so every span
/// found is in use for as long as the caller holds the lock), or while no span can be
/// freed (`Heap::for_each_span_chunked`): then a span made meanwhile may or may not be
/// found, and one found was fully made (`set_span`'s Release).
pub(crate) fn spans_in(from: usize, end: usize, mut f: impl FnMut(&Span) -> bool) -> Option<usize> {
    let mut addr = from.next_multiple_of(PAGE_SIZE);
    while addr < end {
        let slot = slot(addr)?;
        // Acquire pairs with the Release store in `register` (made under the lock we hold:
        // Relaxed would do).
        let meta = slot.load(Ordering::Acquire);
        if meta.is_null() {
            // No arena here: on to the next one.
            addr = (addr | (ARENA_SIZE - 1)) + 1;
            continue;
        }
        let page = (addr >> PAGE_SHIFT) & (PAGES_PER_ARENA - 1);
        // Acquire pairs with the Release store in `set_span`, as in `span_of`.
        // SAFETY: published metadata lives forever.
        let s = unsafe { (*meta).spans[page].load(Ordering::Acquire) };
        if s.is_null() {
            addr += PAGE_SIZE;
            continue;
        }
        // SAFETY: a page points at an in-use span, which the heap lock held by the caller,
        // or the caller's guarantee that no span is freed, keeps in use.
        let s = unsafe { &*s };
        let next = s.base + s.npages * PAGE_SIZE;
        // A span that began before `from` was visited by an earlier walk, or is not wanted.
        if s.base == addr && !f(s) {
            return Some(next);
        }
        addr = next;
    }
    None
}
