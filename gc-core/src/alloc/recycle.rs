//! The recycle cache: small blocks that the collector's background threads freed through
//! `crate::CountingAllocator` (queued by `alloc/remote_free.rs`), kept by the mutator thread
//! whose drain took them (and those a mutator frees itself while it sweeps), for its next
//! allocations of the same layout, instead of being freed into the wrapped allocator.
//!
//! Why: a sweep's frees reach the mutator in bursts (thousands of blocks per cycle in an
//! interpreter with a small heap). With glibc, all but seven per size miss the thread's
//! tcache and go through `_int_free`'s fastbin compare-and-swap or its arena lock (locked
//! instructions, since the process has threads), only to be taken out again by the
//! thread's next `malloc`s of the same sizes. In an interpreter whose objects own small
//! `Vec`s and maps, those frees and mallocs were a fifth of the evaluating thread's time
//! (`examples/interp`, instantiation.lox). A kept block goes back out with a thread-local
//! pop.
//!
//! What: per thread, [`BINS`] bins by size (steps of [`GRANULE`] bytes up to [`MAX_SIZE`]),
//! each a list of blocks of one exact layout (the layout of the first block put in the bin
//! while it is empty), linked through the blocks' first words (so a block has at least a
//! word: smaller ones are freed as before, as are blocks of another layout than their
//! bin's). A block is handed out only for its exact layout and only by a
//! `CountingAllocator` over the same zero-sized allocator type (compared by `TypeId`), so
//! its later `dealloc` or `realloc` reaches the wrapped allocator with the layout it was
//! allocated with (`GlobalAlloc`'s contract). A bin whose blocks are not asked for while
//! another layout of its sizes is ([`STALE_AFTER`] such requests) gives way to that layout.
//!
//! Bounds: at most [`MAX_KEPT`] bytes of blocks per thread and about [`MAX_KEPT_ALL`] in
//! all threads together (past them, blocks are freed as before), plus a table of about
//! 1 KiB per thread that ever kept one (allocated from the wrapped allocator). The sum is
//! kept loosely: each table adds what it gained or lost to [`KEPT_ALL`] at the start and
//! end of each drain and after each span its thread sweeps, and takes its limit from there,
//! so threads that drain at once may pass it by what each may keep until its next drain,
//! and the sum reads high after a thread's allocations took blocks out. The blocks count as
//! freed in `mem_stats()` from their queueing until they are handed out again. The thread's
//! exit frees its blocks and its table (glibc targets only, where the exit hook is
//! registered without allocating through the global allocator; elsewhere nothing is kept),
//! and so does [`release_here`] (`free_os_memory`).
//!
//! Shared state: [`KEPT_ALL`], a std atomic untracked by loom (`sync::untracked`, like the
//! allocator layer's other counts), Relaxed: a bound's estimate that orders nothing. A
//! table is its thread's alone (a thread-local pointer), touched only by that thread's
//! allocations, drains and sweeps. See the allocator overview
//! (`crate::design::allocator`). Tests: `recycle_tests.rs`.

use super::remote_free::{free_with, FreeFn};
use crate::sync::untracked::AtomicUsize;
use crate::sync::Ordering::Relaxed;
use std::alloc::{GlobalAlloc, Layout};
use std::any::TypeId;
use std::ptr;

/// The size step between bins.
const GRANULE: usize = 8;
/// Bins (a block of `size` bytes goes to bin `(size - 1) / GRANULE`).
const BINS: usize = 32;
/// The largest alignment kept.
const MAX_ALIGN: usize = 16;
/// The largest block kept (the smallest is a word).
pub(crate) const MAX_SIZE: usize = GRANULE * BINS;
/// Bytes of blocks a thread keeps at most (about what a cycle of an interpreter's small
/// heap frees: the drains come in bursts, after each sweep).
const MAX_KEPT: usize = 2 << 20;
/// Bytes of blocks all threads keep at most (as of each thread's last drain or sweep), so
/// that a program with many threads does not keep `MAX_KEPT` in each.
const MAX_KEPT_ALL: usize = 4 << 20;
/// Requests for another layout of a bin's sizes, none served from it, after which its
/// blocks are stale: a block of that other layout replaces them.
const STALE_AFTER: usize = 64;

