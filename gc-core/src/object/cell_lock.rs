//! The reader-writer lock inside `GcCell`.
//!
//! Why not `std::sync::RwLock`: the marker must be able to read a cell whenever no writer
//! *holds* it. std's lock refuses new readers while a writer is *waiting*, so a marker could
//! wait behind a user thread that waits behind a reader parked in user code for ever
//! (invariant I4). Here `try_read` succeeds whenever no writer holds the lock (writers can
//! starve under a constant stream of readers; that is the documented trade-off).
//!
//! State word: bit 31 = a writer holds it, bits 0-29 = readers, or, while a writer holds
//! it, the writer's token (`cell_held.rs`: which thread; `COLLECTOR` for the collector).
//! Bit 30 is unused. See the collector overview (`crate::design::collector`) for how the
//! marker uses the lock.
//!
//! Waiting: a thread that cannot take the lock spins briefly, then announces itself in a
//! global count (`WAITING`, one per bucket of lock addresses, each on its own cache line)
//! and parks on the word's address (`sync::park`), checking under the park queue's lock
//! that the lock is still taken. A release reads its bucket's count after it unlocks and,
//! if it is not zero, wakes every thread parked on the word. So the word holds no parked
//! bit, and a write lock is released with a plain store: one locked instruction per write
//! guard instead of two (the second was, with the first, most of the cost of a write
//! through `borrow_mut`). The store-then-read of the release against the waiter's
//! count-then-read of the word is a store-buffering pair: the releaser pays a compiler
//! fence (`sync::light_fence`), the waiter, about to sleep anyway, a `membarrier` system
//! call (`sync::heavy_fence`; `SeqCst` fences on both sides where it is unavailable). A
//! read release (still a read-modify-write: readers share the count) pairs the same way.
//!
//! Two kinds of holders:
//! - *Users* (`GcCell`'s borrows: [`CellLock::read`], [`CellLock::write`] and their `try_`
//!   forms, released by [`CellLock::read_unlock`] / [`CellLock::write_unlock`] on the same
//!   thread). A user read lock is recorded in the thread's read registry and a user write
//!   lock carries the thread's token, so when a borrow cannot be had at once, it first
//!   checks whether the calling thread itself holds the conflicting lock, and panics like
//!   `RefCell` ("already borrowed", "already mutably borrowed") instead of waiting for
//!   ever. Only that slow path reads the registry; conflicts with other threads block.
//! - *The collector* (the marker and the unroot pass: [`CellLock::try_hold_collector`] /
//!   [`CellLock::release_collector`]; the marker falls back on
//!   [`CellLock::try_read_marker`] / [`CellLock::read_unlock_marker`]): never blocks,
//!   never touches the registry.
//!
//! The collector's hold: a cell nobody holds or waits for (the word is 0, as almost every
//! heap cell's is) the collector takes alone with one compare-and-swap, its `COLLECTOR`
//! token in the word, and gives back with a plain store of 0 instead of a second
//! read-modify-write (two locked instructions per cell were a third of the marker's time on
//! a tree of `GcCell` children). That release reads no count and wakes nobody: waiters do
//! not park while the collector holds the word but spin and yield until it is done
//! (`wait`), which is one trace or unrooting of the contents, never user code. If users
//! hold it, the hold fails: the marker then takes a shared read lock, the unroot pass
//! leaves the cell for the next cycle.
//!
//! Leaked guards (`mem::forget`) must not starve the marker:
//! - *Readers*: users hold at most `USER_READERS` (2^29) read locks at once (`try_read`
//!   fails past that, `read` panics like std's `RwLock`); the marker's
//!   [`CellLock::try_read_marker`] may use the room above, up to the field's maximum, so
//!   no number of leaked user guards makes it fail.
//! - *Writers* (and readers) leaked on a cell that is later reached through `&mut`: `&mut`
//!   proves no guard is alive, so [`CellLock::reset`] unlocks the word and forgets the
//!   calling thread's read records for it (so do a dropped lock's). `GcCell` resets on
//!   every `&mut self` path, in particular when `Gc::new` moves a cell into the heap, which
//!   is when the marker starts reading it.
//!
//! A leaked guard stays recorded on its thread (a write guard's token in the word, a read
//! guard in the registry): a later conflicting borrow on that thread panics, where it
//! would otherwise wait for ever.
//!
//! Shared state: the one atomic word, changed by compare-and-swap or read-modify-write
//! under `&self`, and stored plainly under `&mut self` or by the holder of the write lock
//! or the collector's hold (nobody else writes it then); the `WAITING` counts (atomic
//! read-modify-writes by waiters). The read registry is thread-local.

