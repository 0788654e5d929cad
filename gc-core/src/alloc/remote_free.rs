//! Remote frees: the frees `crate::CountingAllocator` is asked to make on the collector's
//! background threads (the sweeper and the GC controller, which drop dead objects in place;
//! the droppers, which run their `Drop`s) are queued here and made later, in batches, by
//! mutator threads on their next allocation through a `CountingAllocator`.
//!
//! Why: a dead `Gc<Vec<u8>>`'s buffer was allocated by a mutator, in its `malloc` arena.
//! glibc's `free` of it on the sweeper takes that arena's lock while the mutator's `malloc`
//! takes the same lock, and both threads end up sleeping on futexes. Made by a mutator,
//! the free goes to that thread's own cache (tcache) or uncontended arena, and the memory
//! is reused by the very thread that allocates. Without `CountingAllocator` installed
//! nothing is deferred: the frees happen where the drops run.
//!
//! How: a thread marked by [`defer_here`] (a const thread-local flag in `sync::untracked`:
//! the global allocator never allocates to read it) appends each free (pointer, `Layout`)
//! to its current batch, a fixed array of [`BATCH_LEN`] entries (at most [`BATCH_BYTES`] of
//! blocks) whose header names the allocator to free them with (its `TypeId`, a type-erased
//! function and the instance's address); a block of `BATCH_BYTES` or more is freed at once.
//! The batch itself comes from that wrapped allocator directly (never through the global
//! allocator: no recursion, not counted as external memory). A full batch, or the partial
//! one at the end of a background thread's work ([`flush`]), is pushed onto a global
//! lock-free stack. A `CountingAllocator` allocation on any thread that does not defer
//! checks one counter ([`drain_if_pending`]) and, when batches are pending, takes the whole
//! stack and frees every entry, or keeps the small ones its allocator type served in the
//! thread's recycle cache (`alloc/recycle.rs`) for its next allocations. The emptied
//! batches go onto a second stack of spares (up to `MAX_SPARES`; past that they are freed),
//! from which the deferring threads take their next batches: a batch freed by the mutator
//! and allocated anew by the sweeper met on the sweeper's `malloc` arena lock, about 800
//! futex calls in a 0.5 s interpreter run (`examples/interp`, instantiation.lox), 60 with
//! spares.
//!
//! Invariants:
//! - every queued free is made exactly once, by the allocator that served it, with its
//!   layout: a batch is owned by its thread until pushed, by the stack until a drain's
//!   `swap` takes it (all of it: nobody pops single batches, so there is no ABA), then by
//!   that drain alone, which frees it or pushes it as a spare; a spare is taken the same
//!   way (the whole spare stack, the rest pushed back) and owned by the taker;
//! - bounded: past [`MAX_PENDING`] pushed batches or [`MAX_PENDING_BYTES`] of their
//!   blocks, the thread that pushes drains them itself (so a program whose mutators stop
//!   allocating keeps at most that much, plus one partial batch per deferring thread);
//! - only zero-sized wrapped allocators (`System`, mimalloc's and jemalloc's handles) are
//!   deferred: a reference to a zero-sized value is valid at any aligned address, so a
//!   drain may run after the instance that queued the free is gone. A stateful wrapped
//!   allocator is freed into directly, as before;
//! - a deferring thread never drains on its own allocations (only past the bound): it is a
//!   runtime thread that lives as long as the process, so its partial batch is never
//!   stranded by its exit (a thread that exits with one leaks those blocks).
//!
//! The external-memory count (`external::note_free`) is taken when the free is queued,
//! so `mem_stats()` is unchanged; only the return of the memory to the wrapped allocator
//! waits for a mutator's next allocation.
//!
//! Shared state: the stack head (`HEAD`: Release on push, Acquire on the drain's `swap`, which
//! hands the batches' contents over) and the counts of pushed batches and of their bytes
//! (`PENDING`, `PENDING_BYTES`, Relaxed: hints; raised before the push, so a drain's decrement
//! never passes them); the spare stack (`SPARE`, the same orderings) and its count (`SPARES`,
//! Relaxed, raised before a push). All are std atomics untracked by loom (`sync::untracked`), like
//! the external-memory counts the same allocator keeps. See the allocator overview
//! (`crate::design::allocator`).

use super::recycle;
use crate::sync::prefetch_read;
use crate::sync::untracked::{self, AtomicPtr, AtomicUsize};
use crate::sync::Ordering::{Acquire, Relaxed, Release};
use std::alloc::{GlobalAlloc, Layout};
use std::any::TypeId;
use std::mem::{size_of, MaybeUninit};
use std::ptr::{self, addr_of_mut};

