//! # gc-core: Go's allocator and collector for Rust
//!
//! A garbage-collected heap for Rust programs that share object graphs, cycles included,
//! across threads. Derive [`Trace`], allocate with [`Gc::new`], mutate through [`GcCell`],
//! and let the collector free what is unreachable, paced like Go by `GOGC`.
//!
//! ```
//! use gc_core::{Gc, GcCell, Trace};
//!
//! #[derive(Trace)]
//! struct Node { edges: GcCell<Vec<Gc<Node>>>, id: u64 }
//!
//! let a = Gc::new(Node { edges: GcCell::new(vec![]), id: 1 });
//! let b = Gc::new(Node { edges: GcCell::new(vec![a.clone()]), id: 2 });
//! a.edges.borrow_mut().push(b.clone());          // a cycle
//! std::thread::spawn(move || assert_eq!(b.edges.borrow()[0].id, 1)).join().unwrap();
//! drop(a);
//! gc_core::collect();                             // the cycle is freed
//! assert_eq!(gc_core::mem_stats().num_forced_gc >= 1, true);
//! ```
//!
//! Design: the allocator overview is in `alloc/mod.rs`, the collector overview (roots,
//! cells, the cycle, the invariants, the layering) in `gc/mod.rs`; the public functions
//! are in `api.rs`. Environment variables, read once:
//! `GOGC`, `GOMEMLIMIT`, `GOMAXPROCS`, `GODEBUG` (`gctrace=1`, `clobberfree=1`).

#![warn(missing_docs, unreachable_pub)]

mod alloc;
mod api;
mod counting_alloc;
mod descriptor;
mod env;
mod ext;
mod gc;
#[cfg(all(test, gc_loom))]
mod loom_models;
mod object;
mod pool;
mod sync;

pub use api::{
    collect, free_os_memory, mem_stats, set_gc_percent, set_memory_limit, MemStats, SizeClassStats,
};
pub use counting_alloc::CountingAllocator;
pub use gc::Tracer;
pub use gc_derive::Trace;
pub use object::atomic::{AtomicGc, CompareExchangeError};
pub use object::cell::{BorrowError, BorrowMutError, GcCell, GcCellRef, GcCellRefMut};
pub use object::cleanup::Cleanup;
pub use object::gc::Gc;
pub use object::trace::Trace;
pub use object::weak::Weak;
pub use object::weak_map::WeakMap;
pub use pool::Pool;

/// Porting from rust-gc, dumpster and gc-arena: their names mapped to ours, the four design
/// differences a port runs into, and a worked example (`docs/porting.md` in the crate).
#[doc = include_str!("../docs/porting.md")]
pub mod porting {}

/// A thread-safe mutable cell for `Copy` data: crossbeam-utils' `AtomicCell`, re-exported,
/// with a [`Trace`] impl. Lock-free when `T` has the size and alignment of a native atomic
/// (`u64`, `usize`, `bool`, `char`...: `AtomicCell::<T>::is_lock_free()` says); other
/// types go through a global table of seqlocks.
///
/// Heap objects are shared between threads (`Gc<T>` needs `T: Sync`), so a `Cell<usize>`
/// field does not compile, even marked `#[trace(skip)]`. For counters, flags and other
/// small `Copy` state, an `AtomicCell` field is the answer: it needs no attribute, and as a
/// `Copy` value cannot hold a `Gc`, it is a leaf: an object with nothing else to trace stays
/// noscan. For a `Gc` field updated without a lock, see [`AtomicGc`]; for anything else,
/// [`GcCell`].
///
/// ```
/// use gc_core::{AtomicCell, Gc, Trace};
///
/// #[derive(Trace)]
/// struct Page {
///     url: String,
///     hits: AtomicCell<u64>,
/// }
///
/// let page = Gc::new(Page { url: "/index.html".into(), hits: AtomicCell::new(0) });
/// let counters: Vec<_> = (0..2)
///     .map(|_| {
///         let page = page.clone();
///         std::thread::spawn(move || {
///             for _ in 0..1000 {
///                 page.hits.fetch_add(1);
///             }
///         })
///     })
///     .collect();
/// for c in counters {
///     c.join().unwrap();
/// }
/// assert_eq!(page.hits.load(), 2000);
/// assert!(!<Page as Trace>::needs_trace()); // noscan: nothing in a `Page` is traced
/// ```
#[doc(inline)]
pub use crossbeam_utils::atomic::AtomicCell;

