//! How a `GcCell` borrow that cannot take its lock waits, and how a release wakes it (a
//! child of `cell_lock.rs`, whose header has the lock's states).
//!
//! A thread that cannot take the lock spins briefly, then announces itself in a
//! global count (`WAITING`, one per bucket of lock addresses, each on its own cache line)
//! and parks on the word's address (`sync::park`), checking under the park queue's lock
//! that the lock is still taken. A release reads its bucket's count after it unlocks and,
//! if it is not zero, wakes every thread parked on the word. So the word holds no parked
//! bit, and a write lock is released with a plain store: one locked instruction per write
//! guard instead of two. The store-then-read of the release against the waiter's
//! count-then-read of the word is a store-buffering pair: the releaser pays a compiler
//! fence (`sync::light_fence`), the waiter, about to sleep anyway, a `membarrier` system
//! call (`sync::heavy_fence`; `SeqCst` fences on both sides where it is unavailable). A
//! read release (still a read-modify-write: readers share the count) pairs the same way,
//! and so does the owner's release of its last counted read.
//!
//! Shared state: the `WAITING` counts, changed only by waiters' read-modify-writes.

use super::{CellLock, COLLECTOR, READERS, WRITER};
use crate::sync::{
    heavy_fence, init_fences, light_fence, park, unpark_all, AtomicU32, Backoff, Ordering,
};

/// Tries before a blocked borrow starts the parking protocol (`wait`). None under loom: the
/// spinning phase would only hide that protocol's interleavings (loom runs the other
/// threads first after each yield).
const SPINS: usize = if cfg!(gc_loom) { 0 } else { 8 };

/// Buckets of [`WAITING`] (a power of two: `sync::bucket_of` picks one).
const BUCKETS: usize = 16;
const _: () = assert!(BUCKETS.is_power_of_two() && BUCKETS > 1);

/// A count of threads blocked on some lock of one bucket, alone on its cache line (read by
/// every write release of a lock in the bucket, written only by threads about to block).
#[repr(align(64))]
struct Waiting(AtomicU32);

crate::sync::global! {
    /// Threads in [`CellLock::wait`]'s parking phase, by bucket of the lock's address: a
    /// release that reads zero in its bucket has nobody to wake.
    static WAITING: [Waiting; BUCKETS] = crate::sync::array![Waiting(AtomicU32::new(0)); BUCKETS];
}

/// Holds a count in the calling thread's bucket of [`WAITING`] while it waits (also if a
/// borrow's check panics meanwhile).
struct Announced(&'static AtomicU32);

impl Drop for Announced {
    fn drop(&mut self) {
        // Relaxed: a stale non-zero count only sends a release to the slow path.
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether the word `s` is the collector's hold.
#[inline(always)]
fn held_by_collector(s: u32) -> bool {
    s & WRITER != 0 && s & READERS == COLLECTOR
}

impl CellLock {
    /// The count of threads waiting on locks of this one's bucket.
    #[inline(always)]
    pub(super) fn waiting(&self) -> &'static AtomicU32 {
        // Neighbouring cells spread over the buckets.
        &WAITING[crate::sync::bucket_of(self.key(), BUCKETS)].0
    }

    #[cold]
    pub(super) fn wait(
        &self,
        blocked: impl Fn(&Self, u32) -> bool,
        try_take: impl Fn(&Self) -> bool,
    ) {
        let mut backoff = Backoff::default();
        let mut behind_collector = Backoff::default();
        #[cfg_attr(gc_loom, allow(clippy::reversed_empty_ranges))] // 0..0 under loom
        for _ in 0..SPINS {
            if try_take(self) {
                return;
            }
            backoff.snooze();
        }
        // From here on a release must wake us: announce ourselves in the bucket's count,
        // which every release reads after it unlocks. Probing for membarrier first makes
        // `heavy_fence` below pair with every release's `light_fence` (both sides then
        // agree on whether the cheap fence is in use).
        init_fences();
        let waiting = self.waiting();
        // With the fences below, a store-buffering pair against the releases (a change of
        // the word or of `reads`, `light_fence`, a load of the count).
        waiting.fetch_add(1, Ordering::SeqCst);
        let _announced = Announced(waiting);
        loop {
            if try_take(self) {
                return;
            }
            let s = self.state.load(Ordering::Relaxed);
            if !blocked(self, s) {
                continue;
            }
            if held_by_collector(s) {
                // The collector holds it for one trace or unrooting and releases it with a
                // plain store that wakes nobody: wait without parking.
                behind_collector.snooze();
                continue;
            }
            // Our count, then this fence, then the park's look at the lock; a release
            // stores the word (or `reads`), fences, then reads the count: one of the two
            // sees the other's write, so either we see the lock free or the release wakes
            // us.
            heavy_fence();
            // Sleep only if a user still holds the lock; the check runs under the park
            // queue's lock, which a release's wake-up takes too, so it cannot slip in
            // between.
            park(self.key(), || {
                let s = self.state.load(Ordering::Relaxed);
                blocked(self, s) && !held_by_collector(s)
            });
        }
    }

    /// After a release has unlocked the word (or the owner's `reads`): wakes the threads
    /// parked on it, if its bucket counts any. The store-buffering pair with `wait`:
    /// unlock, fence, then read the count.
    #[inline(always)]
    pub(super) fn wake_waiters(&self) {
        light_fence();
        if self.waiting().load(Ordering::Relaxed) != 0 {
            self.wake();
        }
    }

    #[cold]
    fn wake(&self) {
        unpark_all(self.key());
    }
}