/// Frees per batch: a batch (header and entries) fits in 4 KiB.
pub(crate) const BATCH_LEN: usize = 167;

/// Bytes of blocks per batch past which it is pushed at once; a block this large or larger
/// is freed at once (rare, and the bound below must hold).
pub(crate) const BATCH_BYTES: usize = 256 << 10;

/// Pushed batches (about 10,000 frees) past which the thread that pushes drains them.
pub(crate) const MAX_PENDING: usize = 64;

/// Bytes of blocks in pushed batches past which the thread that pushes drains them.
pub(crate) const MAX_PENDING_BYTES: usize = 8 << 20;

/// Frees `ptr` (of `layout`) through the allocator at the given address.
pub(crate) type FreeFn = unsafe fn(*const (), *mut u8, Layout);

/// One queued free.
struct Entry {
    ptr: *mut u8,
    layout: Layout,
}

/// A batch of queued frees, all for the allocator named in its header.
struct Batch {
    /// The next batch on the stack (of pushed batches, or of spares).
    next: *mut Batch,
    /// Entries written so far (`entries[..len]` are initialised).
    len: usize,
    /// The sizes of those entries' blocks, summed.
    bytes: usize,
    /// The allocator of the entries' blocks: its type, and its free.
    ty: TypeId,
    free: FreeFn,
    alloc: *const (),
    /// The allocator that allocated the batch itself (frees it when it is not kept as a
    /// spare): not always the entries' one, since a spare serves any allocator.
    own_free: FreeFn,
    own_alloc: *const (),
    entries: [MaybeUninit<Entry>; BATCH_LEN],
}

const _: () = assert!(size_of::<Batch>() <= 4096);

/// The top of the stack of pushed batches.
static HEAD: AtomicPtr<Batch> = AtomicPtr::new(ptr::null_mut());
/// Batches pushed and not yet taken by a drain (raised before the push).
static PENDING: AtomicUsize = AtomicUsize::new(0);
/// Bytes of the blocks in those batches (raised before the push).
static PENDING_BYTES: AtomicUsize = AtomicUsize::new(0);
/// Bytes of blocks freed by publishers past the bound (cumulative; tests read it).
static DRAINED_PAST_BOUND: AtomicUsize = AtomicUsize::new(0);

/// Drained batches kept for the deferring threads' next batches (the top of a stack).
static SPARE: AtomicPtr<Batch> = AtomicPtr::new(ptr::null_mut());
/// Batches on `SPARE`, or about to be (raised before a push, lowered after a take).
static SPARES: AtomicUsize = AtomicUsize::new(0);
/// Spares kept at most; a drain frees the batches past it.
const MAX_SPARES: usize = 16;

/// From now on, frees through `CountingAllocator` on this thread are queued for mutators.
/// For the collector's background threads, which live as long as the process.
pub(crate) fn defer_here() {
    untracked::set_defer_frees(true);
}

/// `dealloc` through the allocator at `alloc` (of type `A`).
///
/// # Safety
///
/// `alloc` is the address of an `A`, and `A` is zero-sized (so any such address, aligned
/// and non-null, is valid for it, whether the instance still exists or not); `ptr` and
/// `layout` satisfy `A::dealloc`'s contract.
pub(crate) unsafe fn free_with<A: GlobalAlloc>(alloc: *const (), ptr: *mut u8, layout: Layout) {
    // SAFETY: `A` is zero-sized and `alloc` aligned and non-null (it came from a reference),
    // so the reference is valid; the free is the caller's contract.
    unsafe { (*alloc.cast::<A>()).dealloc(ptr, layout) }
}

/// Queues the free of `ptr` if this thread defers its frees; returns whether it did (if
/// not, the caller frees it itself).
///
/// # Safety
///
/// `ptr` and `layout` satisfy `inner.dealloc`'s contract, and the caller gives up `ptr`
/// when this returns true.
#[inline]
pub(crate) unsafe fn defer<A: GlobalAlloc + 'static>(
    inner: &A,
    ptr: *mut u8,
    layout: Layout,
) -> bool {
    if size_of::<A>() != 0 || layout.size() >= BATCH_BYTES || !untracked::defer_frees() {
        return false;
    }
    // SAFETY: forwarded; `A` is zero-sized (checked above).
    unsafe { push(inner, ptr, layout) }
}

