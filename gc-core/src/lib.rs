//! # gc-core: Go's allocator and collector for Rust
//!
//! A garbage-collected heap for Rust programs that share object graphs, cycles included,
//! across threads: Go's allocator (size classes, per-thread caches, a page heap that gives
//! memory back to the OS) and Go's concurrent tri-colour mark-sweep collector (short
//! pauses, background marking, assists, Go's pacer, `GOGC` and `GOMEMLIMIT`), as a
//! library. Derive [`Trace`], allocate with [`Gc::new`], mutate through [`GcCell`], and the
//! collector frees what is unreachable.
//!
//! ## Two minutes
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
//! - [`Gc<T>`](Gc) is a shared handle, `Send + Sync` like `Arc`, `Clone` without a deep
//!   copy; `Gc<str>`, `Gc<[T]>` and `Gc<dyn Trait>` ([`coerce_gc!`], `Gc::from(Box<dyn ..>)`)
//!   work too. Handles held outside the heap are roots (counted); handles inside heap
//!   objects are edges (traced).
//! - [`GcCell<T>`](GcCell) is the way to mutate inside the heap: a reader-writer lock
//!   between threads, `RefCell`'s behaviour on one thread. [`AtomicGc`] is a lock-free
//!   `Gc` slot; [`AtomicCell`] holds `Copy` data.
//! - [`Weak`], [`WeakMap`] (an ephemeron table) and [`Gc::add_cleanup`] (Go's
//!   `runtime.AddCleanup`) are for caches, side tables and finalization; [`Pool`] is Go's
//!   `sync.Pool`.
//! - [`collect`], [`set_gc_percent`], [`set_memory_limit`], [`free_os_memory`] and
//!   [`mem_stats`] are Go's `runtime.GC`, `debug.SetGCPercent`, `debug.SetMemoryLimit`,
//!   `debug.FreeOSMemory` and `runtime.ReadMemStats`. [`CountingAllocator`] lets the pacer
//!   see the memory heap objects own in `malloc` (a `Gc<String>`'s buffer).
//!
//! ## Knobs (environment variables, read once at start)
//!
//! | variable | meaning (Go's) | a bad value |
//! |---|---|---|
//! | `GOGC` | heap growth over the live heap before the next cycle, in percent; `off` turns automatic cycles off | one warning, uses 100 |
//! | `GOMEMLIMIT` | soft memory limit (`512MiB`, `4GiB`, `off`) | warning, uses `off` |
//! | `GOMAXPROCS` | processors the collector plans for: background marking takes 25% of them | warning, uses the cores |
//! | `GODEBUG` | `gctrace=1` (a line per cycle), `gcpacertrace=1`, `scavtrace=1`, `gccheckmark=1` (verify every mark), `clobberfree=1` (poison freed memory), `gcstoptheworld=1`, `stalltrace=1` (ours: runtime stalls of 1 ms or more, with their cause and CPU time; `stallthreshold=N`: from N microseconds), `allocblack=1` / `allocwhite=1` (ours: allocate black during a mark as Go does / let young garbage die in its cycle on every heap, not only from a 128 MiB goal) | warning, keeps the default |
//!
//! [`set_gc_percent`] and [`set_memory_limit`] change the first two at run time.
//!
//! ## When to pick it
//!
//! | you need | pick |
//! |---|---|
//! | a tree or DAG, no cycles | `Arc`/`Rc`: no collector at all |
//! | cycles on one thread, the smallest footprint | rust-gc (`gc`), dumpster's `unsync`: stop-the-world, thread-local |
//! | cycles, and soundness proven by the type system, inside one arena | `gc-arena`: no handles outside the arena's closure |
//! | cycles shared across threads, short pauses on big heaps, Go's knobs and figures, weak references, ephemerons, cleanups | gc-core |
//!
//! Where gc-core differs from Go (roots are counted handles instead of scanned stacks;
//! `Drop` runs after the sweep, on another thread) and from the other crates, see
//! [`porting`]. Its cost: every handle clone or drop is an atomic update, and a
//! [`GcCell`] is a lock; the runtime's floor is a few MiB (Go's 4 MB minimum heap goal
//! and its threads).
//!
//! ## Inside
//!
//! [`design::allocator`] and [`design::collector`] are the design overviews the
//! maintainers work from: structures, the allocation path, roots and cells, the cycle
//! step by step, the invariants, and Go's files beside ours.

#![warn(missing_docs, unreachable_pub)]

mod alloc;
mod api;
mod counting_alloc;
pub mod debug;
mod descriptor;
mod diag;
mod env;
mod ext;
mod gc;
// The loom models are declared inside `gc` (whose modules are private to it); this names
// them `crate::loom_models`.
#[cfg(all(test, gc_loom))]
use gc::loom_models;
pub mod metrics;
mod object;
mod pool;
mod sync;

