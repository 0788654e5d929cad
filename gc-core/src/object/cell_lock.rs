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

use crate::sync::{park, unpark_all, AtomicU32, Backoff, Ordering};

const WRITER: u32 = 1 << 31;
const PARKED: u32 = 1 << 30;
const READERS: u32 = PARKED - 1;

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

    /// Takes a read lock unless a writer holds the lock.
    #[inline]
    pub(crate) fn try_read(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & WRITER != 0 || s & READERS == READERS {
                return false;
            }
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
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(x) => s = x,
            }
        }
    }

    /// Blocks until a read lock is taken.
    pub(crate) fn read(&self) {
        if !self.try_read() {
            self.wait(|s| s & WRITER != 0, Self::try_read);
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
        let prev = self.state.fetch_sub(1, Ordering::Release);
        debug_assert!(prev & READERS != 0);
        if prev & READERS == 1 && prev & PARKED != 0 {
            self.wake();
        }
    }

    pub(crate) fn write_unlock(&self) {
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