/// Appends a free to this thread's batch (starting a new one if it is missing or for
/// another allocator), and pushes the batch if that fills it; false if no batch could be
/// allocated.
///
/// # Safety
///
/// As [`defer`], and `A` is zero-sized.
unsafe fn push<A: GlobalAlloc + 'static>(inner: &A, ptr: *mut u8, layout: Layout) -> bool {
    let free: FreeFn = free_with::<A>;
    let alloc = (inner as *const A).cast::<()>();
    let mut b = untracked::free_batch().cast::<Batch>();
    if !b.is_null() {
        // SAFETY: this thread's current batch: allocated below, owned by this thread alone
        // until published.
        let same = unsafe { (*b).ty == TypeId::of::<A>() };
        if !same {
            untracked::set_free_batch(ptr::null_mut());
            // SAFETY: as above; the thread gives it up here.
            unsafe { publish(b) };
            b = ptr::null_mut();
        }
    }
    if b.is_null() {
        b = take_spare();
        if b.is_null() {
            // SAFETY: a valid, non-zero-sized layout.
            let raw = unsafe { inner.alloc(Layout::new::<Batch>()) };
            if raw.is_null() {
                // Correctness first: free it here.
                return false;
            }
            b = raw.cast::<Batch>();
            // SAFETY: fresh memory of `Batch`'s layout; its own allocator is `inner`.
            unsafe {
                addr_of_mut!((*b).own_free).write(free);
                addr_of_mut!((*b).own_alloc).write(alloc);
            }
        }
        // SAFETY: a fresh batch or a spare, owned by this thread alone; the rest of the
        // header is (re)initialised field by field (the entries stay uninitialised until
        // written).
        unsafe {
            addr_of_mut!((*b).next).write(ptr::null_mut());
            addr_of_mut!((*b).len).write(0);
            addr_of_mut!((*b).bytes).write(0);
            addr_of_mut!((*b).ty).write(TypeId::of::<A>());
            addr_of_mut!((*b).free).write(free);
            addr_of_mut!((*b).alloc).write(alloc);
        }
        untracked::set_free_batch(b.cast());
    }
    // SAFETY: this thread's batch, with `len < BATCH_LEN` (a full one is published at
    // once, below).
    let full = unsafe {
        let len = (*b).len;
        (*b).entries[len].write(Entry { ptr, layout });
        (*b).len = len + 1;
        (*b).bytes += layout.size();
        (*b).len == BATCH_LEN || (*b).bytes >= BATCH_BYTES
    };
    if full {
        untracked::set_free_batch(ptr::null_mut());
        // SAFETY: as above; the thread gives it up here.
        unsafe { publish(b) };
    }
    true
}

/// Pushes this thread's partial batch, if any, for mutators to free: the collector calls
/// it when a background thread's work ends (a sweep, a cycle, a dropper's jobs).
pub(crate) fn flush() {
    let b = untracked::free_batch().cast::<Batch>();
    if !b.is_null() {
        untracked::set_free_batch(ptr::null_mut());
        // SAFETY: this thread's batch (non-empty: a batch starts with its first entry),
        // given up here.
        unsafe { publish(b) };
    }
}

/// Pushes a batch onto the stack; past [`MAX_PENDING`] batches or [`MAX_PENDING_BYTES`],
/// drains them all.
///
/// # Safety
///
/// `b` is a batch from `push`, owned by the caller, who gives it up.
unsafe fn publish(b: *mut Batch) {
    // Raised before the push: a drain that takes this batch has seen the increment, so its
    // decrement never goes below zero. Bounded by the batches in existence: never wraps.
    let pending = PENDING.fetch_add(1, Relaxed) + 1;
    // SAFETY: owned by the caller.
    let bytes = unsafe { (*b).bytes };
    let pending_bytes = PENDING_BYTES.fetch_add(bytes, Relaxed) + bytes;
    // The batch's entries travel with it to the drain's Acquire `swap`.
    push_chain(&HEAD, b, b);
    if pending > MAX_PENDING || pending_bytes > MAX_PENDING_BYTES {
        DRAINED_PAST_BOUND.fetch_add(drain(), Relaxed);
    }
}

/// Bytes of blocks freed so far by background threads that found the bound passed (the
/// frees a descheduled mutator left to them), cumulative.
pub(crate) fn drained_past_bound() -> usize {
    DRAINED_PAST_BOUND.load(Relaxed)
}