/// The bytes the threads' tables hold, as each last published them (`Keeper::publish`).
static KEPT_ALL: AtomicUsize = AtomicUsize::new(0);

/// One size's blocks: a list through their first words, all of layout (`size`, `align`).
struct Bin {
    size: usize,
    align: usize,
    /// The first block (null: empty); each block's first word is the next one's address.
    head: *mut u8,
    /// Requests for another layout of this bin's sizes since one was served from it.
    misses: usize,
}

/// A thread's bins, and the allocator its blocks belong to.
struct Table {
    /// The allocator type that served every block here (and the table). A type, not the
    /// address of its free: one generic function may have several addresses in a program.
    ty: TypeId,
    /// That type's free.
    free: FreeFn,
    /// The address of an instance of it (zero-sized: any aligned address is one).
    alloc: *const (),
    /// Bytes of the blocks in the bins.
    kept: usize,
    /// `kept` as last added to [`KEPT_ALL`].
    published: usize,
    /// The most `kept` may reach until the next publication: [`MAX_KEPT`], or less while
    /// the threads together keep nearly [`MAX_KEPT_ALL`].
    limit: usize,
    bins: [Bin; BINS],
}

/// The bin for `layout`, if blocks of it are kept.
#[inline(always)]
fn bin_of(layout: Layout) -> Option<usize> {
    let size = layout.size();
    if size < size_of::<usize>() || size > MAX_SIZE || layout.align() > MAX_ALIGN {
        return None;
    }
    Some((size - 1) / GRANULE)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod local {
    use super::Table;
    use std::cell::Cell;

    /// The thread's table (null: none yet); its blocks are freed when the thread exits.
    pub(super) struct Holder(pub(super) Cell<*mut Table>);

    impl Drop for Holder {
        fn drop(&mut self) {
            let t = self.0.replace(std::ptr::null_mut());
            // SAFETY: the table is this thread's, and nothing reaches it from now on (the
            // pointer is cleared, and the thread-local is gone for later accesses).
            unsafe { super::release(t) };
        }
    }

    std::thread_local! {
        pub(super) static TABLE: Holder = const { Holder(Cell::new(std::ptr::null_mut())) };
    }

    /// Runs `f` on this thread's table pointer; `None` once the thread-local is destroyed.
    #[inline(always)]
    pub(super) fn with<R>(f: impl FnOnce(&Cell<*mut Table>) -> R) -> Option<R> {
        TABLE.try_with(|h| f(&h.0)).ok()
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod local {
    use super::Table;
    use std::cell::Cell;

    /// No cache on targets whose thread-exit hook could allocate through the global
    /// allocator.
    #[inline(always)]
    pub(super) fn with<R>(_: impl FnOnce(&Cell<*mut Table>) -> R) -> Option<R> {
        None
    }
}

/// A kept block of exactly `layout`, served by `A` (the allocator `CountingAllocator<A>`
/// wraps), now owned by the caller; null if there is none.
#[inline(always)]
pub(crate) fn take<A: GlobalAlloc + 'static>(layout: Layout) -> *mut u8 {
    let Some(i) = bin_of(layout) else {
        return ptr::null_mut();
    };
    local::with(|cell| {
        let t = cell.get();
        if t.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: the table is this thread's alone, and this borrow calls nothing.
        let t = unsafe { &mut *t };
        let b = &mut t.bins[i];
        if b.head.is_null() || t.ty != TypeId::of::<A>() {
            return ptr::null_mut();
        }
        if b.size != layout.size() || b.align != layout.align() {
            b.misses += 1;
            return ptr::null_mut();
        }
        b.misses = 0;
        let p = b.head;
        // SAFETY: a kept block's first word holds the next one's address (written by
        // `Keeper::keep`, unaligned; every kept block has room for it).
        b.head = unsafe { p.cast::<*mut u8>().read_unaligned() };
        t.kept -= layout.size();
        p
    })
    .unwrap_or(ptr::null_mut())
}

/// This thread's table, open for one drain's blocks ([`with_keeper`]).
pub(crate) struct Keeper {
    t: *mut Table,
}

impl Keeper {
    /// Keeps `ptr` (of `layout`) for this thread's next allocations of that layout; false
    /// if it is not kept (the caller frees it).
    ///
    /// # Safety
    ///
    /// The block was served with `layout` by the allocator type the keeper was opened for
    /// (its `dealloc` contract holds for `ptr` and `layout`), and the caller gives `ptr` up
    /// if this returns true.
    #[inline]
    pub(crate) unsafe fn keep(&mut self, ptr: *mut u8, layout: Layout) -> bool {
        let Some(i) = bin_of(layout) else {
            return false;
        };
        let stale = {
            // SAFETY: the keeper's table is this thread's alone, and this borrow ends
            // before anything is called (a free may reenter the global allocator).
            let t = unsafe { &mut *self.t };
            if t.kept + layout.size() > t.limit {
                return false;
            }
            let (free, alloc) = (t.free, t.alloc);
            let b = &mut t.bins[i];
            let mut stale = None;
            if !b.head.is_null() && (b.size != layout.size() || b.align != layout.align()) {
                if b.misses < STALE_AFTER {
                    return false;
                }
                let list = take_list(b);
                t.kept -= list.bytes;
                stale = Some((list, free, alloc));
            }
            let b = &mut t.bins[i];
            if b.head.is_null() {
                (b.size, b.align, b.misses) = (layout.size(), layout.align(), 0);
            }
            // SAFETY: the caller gives the block up, and it has room for a word (`bin_of`);
            // unaligned, since the layout may ask for less than a word's alignment.
            unsafe { ptr.cast::<*mut u8>().write_unaligned(b.head) };
            b.head = ptr;
            t.kept += layout.size();
            stale
        };
        if let Some((list, free, alloc)) = stale {
            // SAFETY: the stale bin's blocks, of its layout, served by `free`'s allocator,
            // taken out of the table.
            unsafe { free_list(list, free, alloc) };
        }
        true
    }
}

impl Keeper {
    /// Adds what this thread's table gained or lost since its last publication to
    /// [`KEPT_ALL`] and sets how much it may keep until the next: a drain calls it before
    /// and after its blocks (two atomic additions per drain, none per block).
    pub(crate) fn publish(&mut self) {
        // SAFETY: the keeper's table is this thread's alone; this borrow calls nothing.
        let t = unsafe { &mut *self.t };
        let all = if t.kept >= t.published {
            let d = t.kept - t.published;
            KEPT_ALL.fetch_add(d, Relaxed) + d
        } else {
            let d = t.published - t.kept;
            KEPT_ALL.fetch_sub(d, Relaxed) - d
        };
        t.published = t.kept;
        t.limit = MAX_KEPT.min(t.kept + MAX_KEPT_ALL.saturating_sub(all));
    }
}

/// Runs `f` with a [`Keeper`] on this thread's table for blocks `inner`'s type served
/// (made now if the thread has none), or with `None` where nothing is kept: on the
/// collector's deferring threads (they do not allocate what they free), for an allocator
/// of non-zero size (the table frees its blocks later through an address of an `A`, valid
/// whenever only for a zero-sized `A`), once the thread's table belongs to another
/// allocator type or is destroyed, or off glibc targets.
pub(crate) fn with_keeper<A: GlobalAlloc + 'static, R>(
    inner: &A,
    f: impl FnOnce(Option<&mut Keeper>) -> R,
) -> R {
    let t = if size_of::<A>() != 0 || crate::sync::untracked::defer_frees() {
        None
    } else {
        local::with(|cell| {
            let mut t = cell.get();
            if t.is_null() {
                t = new_table(inner);
                cell.set(t);
                if !t.is_null() {
                    // Its first limit.
                    Keeper { t }.publish();
                }
            }
            t
        })
        // SAFETY: a non-null table pointer is this thread's table, read only here.
        .filter(|&t| !t.is_null() && unsafe { (*t).ty } == TypeId::of::<A>())
    };
    match t {
        Some(t) => f(Some(&mut Keeper { t })),
        None => f(None),
    }
}

/// A new, empty table from `inner` (null if it has no memory).
fn new_table<A: GlobalAlloc + 'static>(inner: &A) -> *mut Table {
    // SAFETY: a valid layout of non-zero size.
    let t = unsafe { inner.alloc(Layout::new::<Table>()) }.cast::<Table>();
    if t.is_null() {
        return t;
    }
    let free: FreeFn = free_with::<A>;
    let alloc = (inner as *const A).cast::<()>();
    // SAFETY: fresh memory of the table's layout, written field by field.
    unsafe {
        ptr::addr_of_mut!((*t).ty).write(TypeId::of::<A>());
        ptr::addr_of_mut!((*t).free).write(free);
        ptr::addr_of_mut!((*t).alloc).write(alloc);
        ptr::addr_of_mut!((*t).kept).write(0);
        ptr::addr_of_mut!((*t).published).write(0);
        ptr::addr_of_mut!((*t).limit).write(0);
        for i in 0..BINS {
            let b = ptr::addr_of_mut!((*t).bins[i]);
            ptr::addr_of_mut!((*b).size).write(0);
            ptr::addr_of_mut!((*b).align).write(0);
            ptr::addr_of_mut!((*b).head).write(ptr::null_mut());
            ptr::addr_of_mut!((*b).misses).write(0);
        }
    }
    t
}

