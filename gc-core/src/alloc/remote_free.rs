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
#[path = "remote_free_tests.rs"]
mod tests;