use super::cell_held;
use crate::sync::{
    heavy_fence, init_fences, light_fence, park, unpark_all, AtomicU32, Backoff, Ordering,
};

const WRITER: u32 = 1 << 31;
/// The readers, or the writer's token while `WRITER` is set (bit 30 is unused).
const READERS: u32 = (1 << 30) - 1;
/// The most read locks users may hold at once; the rest of the field is the marker's.
pub(crate) const USER_READERS: u32 = 1 << 29;

/// Tries before a blocked borrow starts the parking protocol (`wait`). None under loom: the
/// spinning phase would only hide that protocol's interleavings (loom runs the other
/// threads first after each yield).
const SPINS: usize = if cfg!(gc_loom) { 0 } else { 8 };

/// The collector's token while it holds the lock: above every user's.
const COLLECTOR: u32 = READERS;

const _: () = assert!(cell_held::MAX_TOKEN < COLLECTOR);

pub(crate) struct CellLock {
    state: AtomicU32,
}

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

impl CellLock {
    crate::sync::const_fn! {
        pub(crate) fn new() -> CellLock {
            CellLock {
                state: AtomicU32::new(0),
            }
        }
    }

    /// The lock's identity: the word's address (the park queue's key and the read
    /// registry's entry).
    fn key(&self) -> usize {
        &self.state as *const AtomicU32 as usize
    }