/// Called by every `CountingAllocator<A>` allocation: if batches are pending and this
/// thread does not defer its frees, makes them, keeping the small blocks `inner`'s type
/// served in this thread's recycle cache (`alloc/recycle.rs`) for its next allocations.
/// The fast path is one Relaxed load.
#[inline(always)]
pub(crate) fn drain_if_pending<A: GlobalAlloc + 'static>(inner: &A) {
    if PENDING.load(Relaxed) != 0 {
        drain_unless_deferring(inner);
    }
}

#[cold]
#[inline(never)]
fn drain_unless_deferring<A: GlobalAlloc + 'static>(inner: &A) {
    if !untracked::defer_frees() {
        recycle::with_keeper(inner, |keeper| match keeper {
            Some(k) => {
                k.publish();
                drain_with(|ty, ptr, layout| {
                    // SAFETY: an `A` served the block with `layout`, and the drain gives
                    // `ptr` up when it is kept.
                    ty == TypeId::of::<A>() && unsafe { k.keep(ptr, layout) }
                });
                k.publish();
            }
            None => {
                drain();
            }
        });
    }
}

/// Takes every pushed batch and makes its frees, then keeps the batches as spares (frees
/// those past `MAX_SPARES`); returns the bytes of the blocks freed.
pub(crate) fn drain() -> usize {
    drain_with(|_, _, _| false)
}

/// [`drain`], offering each block to `keep` (with its allocator's type) first: a block it
/// keeps is not freed here.
#[inline(always)]
fn drain_with(mut keep: impl FnMut(TypeId, *mut u8, Layout) -> bool) -> usize {
    if HEAD.load(Relaxed).is_null() {
        return 0;
    }
    // Acquire pairs with each push's Release: the entries written before it are visible.
    let mut b = HEAD.swap(ptr::null_mut(), Acquire);
    let (mut taken, mut taken_bytes) = (0, 0);
    while !b.is_null() {
        // SAFETY: the swap gave this drain sole ownership of every batch on the list; each
        // was allocated by `free`'s allocator, has `len` initialised entries, each a block
        // that allocator served and nobody else frees (queued by `defer`).
        unsafe {
            let (next, len, ty) = ((*b).next, (*b).len, (*b).ty);
            let (free, alloc) = ((*b).free, (*b).alloc);
            taken_bytes += (*b).bytes;
            let entries = &(&(*b).entries)[..len];
            for (i, e) in entries.iter().enumerate() {
                if let Some(ahead) = entries.get(i + PREFETCH_AHEAD) {
                    // The line before the block, where `malloc` implementations keep its
                    // header (glibc: its size, read and written by `free`): blocks are
                    // freed long after they were last touched.
                    prefetch_read((ahead.assume_init_ref().ptr as usize).wrapping_sub(16));
                }
                let e = e.assume_init_ref();
                if !keep(ty, e.ptr, e.layout) {
                    free(alloc, e.ptr, e.layout);
                }
            }
            recycle(b);
            b = next;
        }
        taken += 1;
    }
    if taken > 0 {
        PENDING.fetch_sub(taken, Relaxed);
        PENDING_BYTES.fetch_sub(taken_bytes, Relaxed);
    }
    taken_bytes
}

/// How many entries ahead of the free it makes a drain prefetches the block's header.
const PREFETCH_AHEAD: usize = 4;

/// Keeps a drained batch as a spare, or frees it past `MAX_SPARES`.
///
/// # Safety
///
/// `b` is a batch owned by the caller (its entries already freed), who gives it up.
unsafe fn recycle(b: *mut Batch) {
    if SPARES.fetch_add(1, Relaxed) >= MAX_SPARES {
        SPARES.fetch_sub(1, Relaxed);
        // SAFETY: the batch was allocated by its own allocator with this layout; the
        // caller gives it up.
        unsafe { ((*b).own_free)((*b).own_alloc, b.cast(), Layout::new::<Batch>()) };
        return;
    }
    push_chain(&SPARE, b, b);
}

/// Pushes the chain `first..=last` (linked by `next`, owned by the caller) onto `stack`.
fn push_chain(stack: &AtomicPtr<Batch>, first: *mut Batch, last: *mut Batch) {
    let mut head = stack.load(Relaxed);
    loop {
        // SAFETY: the caller owns the chain until the exchange below succeeds.
        unsafe { (*last).next = head };
        // Release: the chain's writes travel with it to the taker's Acquire `swap`.
        match stack.compare_exchange_weak(head, first, Release, Relaxed) {
            Ok(_) => return,
            Err(now) => head = now,
        }
    }
}

