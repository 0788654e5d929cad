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
//! (`crate::design::allocator`).

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
pub(crate) mod tests {
    use super::*;
    use std::alloc::System;

    /// Blocks kept on this thread, by bin, and their bytes.
    fn kept() -> ([usize; BINS], usize) {
        local::with(|cell| {
            let t = cell.get();
            let mut n = [0; BINS];
            if t.is_null() {
                return (n, 0);
            }
            // SAFETY: this thread's table, read only; its lists are well formed.
            let t = unsafe { &*t };
            for (i, b) in t.bins.iter().enumerate() {
                let mut p = b.head;
                while !p.is_null() {
                    n[i] += 1;
                    // SAFETY: as above.
                    p = unsafe { p.cast::<*mut u8>().read_unaligned() };
                }
            }
            (n, t.kept)
        })
        .unwrap()
    }

    /// Offers one block to this thread's table, as a drain does.
    ///
    /// # Safety
    ///
    /// As [`Keeper::keep`], for an `A`.
    unsafe fn put<A: GlobalAlloc + 'static>(inner: &A, ptr: *mut u8, layout: Layout) -> bool {
        // SAFETY: forwarded.
        with_keeper(inner, |k| k.is_some_and(|k| unsafe { k.keep(ptr, layout) }))
    }

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    /// Tests that keep blocks take turns: [`KEPT_ALL`] is shared, and one test fills it.
    static SERIAL: crate::sync::Mutex<()> = crate::sync::Mutex::new(());

    pub(crate) fn take_turn() -> crate::sync::MutexGuard<'static, ()> {
        SERIAL.lock()
    }

    /// Runs `f` on a thread of its own (a fresh table), releasing what it kept after.
    fn on_own_thread(f: impl FnOnce() + Send + 'static) {
        let _turn = take_turn();
        std::thread::spawn(move || {
            f();
            release_here();
            assert_eq!(kept().1, 0);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_kept_block_comes_back_only_for_its_exact_layout() {
        on_own_thread(|| {
            let (l48, l44) = (layout(48, 8), layout(44, 4));
            // SAFETY: valid layouts; each block is given up to `put` or freed.
            unsafe {
                let p = System.alloc(l48);
                assert!(put(&System, p, l48));
                assert_eq!(
                    kept(),
                    (
                        {
                            let mut n = [0; BINS];
                            n[5] = 1;
                            n
                        },
                        48
                    )
                );
                // Same bin, other layout: neither kept nor handed out.
                assert!(take::<System>(l44).is_null());
                let q = System.alloc(l44);
                assert!(!put(&System, q, l44));
                System.dealloc(q, l44);
                // Too small, too large, or too aligned: never kept.
                for l in [layout(4, 4), layout(MAX_SIZE + 1, 8), layout(64, 64)] {
                    let r = System.alloc(l);
                    assert!(!put(&System, r, l));
                    System.dealloc(r, l);
                }
                // The exact layout gets the block back, once.
                assert_eq!(take::<System>(l48), p);
                assert!(take::<System>(l48).is_null());
                assert_eq!(kept().1, 0);
                System.dealloc(p, l48);
            }
        });
    }

    #[test]
    fn blocks_come_back_last_in_first_out_and_unaligned_ones_too() {
        on_own_thread(|| {
            // Align 1: the link is written unaligned where the block allows no better.
            let l = layout(13, 1);
            // SAFETY: valid layout; every block is given up to `put` and taken back.
            unsafe {
                let blocks: Vec<*mut u8> = (0..100).map(|_| System.alloc(l)).collect();
                for &p in &blocks {
                    assert!(put(&System, p, l));
                }
                assert_eq!(kept().1, 1300);
                for &p in blocks.iter().rev() {
                    assert_eq!(take::<System>(l), p);
                    System.dealloc(p, l);
                }
                assert!(take::<System>(l).is_null());
            }
        });
    }

    #[test]
    fn a_thread_keeps_at_most_max_kept_bytes() {
        on_own_thread(|| {
            let l = layout(MAX_SIZE, 8);
            let fits = MAX_KEPT / MAX_SIZE;
            // SAFETY: valid layout; each block is given up to `put` or freed.
            unsafe {
                for n in 0..fits + 3 {
                    let p = System.alloc(l);
                    let kept_it = put(&System, p, l);
                    assert_eq!(kept_it, n < fits, "block {n}");
                    if !kept_it {
                        System.dealloc(p, l);
                    }
                }
            }
            assert_eq!(kept().1, fits * MAX_SIZE);
        });
    }

    #[test]
    fn threads_together_keep_about_max_kept_all_bytes() {
        use std::sync::{mpsc, Barrier};
        let turn = take_turn();
        let l = layout(MAX_SIZE, 8);
        let per_thread = MAX_KEPT / MAX_SIZE;
        assert_eq!(
            MAX_KEPT_ALL,
            2 * MAX_KEPT,
            "two full threads fill the bound"
        );
        let done = std::sync::Arc::new(Barrier::new(3));
        let (tx, rx) = mpsc::channel();
        // Two threads keep `MAX_KEPT` each, publish, and hold on until the third checked.
        let holders: Vec<_> = (0..2)
            .map(|_| {
                let (done, tx) = (done.clone(), tx.clone());
                std::thread::spawn(move || {
                    // SAFETY: valid layout; each block is given up to the table.
                    unsafe {
                        for _ in 0..per_thread {
                            assert!(put(&System, System.alloc(l), l));
                        }
                    }
                    with_keeper(&System, |k| k.unwrap().publish());
                    tx.send(()).unwrap();
                    done.wait();
                    release_here();
                })
            })
            .collect();
        rx.recv().unwrap();
        rx.recv().unwrap();
        std::thread::spawn(move || {
            // `MAX_KEPT_ALL` is published already: a new table may keep nothing.
            // SAFETY: valid layout; the block is freed when not kept.
            unsafe {
                let p = System.alloc(l);
                assert!(!put(&System, p, l), "kept past the threads' bound");
                System.dealloc(p, l);
            }
            release_here();
        })
        .join()
        .unwrap();
        done.wait();
        for h in holders {
            h.join().unwrap();
        }
        drop(turn);
    }

    #[test]
    fn a_stale_bin_gives_way_to_the_layout_asked_for() {
        on_own_thread(|| {
            let (old, new) = (layout(40, 8), layout(36, 4));
            // SAFETY: valid layouts; each block is given up to `put` or freed.
            unsafe {
                let p = System.alloc(old);
                assert!(put(&System, p, old));
                for _ in 0..STALE_AFTER {
                    assert!(take::<System>(new).is_null());
                }
                // The old block is freed, the bin now keeps the new layout.
                let q = System.alloc(new);
                assert!(put(&System, q, new));
                assert_eq!(kept().1, 36);
                assert_eq!(take::<System>(new), q);
                System.dealloc(q, new);
            }
        });
    }

    #[test]
    fn blocks_of_another_allocator_type_are_not_mixed_in() {
        /// Frees through `Other`, so that its code differs from `System`'s.
        static OTHER_FREES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        /// A zero-sized allocator of its own type (System underneath).
        struct Other;
        // SAFETY: forwards to System.
        unsafe impl GlobalAlloc for Other {
            unsafe fn alloc(&self, l: Layout) -> *mut u8 {
                // SAFETY: forwarded.
                unsafe { System.alloc(l) }
            }
            unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
                OTHER_FREES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // SAFETY: forwarded.
                unsafe { System.dealloc(p, l) }
            }
        }
        on_own_thread(|| {
            let l = layout(32, 8);
            // SAFETY: valid layout; each block is given up to `put` or freed.
            unsafe {
                let p = System.alloc(l);
                assert!(put(&System, p, l));
                // The table is System's: Other's blocks are not kept, nor is System's
                // block handed to Other.
                let q = Other.alloc(l);
                assert!(!put(&Other, q, l));
                Other.dealloc(q, l);
                assert!(take::<Other>(l).is_null());
                assert_eq!(take::<System>(l), p);
                System.dealloc(p, l);
            }
        });
    }
}
