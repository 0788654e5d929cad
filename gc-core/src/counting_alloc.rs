//! `CountingAllocator`: an opt-in global allocator that lets the pacer see the memory heap
//! objects own outside the heap (DESIGN.md, "Drop, finalization and other memory").
//!
//! A `Gc<String>` is 24 bytes in the collected heap; its buffer is in `malloc`. Without
//! help the pacer sees only the 24 bytes, so a program that churns `Gc<String>`s of 50 KB
//! can grow to gigabytes before its first cycle. Installed as the global allocator, this
//! wrapper counts every byte allocated and freed through it (`alloc/external.rs`); the
//! pacer adds those bytes to the live heap when it decides when to start a cycle, and the
//! ones that survive a cycle to the base of the next goal, as if they were in the heap.
//! Go needs nothing of the kind: every byte it allocates is in its heap.
//!
//! It counts, it does not serve: the bytes still come from the wrapped allocator (the
//! system's by default), so it composes with mimalloc or jemalloc. On the collector's
//! background threads, it queues frees for the mutators' next allocations instead of
//! making them (`alloc/remote_free.rs`). No shared state of its own; the counts and the
//! queue are the allocator layer's.

use crate::alloc::{external, recycle, remote_free};
use std::alloc::{GlobalAlloc, Layout, System};

/// A global allocator that counts what it allocates, so that the collector paces external
/// memory (the buffers of `String`s, `Vec`s, `Box`es and maps inside `Gc` objects, and
/// everything else the process allocates) as if it were in the heap.
///
/// ```
/// #[global_allocator]
/// static ALLOC: gc_core::CountingAllocator = gc_core::CountingAllocator::system();
///
/// // 200 strings of 1 MiB, one alive at a time: cycles run, and memory stays bounded,
/// // because the pacer sees the 1 MiB buffers and not only 24-byte `Gc<String>` objects.
/// let mut keep = gc_core::Gc::new(String::new());
/// for i in 0..200 {
///     keep = gc_core::Gc::new("x".repeat(1 << 20) + &i.to_string());
/// }
/// assert!(keep.ends_with("199"));
/// let stats = gc_core::mem_stats();
/// assert!(stats.num_gc > 0);
/// assert!(stats.external_total_alloc >= 200 << 20);
/// ```
///
/// It also keeps the collector's background threads (the sweeper and the GC controller,
/// which drop dead objects, and the dropper threads, which run their `Drop`s) out of the
/// mutators' way in the wrapped allocator: the frees they make through it are queued and
/// made in batches by mutator threads, on their next allocation through a
/// `CountingAllocator`, on the threads whose `malloc` served the blocks (with glibc, the
/// sweeper's `free` and a mutator's `malloc` would otherwise fight over one arena lock).
/// So memory freed by garbage returns to the wrapped allocator only on a mutator's next
/// allocation (at most about 10,000 frees or 8 MiB wait; `mem_stats()` counts the bytes as
/// freed at once), and blocks of 8 to 256 bytes not even then: the mutator keeps them, as
/// it keeps those its own sweeping frees (up to 2 MiB per thread and about 4 MiB in all, on
/// glibc targets), and serves its next allocations of the same layout with them, which
/// saves the wrapped allocator's free and malloc of each (with glibc, two locked
/// instructions per block). This applies to a zero-sized wrapped allocator (`System`,
/// mimalloc's, jemalloc's); one with state is freed into where the drop runs. Without
/// `CountingAllocator` every free happens on the thread that drops: one more reason to
/// install it.
///
/// Cost: thread-local additions for every allocation and free, and one atomic addition on a
/// per-thread cache line per 32 KiB counted (glibc targets; elsewhere one per allocation and
/// free), plus one load for pending frees and one thread-local read for kept blocks per
/// allocation, and one thread-local read per free. A thread's last unadded counts are added
/// when it exits. Every allocation counts, including memory no heap object owns (a large
/// `Vec` on the stack raises the goal as a large live heap would): in Go's terms, the whole
/// process is the heap.
pub struct CountingAllocator<A = System> {
    inner: A,
}