/// A spare batch, owned by the caller from now on, or null if there is none. Takes the
/// whole stack (as a drain does: no single pops, so no ABA) and pushes back all but one.
fn take_spare() -> *mut Batch {
    if SPARE.load(Relaxed).is_null() {
        return ptr::null_mut();
    }
    // Acquire pairs with the Release of the pushes: the chain's links are visible.
    let b = SPARE.swap(ptr::null_mut(), Acquire);
    if b.is_null() {
        return b;
    }
    // SAFETY: the swap gave this thread the whole chain.
    let rest = unsafe { (*b).next };
    if !rest.is_null() {
        let mut last = rest;
        // SAFETY: as above; at most `MAX_SPARES` links (plus a few a racing drain added).
        unsafe {
            while !(*last).next.is_null() {
                last = (*last).next;
            }
        }
        push_chain(&SPARE, rest, last);
    }
    SPARES.fetch_sub(1, Relaxed);
    b
}

/// Frees every spare batch (tests: so that their allocators' books balance).
#[cfg(all(test, not(gc_loom)))]
fn release_spares() {
    let mut b = SPARE.swap(ptr::null_mut(), Acquire);
    while !b.is_null() {
        // SAFETY: the swap gave this thread the whole chain; each batch was allocated by
        // its own allocator with this layout.
        unsafe {
            let next = (*b).next;
            ((*b).own_free)((*b).own_alloc, b.cast(), Layout::new::<Batch>());
            b = next;
        }
        SPARES.fetch_sub(1, Relaxed);
    }
}

#[cfg(all(test, not(gc_loom)))]
mod tests {
    //! Driven with zero-sized test allocators used directly (never installed): each keeps
    //! the blocks it served and records every free, and where it happened. The queue is
    //! process-wide, so the tests take turns (`SERIAL`).

    use super::*;
    use crate::sync::Mutex;
    use std::alloc::System;

    static SERIAL: Mutex<()> = Mutex::new(());

    /// A test's turn: at the process-wide queue, and (glibc targets) among the tests that
    /// keep blocks in recycle caches, whose bound all threads share.
    struct Turn {
        _queue: crate::sync::MutexGuard<'static, ()>,
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        _keeping: crate::sync::MutexGuard<'static, ()>,
    }

    /// Takes this test's turn, starting with nothing pending and no spare batch (which an
    /// earlier test's allocator would still book as live).
    fn take_turn() -> Turn {
        let turn = Turn {
            _queue: SERIAL.lock(),
            #[cfg(all(target_os = "linux", target_env = "gnu"))]
            _keeping: recycle::tests::take_turn(),
        };
        drain();
        release_spares();
        turn
    }

    /// What test allocator `ID` saw.
    struct Book {
        /// Blocks served and not freed yet.
        live: Vec<(usize, Layout)>,
        /// Frees made on a thread that defers its frees.
        freed_on_deferring: usize,
        /// Frees made elsewhere.
        freed_elsewhere: usize,
        /// Frees of a block not live, or with another layout.
        bad: usize,
        /// The next allocation of a batch's layout fails.
        fail_batches: bool,
    }

    #[allow(clippy::declare_interior_mutable_const)] // only as an array initialiser
    const EMPTY: Mutex<Book> = Mutex::new(Book {
        live: Vec::new(),
        freed_on_deferring: 0,
        freed_elsewhere: 0,
        bad: 0,
        fail_batches: false,
    });
    static BOOKS: [Mutex<Book>; 3] = [EMPTY; 3];

    /// A zero-sized allocator over `System` that books everything in `BOOKS[ID]`.
    struct TestAlloc<const ID: usize>;