/// A bin's blocks, taken out of it.
struct List {
    head: *mut u8,
    size: usize,
    align: usize,
    bytes: usize,
}

/// Empties `b`, returning its blocks.
fn take_list(b: &mut Bin) -> List {
    let head = std::mem::replace(&mut b.head, ptr::null_mut());
    let mut bytes = 0;
    let mut p = head;
    while !p.is_null() {
        bytes += b.size;
        // SAFETY: a kept block: its first word is the next one's address.
        p = unsafe { p.cast::<*mut u8>().read_unaligned() };
    }
    List {
        head,
        size: b.size,
        align: b.align,
        bytes,
    }
}

/// Frees the blocks of `list`.
///
/// # Safety
///
/// The blocks were served with the list's layout by the allocator of `free` at `alloc`,
/// and the caller gives them up.
unsafe fn free_list(list: List, free: FreeFn, alloc: *const ()) {
    let mut p = list.head;
    while !p.is_null() {
        // SAFETY: a kept block: its first word is the next one's address (read before the
        // block is freed); a non-empty list's layout is that of a block that was
        // allocated; the free is the caller's contract.
        unsafe {
            let next = p.cast::<*mut u8>().read_unaligned();
            free(
                alloc,
                p,
                Layout::from_size_align_unchecked(list.size, list.align),
            );
            p = next;
        }
    }
}