pub use api::{
    collect, free_os_memory, mem_stats, set_gc_percent, set_memory_limit, MemStats, SizeClassStats,
};
pub use api::{flush_trace_writer, reset_trace_writer, set_trace_writer};
pub use api::{heap_profile, TypeStats};
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

/// The design overviews, published from `docs/design/` (the same text the maintainers
/// read). File names in them are relative to the crate's `src/alloc/` and `src/gc/`.
pub mod design {
    #[doc = include_str!("../docs/design/allocator.md")]
    pub mod allocator {}
    #[doc = include_str!("../docs/design/collector.md")]
    pub mod collector {}
}

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
    /// How many derived types deep `Trace::needs_trace_at`, `drop_runs_user_code_at` and
    /// `garbage_drop_is_noop_at` look before giving the always-sound answer (`true` for the
    /// first two, `false` for the last: mutually recursive types; a deeper nesting of
    /// distinct types only costs precision).
    pub const TRACE_DEPTH_LIMIT: u32 = 24;

    pub use crate::object::dyn_gc::gc_from_unsized_raw;

    /// What `Trace::root_into` roots a handle through (a derived impl forwards it to its
    /// fields; only the runtime makes one).
    pub use crate::gc::RootRun;

    /// What a derived `Trace::trace_chunk` and `trace_counting` call to scan a list in a
    /// field in chunks and to stop counting between two fields.
    pub use crate::object::field_chunks::{counted_enough, FieldChunks};

    /// Bytes of blocks that `CountingAllocator` queued on the collector's threads and that
    /// a background thread freed itself because too many were pending (the mutators did
    /// not allocate for a while), cumulative. For `tests/remote_free.rs`.
    pub fn remote_frees_drained_past_bound() -> u64 {
        crate::alloc::remote_free::drained_past_bound() as u64
    }

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

    /// Debug builds only: while `true`, a cycle whose first mark round is over waits before
    /// its young scan (`gc/young.rs`): objects allocated then are young and white, the
    /// others marked. `tests/young.rs` allocates there.
    #[cfg(debug_assertions)]
    pub fn hold_young_scan(on: bool) {
        crate::gc::YOUNG_SCAN_GATE.close(on);
    }

    /// Debug builds only: whether a cycle waits before its young scan
    /// ([`hold_young_scan`]).
    #[cfg(debug_assertions)]
    pub fn young_scan_held() -> bool {
        crate::gc::YOUNG_SCAN_GATE.waiting()
    }

    /// Debug builds only: while `true`, the unroot pass's turning of a large list into
    /// edges a chunk at a time waits between its first and second chunk, the cell's lock
    /// let go (`GcCell::unroot_in_chunks`). `tests/large_cell_unroot.rs` reads and writes
    /// the cell there.
    #[cfg(debug_assertions)]
    pub fn hold_unroot_chunks(on: bool) {
        crate::gc::UNROOT_CHUNKS_GATE.close(on);
    }

    /// Debug builds only: whether the unroot pass waits between two chunks
    /// ([`hold_unroot_chunks`]).
    #[cfg(debug_assertions)]
    pub fn unroot_chunks_held() -> bool {
        crate::gc::UNROOT_CHUNKS_GATE.waiting()
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

    /// Sets the period of Go's `forcegcperiod` (default 2 minutes, at least 1 ms): a cycle
    /// runs when none has ended for that long (unless `GOGC=off`). For tests and examples
    /// (`examples/buffer_churn --forcegc-ms`); returns the previous period.
    pub fn set_forcegc_period(period: std::time::Duration) -> std::time::Duration {
        crate::gc::set_forcegc_period(period)
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

/// Reports one diagnostic line (gctrace, gcpacertrace, scavtrace, warnings about user
/// code): on stderr, or where [`set_trace_writer`] (or the `log`/`tracing` feature) sends
/// them (`diag/mod.rs`). The only path the runtime reports through: never blocks on user
/// code, and a closed or failing stderr (`prog 2>&1 | head -1`) loses the line and nothing
/// else, where `eprintln!` would panic on `EPIPE` and take the runtime thread that printed
/// with it.
pub(crate) fn report(line: std::fmt::Arguments<'_>) {
    diag::report(line);
}

/// Reports a broken runtime invariant and aborts, as Go's `throw` does: continuing could
/// free live memory.
#[cold]
pub(crate) fn fatal(msg: &str) -> ! {
    // Stderr, synchronously, whatever the trace writer: the process aborts next.
    diag::report_fatal(format_args!("fatal error: gc_core: {msg}"));
    std::process::abort()
}