/// Support for the derive macro; not part of the public API.
#[doc(hidden)]
pub mod __private {
    /// How many derived types deep `Trace::needs_trace_at` and `drop_runs_user_code_at`
    /// look before answering `true` (mutually recursive types; a deeper nesting of distinct
    /// types only costs precision).
    pub const TRACE_DEPTH_LIMIT: u32 = 24;

    pub use crate::object::dyn_gc::gc_from_unsized_raw;

    /// The `Drop` guard's module. Its path and the trait's name are the compile error a
    /// hand-written `Drop` on a traced type gets ("conflicting implementations of trait
    /// `gc_core::__private::no_Drop_on_traced_types::use_trace_unsafe_drop_or_Gc_add_cleanup`"),
    /// so they spell out the two ways out: `#[trace(unsafe_drop)]` or a cleanup registered
    /// with `Gc::add_cleanup`.
    #[allow(non_snake_case)]
    pub mod no_Drop_on_traced_types {
        /// Implemented by `#[derive(Trace)]` for every traced type; conflicts with `Drop`,
        /// so a hand-written `Drop` on a traced type is a compile error (`Trace`
        /// obligation 5).
        #[allow(non_camel_case_types)]
        pub trait use_trace_unsafe_drop_or_Gc_add_cleanup {}
        #[allow(drop_bounds)]
        impl<T: Drop + ?Sized> use_trace_unsafe_drop_or_Gc_add_cleanup for T {}
    }

    /// Fault injection, debug builds only: while `on`, rooting a handle and moving one into
    /// the heap skip the write barrier's shade. A test uses it to prove that
    /// `GODEBUG=gccheckmark=1` catches a broken barrier; anything else that calls it gets
    /// objects freed while reachable.
    #[cfg(debug_assertions)]
    pub fn skip_barrier(on: bool) {
        crate::gc::SKIP_BARRIER.store(on, crate::sync::Ordering::SeqCst);
    }

    /// The root count past which taking one more root aborts ("handles are being leaked").
    #[cfg(debug_assertions)]
    pub const MAX_ROOTS: u32 = crate::gc::MAX_ROOTS;

    /// Leak simulation, debug builds only: raises the root count of `g`'s object (for a
    /// tiny object, of its tiny block, which all the block's objects share) to `to`, as if
    /// handles to it had been leaked, without making them one by one. Returns the count it
    /// replaced. Never lowers a count (that would free live objects): panics instead.
    #[cfg(debug_assertions)]
    pub fn raise_root_count_for_test<T: ?Sized + 'static>(g: &crate::Gc<T>, to: u32) -> u32 {
        crate::gc::raise_count_for_test(crate::Gc::as_ptr(g).cast::<u8>() as usize, to)
    }

    /// Debug builds only: the root count of `g`'s object (for a tiny object, of its tiny
    /// block, which all the block's objects share).
    #[cfg(debug_assertions)]
    pub fn root_count_for_test<T: ?Sized + 'static>(g: &crate::Gc<T>) -> u32 {
        crate::gc::root_count_for_test(crate::Gc::as_ptr(g).cast::<u8>() as usize)
    }

    /// The most shared borrows users may hold on one `GcCell` at once.
    #[cfg(debug_assertions)]
    pub const GCCELL_MAX_READERS: u32 = crate::object::cell_lock::USER_READERS;

    /// Leak simulation, debug builds only: `n` more shared borrows of `cell`, as if `n`
    /// read guards had been taken and leaked (`mem::forget(cell.borrow())`), without taking
    /// them one by one. Panics past [`GCCELL_MAX_READERS`] or while a writer holds the cell.
    #[cfg(debug_assertions)]
    pub fn leak_cell_read_guards<T: crate::Trace>(cell: &crate::GcCell<T>, n: u32) {
        cell.leak_read_guards_for_test(n);
    }
}

/// Writes one diagnostic line on stderr (gctrace, gcpacertrace, scavtrace, warnings about
/// user code). The only path the runtime writes to stderr through: a closed or failing
/// stderr (`prog 2>&1 | head -1`) loses the line and nothing else, where `eprintln!` would
/// panic on `EPIPE` and take the runtime thread that printed with it.
pub(crate) fn report(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(line).and_then(|()| err.write_all(b"\n"));
}

/// Reports a broken runtime invariant and aborts, as Go's `throw` does: continuing could
/// free live memory.
#[cold]
pub(crate) fn fatal(msg: &str) -> ! {
    report(format_args!("fatal error: gc_core: {msg}"));
    std::process::abort()
}
