//! The reader-writer lock inside `GcCell`.
//!
//! Why not `std::sync::RwLock`: the marker must be able to read a cell whenever no writer
//! *holds* it. std's lock refuses new readers while a writer is *waiting*, so a marker could
//! wait behind a user thread that waits behind a reader parked in user code for ever
//! (invariant I4). Here `try_read` succeeds whenever no writer holds the lock (writers can
//! starve under a constant stream of readers; that is the documented trade-off).
//!
//! State word: bit 31 = a writer holds it, bit 30 = someone is parked, bits 0-29 = readers.
//! Waiters park on the word's address (`sync::park`) after setting the parked bit; the
//! releasing thread clears the bit and wakes all of them. See the collector overview in
//! `crate::gc` for how the marker uses the lock.
//!
//! Leaked guards (`mem::forget`) must not starve the marker:
//! - *Readers*: users hold at most `USER_READERS` (2^29) read locks at once (`try_read`
//!   fails past that, `read` panics like std's `RwLock`); the marker's
//!   [`CellLock::try_read_marker`] may use the room above, up to the field's maximum, so
//!   no number of leaked user guards makes it fail.
//! - *Writers* (and readers) leaked on a cell that is later reached through `&mut`: `&mut`
//!   proves no guard is alive, so [`CellLock::reset`] unlocks the word. `GcCell` resets on
//!   every `&mut self` path, in particular when `Gc::new` moves a cell into the heap, which
//!   is when the marker starts reading it.
//!
//! Shared state: the one atomic word, changed by compare-and-swap or read-modify-write
//! under `&self`, and stored plainly only under `&mut self`.

use crate::sync::{park, unpark_all, AtomicU32, Backoff, Ordering};

const WRITER: u32 = 1 << 31;
const PARKED: u32 = 1 << 30;
const READERS: u32 = PARKED - 1;
/// The most read locks users may hold at once; the rest of the field is the marker's.
pub(crate) const USER_READERS: u32 = 1 << 29;

pub(crate) struct CellLock {
    state: AtomicU32,
}

impl CellLock {
    crate::sync::const_fn! {
        pub(crate) fn new() -> CellLock {
            CellLock {
                state: AtomicU32::new(0),
            }
        }
    }

    fn key(&self) -> usize {
        &self.state as *const AtomicU32 as usize
    }

    /// Takes a read lock for a user unless a writer holds the lock or `USER_READERS` read
    /// locks are held.
    #[inline]
    pub(crate) fn try_read(&self) -> bool {
        self.try_read_below(USER_READERS)
    }

    /// Takes a read lock for the marker unless a writer holds the lock. Readers never make
    /// it fail: users stop at `USER_READERS`, and the marker's own read locks (one per mark
    /// thread, each held for one trace) stay far below the `2^30 - 1 - USER_READERS` left.
    #[inline]
    pub(crate) fn try_read_marker(&self) -> bool {
        self.try_read_below(READERS)
    }

    /// Takes a read lock unless a writer holds the lock or `max` readers do.
    #[inline(always)]
    fn try_read_below(&self, max: u32) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & WRITER != 0 || s & READERS >= max {
                return false;
            }
            // Acquire pairs with the Release RMW in `write_unlock` (the RMWs between continue
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

    /// Takes the write lock if nobody holds the lock.
    #[inline]
    pub(crate) fn try_write(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & (WRITER | READERS) != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                s,
                s | WRITER,
                // Acquire pairs with the Release RMWs in `write_unlock` and `read_unlock`: we
                // see the last writer's writes, and every reader's reads are done before ours.
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(x) => s = x,
            }
        }
    }

    /// Blocks until a read lock is taken.
    ///
    /// # Panics
    ///
    /// If users already hold `USER_READERS` read locks (leaked guards, as std's `RwLock`
    /// panics on reader-count overflow).
    pub(crate) fn read(&self) {
        if !self.try_read() {
            self.wait(|s| s & WRITER != 0, |l| l.check_readers() && l.try_read());
        }
    }

    /// Panics if no user may take another read lock; true otherwise.
    fn check_readers(&self) -> bool {
        if self.state.load(Ordering::Relaxed) & READERS >= USER_READERS {
            reader_overflow();
        }
        true
    }

    /// Unlocks the word, whatever guards were leaked on it: `&mut self` proves that no
    /// guard is alive and nobody waits.
    pub(crate) fn reset(&mut self) {
        // `&mut self`: no other access, so Relaxed (loom atomics have no `get_mut`).
        self.state.store(0, Ordering::Relaxed);
    }

    /// Debug builds only: counts `n` more user read locks, as if `n` read guards had been
    /// leaked (`__private::leak_cell_read_guards`), without taking them one by one.
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
            // Acquire pairs with the Release RMW in `write_unlock`, but the readers counted
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

    /// Blocks until the write lock is taken.
    pub(crate) fn write(&self) {
        if !self.try_write() {
            self.wait(|s| s & (WRITER | READERS) != 0, Self::try_write);
        }
    }

    #[cold]
    fn wait(&self, blocked: impl Fn(u32) -> bool, try_take: impl Fn(&Self) -> bool) {
        let mut backoff = Backoff::default();
        for _ in 0..8 {
            if try_take(self) {
                return;
            }
            backoff.snooze();
        }
        loop {
            if try_take(self) {
                return;
            }
            let s = self.state.load(Ordering::Relaxed);
            if !blocked(s) {
                continue;
            }
            if s & PARKED == 0
                && self
                    .state
                    .compare_exchange(s, s | PARKED, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            // Sleep only if the lock is still taken and our parked bit still stands; the
            // check runs under the park queue's lock, so a wake-up cannot slip in between.
            park(self.key(), || {
                let s = self.state.load(Ordering::Relaxed);
                blocked(s) && s & PARKED != 0
            });
        }
    }

    pub(crate) fn read_unlock(&self) {
        // Release pairs with the Acquire CAS in `try_write`: our reads of the contents are
        // done before the next writer writes.
        let prev = self.state.fetch_sub(1, Ordering::Release);
        debug_assert!(prev & READERS != 0);
        if prev & READERS == 1 && prev & PARKED != 0 {
            self.wake();
        }
    }

    pub(crate) fn write_unlock(&self) {
        // Release pairs with the Acquire CASes in `try_read_below` and `try_write`: the next
        // holder sees our writes to the contents (and to the cell's flags).
        let prev = self.state.fetch_and(!WRITER, Ordering::Release);
        debug_assert!(prev & WRITER != 0);
        if prev & PARKED != 0 {
            self.wake();
        }
    }

    #[cold]
    fn wake(&self) {
        self.state.fetch_and(!PARKED, Ordering::Relaxed);
        unpark_all(self.key());
    }
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
            l.read_unlock();
        }
        assert_eq!(l.state.load(Ordering::Relaxed), USER_READERS);
        assert!(!l.try_write());
        l.reset();
        assert!(l.try_read());
        l.read_unlock();
    }

    #[test]
    fn reset_forgets_a_leaked_writer() {
        let mut l = CellLock::new();
        l.write();
        assert!(!l.try_read() && !l.try_read_marker() && !l.try_write());
        l.reset();
        assert!(l.try_read_marker());
        l.read_unlock();
        l.write();
        l.write_unlock();
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