/// Frees every block of table `t` and the table itself (nothing if null).
///
/// # Safety
///
/// `t` is null or a table from [`new_table`] that the caller owns and gives up.
unsafe fn release(t: *mut Table) {
    if t.is_null() {
        return;
    }
    // SAFETY: the caller's table, reached by nothing else; its blocks and itself were
    // served by its allocator with these layouts (the blocks' kept in their bins).
    unsafe {
        KEPT_ALL.fetch_sub((*t).published, Relaxed);
        let (free, alloc) = ((*t).free, (*t).alloc);
        for i in 0..BINS {
            let list = take_list(&mut (*t).bins[i]);
            free_list(list, free, alloc);
        }
        free(alloc, t.cast(), Layout::new::<Table>());
    }
}

/// Publishes the calling thread's kept bytes to the threads' sum if they changed (after
/// its own sweep of a span: one thread-local read when nothing changed).
pub(crate) fn publish_here() {
    local::with(|cell| {
        let t = cell.get();
        // SAFETY: a non-null table pointer is this thread's table, read only here.
        if !t.is_null() && unsafe { (*t).kept != (*t).published } {
            Keeper { t }.publish();
        }
    });
}

/// Bytes the threads' recycle caches keep, as of each one's last drain or sweep (`/gc-core/
/// external/kept:bytes`).
pub(crate) fn kept_all() -> u64 {
    KEPT_ALL.load(Relaxed) as u64
}

/// Frees the calling thread's kept blocks and its table (`free_os_memory`; the next drain
/// starts a new one).
pub(crate) fn release_here() {
    if let Some(t) = local::with(|cell| cell.replace(ptr::null_mut())) {
        // SAFETY: taken out of the thread's cell, so the caller now owns it alone.
        unsafe { release(t) };
    }
}

#[cfg(all(test, not(gc_loom), target_os = "linux", target_env = "gnu"))]
#[path = "recycle_tests.rs"]
pub(crate) mod tests;