impl CountingAllocator<System> {
    /// Counts what the system allocator serves.
    ///
    /// # Examples
    ///
    /// ```
    /// #[global_allocator]
    /// static ALLOC: gc_core::CountingAllocator = gc_core::CountingAllocator::system();
    ///
    /// let before = gc_core::mem_stats().external_total_alloc;
    /// let buf = vec![0u8; 1 << 20];
    /// assert!(gc_core::mem_stats().external_total_alloc >= before + (1 << 20));
    /// # drop(buf);
    /// ```
    pub const fn system() -> CountingAllocator<System> {
        CountingAllocator { inner: System }
    }
}

impl<A> CountingAllocator<A> {
    /// Counts what `inner` serves (a `mimalloc::MiMalloc`, say).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::alloc::System;
    ///
    /// // Any allocator can be wrapped: mimalloc's `MiMalloc`, jemalloc's, or the system's.
    /// #[global_allocator]
    /// static ALLOC: gc_core::CountingAllocator<System> = gc_core::CountingAllocator::new(System);
    ///
    /// let before = gc_core::mem_stats().external_total_alloc;
    /// let s = "counted ".repeat(8000);
    /// // A thread's counts reach the totals in steps of 32 KiB (and when it exits).
    /// assert!(gc_core::mem_stats().external_total_alloc >= before + 64000 - (32 << 10));
    /// # drop(s);
    /// ```
    pub const fn new(inner: A) -> CountingAllocator<A> {
        CountingAllocator { inner }
    }
}

// SAFETY: every method forwards to the wrapped allocator with the caller's arguments and
// returns its result unchanged (so `GlobalAlloc`'s contract holds as it does for `inner`),
// except that a free on one of the collector's background threads is made later, by
// `inner`, with the same arguments (`remote_free`: the block stays allocated until then,
// which the contract allows), or, if small, kept by the mutator that drains it (or frees it
// while sweeping) and handed out by its next `alloc` of exactly that layout, over the same
// allocator type (`recycle`: the block was allocated by `inner`'s type with that layout, so
// the caller's later `dealloc` or `realloc` with it is `inner`'s contract again); the
// counting and the keeping touch only atomics and thread-locals (two with a destructor,
// registered on glibc through `__cxa_thread_atexit_impl`, which does not allocate through
// the global allocator), never allocate through the global allocator and never unwind.
unsafe impl<A: GlobalAlloc + 'static> GlobalAlloc for CountingAllocator<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        remote_free::drain_if_pending(&self.inner);
        let mut p = recycle::take::<A>(layout);
        if p.is_null() {
            // SAFETY: forwarded from the caller's contract.
            p = unsafe { self.inner.alloc(layout) };
        }
        if !p.is_null() {
            external::note_alloc(layout.size());
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        remote_free::drain_if_pending(&self.inner);
        // SAFETY: forwarded from the caller's contract.
        let p = unsafe { self.inner.alloc_zeroed(layout) };
        if !p.is_null() {
            external::note_alloc(layout.size());
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // On the collector's background threads the free is queued for a mutator's next
        // allocation (`alloc/remote_free.rs`); on a mutator sweeping, a small block of
        // garbage is kept for its next allocations (`alloc/recycle.rs`), as its drains
        // keep the background threads' frees. The bytes count as freed from now on.
        // SAFETY: forwarded from the caller's contract, which gives up `ptr`.
        let kept = unsafe {
            remote_free::defer(&self.inner, ptr, layout)
                || (external::dropping_garbage()
                    && recycle::with_keeper(&self.inner, |k| {
                        k.is_some_and(|k| k.keep(ptr, layout))
                    }))
        };
        if !kept {
            // SAFETY: forwarded from the caller's contract.
            unsafe { self.inner.dealloc(ptr, layout) };
        }
        external::note_free(layout.size());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        remote_free::drain_if_pending(&self.inner);
        // SAFETY: forwarded from the caller's contract.
        let p = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            let old = layout.size();
            if new_size >= old {
                external::note_alloc(new_size - old);
            } else {
                external::note_free(old - new_size);
            }
        }
        p
    }
}