    /// The count of threads waiting on locks of this one's bucket.
    #[inline(always)]
    fn waiting(&self) -> &'static AtomicU32 {
        // Neighbouring cells spread over the buckets.
        &WAITING[crate::sync::bucket_of(self.key(), BUCKETS)].0
    }

    /// Takes a user read lock unless a writer holds the lock or `USER_READERS` read locks
    /// are held. Release with [`read_unlock`](Self::read_unlock) on this thread.
    #[inline]
    pub(crate) fn try_read(&self) -> bool {
        let ok = self.try_read_below(USER_READERS);
        if ok {
            cell_held::push_read(self.key());
        }
        ok
    }

    /// Takes a read lock for the marker unless a writer holds the lock. Readers never make
    /// it fail: users stop at `USER_READERS`, and the marker's own read locks (one per mark
    /// thread, each held for one trace) stay far below the `2^30 - 1 - USER_READERS` left.
    /// Not recorded; release with [`read_unlock_marker`](Self::read_unlock_marker).
    #[inline]
    pub(crate) fn try_read_marker(&self) -> bool {
        self.try_read_below(READERS)
    }

    /// Takes the lock for the collector (exclusive, as a writer) if the word is 0: nobody
    /// holds it or waits for it. Release with [`release_collector`](Self::release_collector).
    /// Not recorded.
    #[inline(always)]
    pub(crate) fn try_hold_collector(&self) -> bool {
        // Acquire pairs with the Release in the last holder's release: we see the last
        // writer's writes to the contents.
        self.state
            .compare_exchange(0, WRITER | COLLECTOR, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Releases the collector's hold with a plain store: nobody changed the word meanwhile
    /// (module header; `wait` does not park on it).
    #[inline(always)]
    pub(crate) fn release_collector(&self) {
        // Release pairs with the next holder's Acquire CAS: it sees our accesses to the
        // contents (and the flags) done. Checked builds (and the loom models) swap instead,
        // to catch any write to the word during the hold that the store would have lost.
        #[cfg(any(debug_assertions, gc_loom))]
        {
            let held = self.state.swap(0, Ordering::Release);
            assert_eq!(
                held,
                WRITER | COLLECTOR,
                "the word changed under the collector's hold"
            );
        }
        #[cfg(not(any(debug_assertions, gc_loom)))]
        self.state.store(0, Ordering::Release);
    }

    /// Takes a read lock unless a writer holds the lock or `max` readers do.
    #[inline(always)]
    fn try_read_below(&self, max: u32) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & WRITER != 0 || s & READERS >= max {
                return false;
            }
            // Acquire pairs with the Release store in `write_unlock` (the RMWs since continue
            // its release sequence): we see the last writer's writes to the contents.
            match self
                .state
                .compare_exchange_weak(s, s + 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(x) => s = x,
            }
        }
    }

    /// Takes the user write lock if nobody holds the lock, recording the calling thread
    /// as its holder. Release with [`write_unlock`](Self::write_unlock) on this thread.
    #[inline]
    pub(crate) fn try_write(&self) -> bool {
        self.try_write_as(cell_held::token())
    }

    /// Takes the write lock with `token` in the word if nobody holds the lock.
    #[inline(always)]
    fn try_write_as(&self, token: u32) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & (WRITER | READERS) != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                s,
                s | WRITER | token,
                // Acquire pairs with the Release writes in `write_unlock` and `read_unlock`: we
                // see the last writer's writes, and every reader's reads are done before ours.
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(x) => s = x,
            }
        }
    }

    /// Blocks until a user read lock is taken (recorded like [`try_read`](Self::try_read)).
    ///
    /// # Panics
    ///
    /// If the calling thread holds the write lock ("already mutably borrowed": it would
    /// wait for itself), or users already hold `USER_READERS` read locks (leaked guards,
    /// as std's `RwLock` panics on reader-count overflow).
    #[inline]
    pub(crate) fn read(&self) {
        if !self.try_read_below(USER_READERS) {
            self.read_slow();
        }
        cell_held::push_read(self.key());
    }

    #[cold]
    fn read_slow(&self) {
        let s = self.state.load(Ordering::Relaxed);
        if s & WRITER != 0 && self.is_my_token(s) {
            already_mutably_borrowed();
        }
        self.wait(
            |s| s & WRITER != 0,
            |l| l.check_readers() && l.try_read_below(USER_READERS),
        );
    }

    /// Blocks until the user write lock is taken (recorded like
    /// [`try_write`](Self::try_write)).
    ///
    /// # Panics
    ///
    /// If the calling thread holds a read or write lock on it ("already borrowed": it
    /// would wait for itself).
    #[inline]
    pub(crate) fn write(&self) {
        let token = cell_held::token();
        if !self.try_write_as(token) {
            self.write_slow(token);
        }
    }

    #[cold]
    fn write_slow(&self, token: u32) {
        self.check_not_held_here();
        self.wait(|s| s & (WRITER | READERS) != 0, |l| l.try_write_as(token));
    }

    /// Panics ("already borrowed") if the calling thread holds this lock, read or write, by
    /// its records: a write lock wanted now would wait for ever. For a slow path about to
    /// block.
    #[cold]
    pub(crate) fn check_not_held_here(&self) {
        let s = self.state.load(Ordering::Relaxed);
        let mine = if s & WRITER != 0 {
            self.is_my_token(s)
        } else {
            s & READERS != 0 && cell_held::holds_read(self.key())
        };
        if mine {
            already_borrowed();
        }
    }

    /// With `WRITER` set in `s`: whether the calling thread is the writer.
    fn is_my_token(&self, s: u32) -> bool {
        let token = cell_held::token();
        token != 0 && s & READERS == token
    }

    /// Panics if no user may take another read lock; true otherwise.
    fn check_readers(&self) -> bool {
        let s = self.state.load(Ordering::Relaxed);
        if s & WRITER == 0 && s & READERS >= USER_READERS {
            reader_overflow();
        }
        true
    }

    /// Unlocks the word, whatever guards were leaked on it, and forgets the calling
    /// thread's read records for it: `&mut self` proves that no guard is alive and nobody
    /// waits. Inline: every `Gc::new` of a value holding cells calls it once per cell (from
    /// `GcCell::unroot`, which is generic and so compiled in the caller's crate).
    #[inline]
    pub(crate) fn reset(&mut self) {
        // `&mut self`: no other access, so Relaxed (loom atomics have no `get_mut`).
        self.state.store(0, Ordering::Relaxed);
        cell_held::forget(self.key());
    }

    /// Debug builds only: counts `n` more user read locks, as if `n` read guards had been
    /// leaked (`__private::leak_cell_read_guards`) by no thread in particular, without
    /// taking them one by one.
    ///
    /// # Panics
    ///
    /// If that would pass `USER_READERS` readers, or a writer holds the lock.
    #[cfg(debug_assertions)]
    pub(crate) fn add_readers_for_test(&self, n: u32) {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            assert!(
                s & WRITER == 0 && n <= USER_READERS - (s & READERS).min(USER_READERS),
                "cannot add {n} readers to lock state {s:#x}"
            );
            // Acquire pairs with the Release store in `write_unlock`, but the readers counted
            // here are pretend ones that read nothing: Relaxed would do.
            match self
                .state
                .compare_exchange_weak(s, s + n, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(x) => s = x,
            }
        }
    }

    #[cold]
    fn wait(&self, blocked: impl Fn(u32) -> bool, try_take: impl Fn(&Self) -> bool) {
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
        // the word, `light_fence`, a load of the count).
        waiting.fetch_add(1, Ordering::SeqCst);
        let _announced = Announced(waiting);
        loop {
            if try_take(self) {
                return;
            }
            let s = self.state.load(Ordering::Relaxed);
            if !blocked(s) {
                continue;
            }
            if held_by_collector(s) {
                // The collector holds it for one trace or unrooting and releases it with a
                // plain store that wakes nobody: wait without parking.
                behind_collector.snooze();
                continue;
            }
            // Our count, then this fence, then the park's look at the word; a release
            // stores the word, fences, then reads the count: one of the two sees the
            // other's write, so either we see the lock free or the release wakes us.
            heavy_fence();
            // Sleep only if a user still holds the lock; the check runs under the park
            // queue's lock, which a release's wake-up takes too, so it cannot slip in
            // between.
            park(self.key(), || {
                let s = self.state.load(Ordering::Relaxed);
                blocked(s) && !held_by_collector(s)
            });
        }
    }

    /// Releases a user read lock taken on this thread.
    #[inline]
    pub(crate) fn read_unlock(&self) {
        cell_held::pop_read(self.key());
        self.read_unlock_marker();
    }

    /// Releases a read lock without touching the registry (the marker's).
    #[inline]
    pub(crate) fn read_unlock_marker(&self) {
        // Release pairs with the Acquire CAS in `try_write_as`: our reads of the contents
        // are done before the next writer writes.
        let prev = self.state.fetch_sub(1, Ordering::Release);
        debug_assert!(prev & WRITER == 0 && prev & READERS != 0);
        if prev & READERS == 1 {
            // (The locked instruction above is a full barrier on x86 already; the fence in
            // `wake_waiters` is for the memory model, and costs nothing there.)
            self.wake_waiters();
        }
    }

    /// Releases a user's write lock, on its thread, clearing its token with it.
    #[inline]
    pub(crate) fn write_unlock(&self) {
        // A plain store: while a user holds the write lock nobody else writes the word
        // (every other taker fails its compare-and-swap; waiters announce themselves in
        // `WAITING` instead of in the word). Release pairs with the Acquire CASes in
        // `try_read_below`, `try_write_as` and `try_hold_collector`: the next holder sees
        // our writes to the contents (and to the cell's flags).
        debug_assert!(self.state.load(Ordering::Relaxed) & WRITER != 0);
        self.state.store(0, Ordering::Release);
        self.wake_waiters();
    }

    /// After a release has unlocked the word: wakes the threads parked on it, if its
    /// bucket counts any. The store-buffering pair with `wait`: unlock, fence, then read
    /// the count.
    #[inline(always)]
    fn wake_waiters(&self) {
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

/// Whether the word `s` is the collector's hold.
#[inline(always)]
fn held_by_collector(s: u32) -> bool {
    s & WRITER != 0 && s & READERS == COLLECTOR
}

impl Drop for CellLock {
    /// No guard is alive (`&mut self`): forget the calling thread's read records of
    /// leaked ones, so a lock later at this address is not mistaken for held.
    fn drop(&mut self) {
        cell_held::forget(self.key());
    }
}

#[cold]
#[inline(never)]
fn already_mutably_borrowed() -> ! {
    panic!(
        "GcCell already mutably borrowed: this thread holds its write guard (a shared \
         borrow would wait for it for ever)"
    )
}

#[cold]
#[inline(never)]
fn already_borrowed() -> ! {
    panic!(
        "GcCell already borrowed: this thread holds a guard on it (a write would wait for \
         it for ever)"
    )
}

#[cold]
#[inline(never)]
fn reader_overflow() -> ! {
    panic!(
        "GcCell reader count overflow: {USER_READERS} shared borrows held at once \
         (read guards are being leaked)"
    )
}

#[cfg(all(test, not(gc_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn readers_share_writers_exclude() {
        let l = CellLock::new();
        assert!(l.try_read());
        assert!(l.try_read());
        assert!(!l.try_write());
        l.read_unlock();
        l.read_unlock();
        assert!(l.try_write());
        assert!(!l.try_read());
        assert!(!l.try_write());
        l.write_unlock();
        assert!(l.try_read());
        l.read_unlock();
    }

    #[test]
    fn blocked_threads_wake_and_counter_is_exact() {
        struct Shared {
            lock: CellLock,
            value: std::cell::UnsafeCell<u64>,
        }
        // SAFETY: `value` is only touched under `lock`.
        unsafe impl Sync for Shared {}
        let s = Arc::new(Shared {
            lock: CellLock::new(),
            value: std::cell::UnsafeCell::new(0),
        });
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000 {
                        if i % 4 == 0 {
                            s.lock.read();
                            // SAFETY: read lock held.
                            let _ = unsafe { *s.value.get() };
                            s.lock.read_unlock();
                        } else {
                            s.lock.write();
                            // SAFETY: write lock held.
                            unsafe { *s.value.get() += 1 };
                            s.lock.write_unlock();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // SAFETY: all threads joined.
        assert_eq!(unsafe { *s.value.get() }, 4 * 15_000);
    }

    #[test]
    #[cfg(debug_assertions)] // the reader hook exists in debug builds only
    fn users_stop_at_the_reader_cap_the_marker_does_not() {
        let mut l = CellLock::new();
        l.add_readers_for_test(USER_READERS - 1);
        assert!(l.try_read(), "the last user reader below the cap");
        assert!(!l.try_read(), "a user reader past the cap");
        let err = std::panic::catch_unwind(|| l.read()).expect_err("read past the cap");
        let msg = err
            .downcast_ref::<String>()
            .expect("a formatted panic message");
        assert!(msg.contains("GcCell reader count overflow"), "{msg}");
        for _ in 0..1000 {
            assert!(
                l.try_read_marker(),
                "the marker reads whatever users leaked"
            );
        }
        for _ in 0..1000 {
            l.read_unlock_marker();
        }
        assert_eq!(l.state.load(Ordering::Relaxed), USER_READERS);
        assert!(!l.try_write());
        l.reset();
        assert!(l.try_read());
        l.read_unlock();
    }

    fn panic_message(f: impl FnOnce()) -> String {
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .expect_err("expected a panic");
        err.downcast_ref::<String>()
            .cloned()
            .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    }

    #[test]
    fn own_conflicts_panic_and_reset_or_drop_forgets_leaked_records() {
        let mut l = CellLock::new();
        let key = l.key();
        l.read(); // a leaked read guard
        assert!(cell_held::holds_read(key));
        assert!(panic_message(|| l.write()).contains("already borrowed"));
        l.read(); // reads share
        l.read_unlock();
        l.reset();
        assert!(!cell_held::holds_read(key), "reset forgets the record");
        l.write(); // a leaked write guard
        assert!(panic_message(|| l.read()).contains("already mutably borrowed"));
        assert!(panic_message(|| l.write()).contains("already borrowed"));
        assert!(
            !cell_held::holds_read(key),
            "the failed read left no record"
        );
        l.reset();
        // The collector's hold is nobody's: no panic here (a user write would wait until
        // it is released).
        assert!(l.try_hold_collector());
        l.check_not_held_here();
        assert!(!l.try_read() && !l.try_write() && !l.try_hold_collector());
        l.release_collector();
        let key = {
            // Dropped in place (`drop(l)` would move it first: records are by address).
            let l = CellLock::new();
            l.read(); // leaked, then the lock goes
            l.key()
        };
        assert!(!cell_held::holds_read(key), "drop forgets the record");
    }

    #[test]
    fn reset_forgets_a_leaked_writer() {
        let mut l = CellLock::new();
        l.write();
        assert!(!l.try_read() && !l.try_read_marker() && !l.try_write());
        l.reset();
        assert!(l.try_read_marker());
        l.read_unlock_marker();
        l.write();
        l.write_unlock();
    }

    #[test]
    fn users_wait_behind_the_collectors_hold_without_losing_a_write_or_a_wakeup() {
        struct Shared {
            lock: CellLock,
            value: std::cell::UnsafeCell<u64>,
            collector_done: std::sync::atomic::AtomicBool,
        }
        // SAFETY: `value` is only touched under `lock`.
        unsafe impl Sync for Shared {}
        let s = Arc::new(Shared {
            lock: CellLock::new(),
            value: std::cell::UnsafeCell::new(0),
            collector_done: std::sync::atomic::AtomicBool::new(false),
        });
        let (done, finished) = std::sync::mpsc::channel();
        let spawn = |f: Box<dyn FnOnce(&Shared) + Send>| {
            let (s, done) = (s.clone(), done.clone());
            std::thread::spawn(move || {
                f(&s);
                done.send(()).unwrap();
            })
        };
        // The collector takes the cell whenever it is free (and checks, in this debug
        // build, that nobody wrote the word while it held it).
        let mut threads = vec![spawn(Box::new(|s: &Shared| {
            let mut held = 0u32;
            // Until the users are done, and at least once: on a loaded machine this
            // thread may first run after the users finished (then the cell is free).
            while held == 0 || !s.collector_done.load(std::sync::atomic::Ordering::Relaxed) {
                if s.lock.try_hold_collector() {
                    // SAFETY: the collector's hold excludes every user.
                    let _ = unsafe { *s.value.get() };
                    s.lock.release_collector();
                    held += 1;
                }
            }
        }))];
        for _ in 0..2 {
            threads.push(spawn(Box::new(|s: &Shared| {
                for _ in 0..20_000 {
                    s.lock.write();
                    // SAFETY: write lock held.
                    unsafe { *s.value.get() += 1 };
                    s.lock.write_unlock();
                }
            })));
        }
        threads.push(spawn(Box::new(|s: &Shared| {
            for _ in 0..20_000 {
                s.lock.read();
                // SAFETY: read lock held.
                let _ = unsafe { *s.value.get() };
                s.lock.read_unlock();
            }
        })));
        // Watchdog: a user thread that parked behind the collector and lost its wake-up
        // would never finish.
        for _ in 0..3 {
            finished
                .recv_timeout(std::time::Duration::from_secs(120))
                .expect("a user thread hung behind the collector's hold");
        }
        s.collector_done
            .store(true, std::sync::atomic::Ordering::Relaxed);
        for t in threads {
            t.join().expect("no thread panicked");
        }
        // SAFETY: all threads joined.
        assert_eq!(unsafe { *s.value.get() }, 40_000);
    }

    #[test]
    fn try_read_succeeds_while_a_writer_waits_behind_a_reader() {
        let l = Arc::new(CellLock::new());
        l.read(); // a reader parked "in user code"
        let w = {
            let l = l.clone();
            std::thread::spawn(move || {
                l.write();
                l.write_unlock();
            })
        };
        // Whatever the writer is doing, a marker-style try_read must get in.
        for _ in 0..1000 {
            assert!(l.try_read());
            l.read_unlock();
        }
        l.read_unlock();
        w.join().unwrap();
    }
}