    // SAFETY: forwards to `System`; the bookkeeping allocates through the global allocator
    // (not this one: it is never installed).
    unsafe impl<const ID: usize> GlobalAlloc for TestAlloc<ID> {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let mut book = BOOKS[ID].lock();
            if book.fail_batches && layout == Layout::new::<Batch>() {
                return ptr::null_mut();
            }
            // SAFETY: the caller's contract.
            let p = unsafe { System.alloc(layout) };
            book.live.push((p as usize, layout));
            p
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            let mut book = BOOKS[ID].lock();
            match book.live.iter().position(|&(p, _)| p == ptr as usize) {
                Some(i) if book.live[i].1 == layout => {
                    book.live.swap_remove(i);
                    if untracked::defer_frees() {
                        book.freed_on_deferring += 1;
                    } else {
                        book.freed_elsewhere += 1;
                    }
                    // SAFETY: served by `System` with this layout, freed once (unbooked).
                    unsafe { System.dealloc(ptr, layout) };
                }
                _ => book.bad += 1,
            }
        }
    }

    fn reset<const ID: usize>() {
        let mut book = BOOKS[ID].lock();
        assert!(book.live.is_empty(), "blocks left from an earlier test");
        book.freed_on_deferring = 0;
        book.freed_elsewhere = 0;
        book.bad = 0;
        book.fail_batches = false;
    }

    /// Allocates `n` blocks of assorted layouts from `a`.
    fn blocks<A: GlobalAlloc>(a: &A, n: usize) -> Vec<(*mut u8, Layout)> {
        (0..n)
            .map(|i| {
                let layout = Layout::from_size_align(8 + i % 300, 1 << (i % 5)).unwrap();
                // SAFETY: non-zero size.
                let p = unsafe { a.alloc(layout) };
                assert!(!p.is_null());
                (p, layout)
            })
            .collect()
    }

    /// Runs `f` on a new thread that defers its frees; `flush`es before it ends.
    fn on_deferring_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
        crate::sync::thread::scope(|s| {
            s.spawn(|| {
                defer_here();
                let r = f();
                flush();
                r
            })
            .join()
            .unwrap()
        })
    }

    /// Blocks to free on another thread.
    struct Blocks(Vec<(*mut u8, Layout)>);
    // SAFETY: the blocks are owned by the vector, which moves between threads whole.
    unsafe impl Send for Blocks {}

    /// Queues the free of every block of `all` (served by `TestAlloc::<ID>`) on a new
    /// deferring thread.
    fn defer_all<const ID: usize>(all: Blocks) {
        on_deferring_thread(move || {
            let all = all;
            for (p, l) in all.0 {
                // SAFETY: served by this allocator with this layout, given up here.
                assert!(unsafe { defer(&TestAlloc::<ID>, p, l) });
            }
        });
    }

    fn book<const ID: usize>() -> (usize, usize, usize, usize) {
        let b = BOOKS[ID].lock();
        (b.live.len(), b.freed_on_deferring, b.freed_elsewhere, b.bad)
    }

    #[test]
    fn frees_on_a_deferring_thread_are_made_by_the_next_drain_elsewhere() {
        let _serial = take_turn();
        reset::<0>();
        reset::<1>();
        let n = 1000;
        // Two allocators, interleaved: each batch is for one of them.
        let (a0, a1) = (TestAlloc::<0>, TestAlloc::<1>);
        let mut b0 = blocks(&a0, n);
        let mut b1 = blocks(&a1, n / 2);
        let mut all: Vec<(bool, *mut u8, Layout)> = Vec::new();
        // In runs of 100 (a switch of allocator starts a batch: staying under the bound).
        while !b0.is_empty() || !b1.is_empty() {
            for (p, l) in b0.drain(b0.len().saturating_sub(100)..) {
                all.push((false, p, l));
            }
            for (p, l) in b1.drain(b1.len().saturating_sub(100)..) {
                all.push((true, p, l));
            }
        }
        struct Blocks(Vec<(bool, *mut u8, Layout)>);
        // SAFETY: the blocks are owned by the vector, which moves between threads whole.
        unsafe impl Send for Blocks {}
        let all = Blocks(all);
        on_deferring_thread(move || {
            let all = all;
            for (one, p, l) in all.0 {
                // SAFETY: each block was served by that allocator with that layout and is
                // given up here.
                let queued = unsafe {
                    if one {
                        defer(&TestAlloc::<1>, p, l)
                    } else {
                        defer(&TestAlloc::<0>, p, l)
                    }
                };
                assert!(queued);
            }
        });
        // Nothing was freed on the deferring thread; the blocks and their batches are live.
        let (live0, on0, _, bad0) = book::<0>();
        let (live1, on1, _, bad1) = book::<1>();
        assert_eq!((on0, on1, bad0, bad1), (0, 0, 0, 0));
        assert!(live0 > n && live1 > n / 2, "{live0} {live1}");
        assert!(PENDING.load(Relaxed) > 0);
        // This thread does not defer: its next allocation's check drains everything.
        drain();
        release_spares();
        let (live0, on0, else0, bad0) = book::<0>();
        let (live1, on1, else1, bad1) = book::<1>();
        assert_eq!((live0, on0, bad0), (0, 0, 0));
        assert_eq!((live1, on1, bad1), (0, 0, 0));
        // Every block once, plus the batches.
        assert!(else0 > n && else1 > n / 2, "{else0} {else1}");
        assert_eq!(PENDING.load(Relaxed), 0);
    }

    #[test]
    fn a_mutators_drain_keeps_small_blocks_for_its_next_allocations() {
        let _serial = take_turn();
        reset::<2>();
        // On a thread of its own, so that the recycle cache starts empty and is freed.
        crate::sync::thread::scope(|s| {
            s.spawn(|| {
                let a = TestAlloc::<2>;
                let small = Layout::from_size_align(64, 8).unwrap();
                let large = Layout::from_size_align(recycle::MAX_SIZE + 8, 8).unwrap();
                let all = Blocks(
                    (0..100)
                        .map(|i| {
                            let l = if i % 2 == 0 { small } else { large };
                            // SAFETY: a non-zero size.
                            (unsafe { a.alloc(l) }, l)
                        })
                        .collect(),
                );
                defer_all::<2>(all);
                // A mutator's drain (as `CountingAllocator<TestAlloc<2>>::alloc` makes it):
                // the large blocks are freed, the small ones kept.
                drain_if_pending(&a);
                let (live, _, elsewhere, bad) = book::<2>();
                assert_eq!((elsewhere, bad), (50, 0));
                assert_eq!(
                    live,
                    50 + 1 + 1,
                    "50 kept blocks, the spare batch, the table"
                );
                // The next 50 allocations of the small layout are the kept blocks.
                for _ in 0..50 {
                    let p = recycle::take::<TestAlloc<2>>(small);
                    assert!(!p.is_null());
                    // SAFETY: a block of this allocator and layout, now ours.
                    unsafe { a.dealloc(p, small) };
                }
                assert!(recycle::take::<TestAlloc<2>>(small).is_null());
                recycle::release_here();
            })
            .join()
            .unwrap();
        });
        release_spares();
        let (live, _, _, bad) = book::<2>();
        assert_eq!((live, bad), (0, 0));
    }

    #[test]
    fn a_mutators_exit_frees_the_blocks_it_kept() {
        let _serial = take_turn();
        reset::<2>();
        let small = Layout::from_size_align(24, 8).unwrap();
        let all = Blocks(
            (0..10)
                // SAFETY: non-zero size.
                .map(|_| (unsafe { TestAlloc::<2>.alloc(small) }, small))
                .collect(),
        );
        defer_all::<2>(all);
        crate::sync::thread::scope(|s| {
            s.spawn(|| {
                drain_if_pending(&TestAlloc::<2>);
                let (live, _, elsewhere, _) = book::<2>();
                assert_eq!(
                    (live, elsewhere),
                    (10 + 1 + 1, 0),
                    "kept, spare batch, table"
                );
                // The thread ends without taking them back.
            })
            .join()
            .unwrap();
        });
        release_spares();
        let (live, _, elsewhere, bad) = book::<2>();
        assert_eq!(
            (live, elsewhere, bad),
            (0, 10 + 1 + 1, 0),
            "the blocks and the table at the thread's exit, the spare batch after"
        );
    }

    #[test]
    fn past_the_bound_the_publisher_drains() {
        let _serial = take_turn();
        reset::<0>();
        let a = TestAlloc::<0>;
        let n = (MAX_PENDING + 4) * BATCH_LEN;
        let all = Blocks(blocks(&a, n));
        let most = on_deferring_thread(move || {
            let all = all;
            let mut most = 0;
            for (p, l) in all.0 {
                // SAFETY: served by `a` with this layout, given up here.
                assert!(unsafe { defer(&TestAlloc::<0>, p, l) });
                most = most.max(PENDING.load(Relaxed));
            }
            most
        });
        assert!(most <= MAX_PENDING + 1, "{most} batches pending");
        let (_, on, _, bad) = book::<0>();
        // The publisher drained the first MAX_PENDING + 1 batches itself.
        assert_eq!(bad, 0);
        assert!(on >= MAX_PENDING * BATCH_LEN, "{on} frees on the publisher");
        drain();
        release_spares();
        let (live, _, _, bad) = book::<0>();
        assert_eq!((live, bad), (0, 0));
    }

    #[test]
    fn large_blocks_bound_the_bytes_pending() {
        let _serial = take_turn();
        reset::<1>();
        let a = TestAlloc::<1>;
        // 64 KiB blocks: four fill a batch's bytes; 40 batches' worth pass the byte bound.
        let l = Layout::from_size_align(64 << 10, 8).unwrap();
        let n = 4 * 40;
        // SAFETY: non-zero sizes.
        let all: Vec<usize> = (0..n).map(|_| unsafe { a.alloc(l) } as usize).collect();
        let big = Layout::from_size_align(BATCH_BYTES, 8).unwrap();
        // SAFETY: as above.
        let huge = unsafe { a.alloc(big) } as usize;
        let (most, huge_queued) = on_deferring_thread(move || {
            let mut most = 0;
            for p in all {
                // SAFETY: served by `a` with this layout, given up here.
                assert!(unsafe { defer(&TestAlloc::<1>, p as *mut u8, l) });
                most = most.max(PENDING_BYTES.load(Relaxed));
            }
            // SAFETY: served by `a` with this layout; given up only if queued.
            let queued = unsafe { defer(&TestAlloc::<1>, huge as *mut u8, big) };
            if !queued {
                // SAFETY: not queued: still ours.
                unsafe { TestAlloc::<1>.dealloc(huge as *mut u8, big) };
            }
            (most, queued)
        });
        assert!(!huge_queued, "a block of BATCH_BYTES was queued");
        assert!(
            most <= MAX_PENDING_BYTES + BATCH_BYTES,
            "{} KiB pending",
            most >> 10
        );
        let (_, on, _, bad) = book::<1>();
        assert_eq!(bad, 0);
        assert!(on > n / 2, "{on} frees on the publisher");
        drain();
        release_spares();
        let (live, _, _, bad) = book::<1>();
        assert_eq!((live, bad), (0, 0));
        assert_eq!(PENDING_BYTES.load(Relaxed), 0);
    }

    #[test]
    fn without_a_batch_the_free_is_made_at_once() {
        let _serial = take_turn();
        reset::<2>();
        let a = TestAlloc::<2>;
        let (p, l) = blocks(&a, 1)[0];
        BOOKS[2].lock().fail_batches = true;
        let p = p as usize;
        let queued = on_deferring_thread(move || {
            // SAFETY: served by `a` with this layout; given up only if queued.
            unsafe { defer(&TestAlloc::<2>, p as *mut u8, l) }
        });
        assert!(!queued);
        assert_eq!(PENDING.load(Relaxed), 0);
        // SAFETY: not queued: still ours to free.
        unsafe { a.dealloc(p as *mut u8, l) };
        let (live, _, _, bad) = book::<2>();
        assert_eq!((live, bad), (0, 0));
    }

    /// Blocks of `Batch`'s layout that allocator `ID` served and nobody freed yet.
    fn live_batches<const ID: usize>() -> usize {
        let b = BOOKS[ID].lock();
        b.live
            .iter()
            .filter(|(_, l)| *l == Layout::new::<Batch>())
            .count()
    }

    #[test]
    fn drained_batches_are_reused_not_freed_and_allocated_again() {
        let _serial = take_turn();
        reset::<0>();
        // Three rounds of one full batch each: queued on a deferring thread, drained here.
        for round in 0..3 {
            let all = Blocks(blocks(&TestAlloc::<0>, BATCH_LEN));
            defer_all::<0>(all);
            drain();
            // The one batch there ever was is kept as a spare: the deferring thread never
            // allocated another, and the draining thread never freed it.
            assert_eq!(live_batches::<0>(), 1, "round {round}");
        }
        release_spares();
        let (live, _, _, bad) = book::<0>();
        assert_eq!((live, bad), (0, 0));
    }

    #[test]
    fn only_deferring_threads_and_stateless_allocators_defer() {
        let _serial = SERIAL.lock();
        /// An allocator with state: its frees are never queued.
        struct Stateful(#[allow(dead_code)] u8);
        // SAFETY: forwards to `System`.
        unsafe impl GlobalAlloc for Stateful {
            unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
                // SAFETY: the caller's contract.
                unsafe { System.alloc(layout) }
            }
            unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
                // SAFETY: the caller's contract.
                unsafe { System.dealloc(ptr, layout) }
            }
        }
        let l = Layout::new::<u64>();
        let a = Stateful(7);
        let queued = on_deferring_thread(|| {
            // SAFETY: a fresh block, given up only if queued.
            unsafe {
                let p = a.alloc(l);
                let queued = defer(&a, p, l);
                if !queued {
                    a.dealloc(p, l);
                }
                queued
            }
        });
        assert!(!queued);
        // This thread does not defer.
        // SAFETY: as above.
        unsafe {
            let p = System.alloc(l);
            assert!(!defer(&System, p, l));
            System.dealloc(p, l);
        }
    }
}
