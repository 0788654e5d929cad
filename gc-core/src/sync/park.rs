//! Parking by address (a child of `sync.rs`): `park`/`unpark_all` for the `GcCell` lock,
//! on `parking_lot_core`; under loom a queue of loom threads that really block, so a lost
//! wake-up is a deadlock the model finds (`park_timeout` yields instead: loom has no
//! time). And `Backoff`, the spin-then-yield wait of the collector's short holds.

/// Parks the current thread on `key` if `still_blocked()` returns true once the park queue
/// is locked (so a wake-up between the check and the sleep is never lost). Under loom the
/// thread really blocks until an [`unpark_all`] on `key`, so a lost wake-up is a deadlock
/// the model reports.
pub(crate) fn park(key: usize, still_blocked: impl Fn() -> bool) {
    #[cfg(not(gc_loom))]
    park_until(key, still_blocked, None);
    #[cfg(gc_loom)]
    loom_park::park(key, still_blocked);
}

/// Loom's park queue: the threads parked by [`park`], by key.
#[cfg(gc_loom)]
mod loom_park {
    use loom::sync::Mutex;
    use loom::thread::{self, Thread};

    loom::lazy_static! {
        static ref QUEUE: Mutex<Vec<(usize, Thread)>> = Mutex::new(Vec::new());
    }

    pub(super) fn park(key: usize, still_blocked: impl Fn() -> bool) {
        {
            let mut q = QUEUE.lock().unwrap();
            if !still_blocked() {
                return;
            }
            q.push((key, thread::current()));
        }
        // An unpark between the unlock above and this call is kept as a token (as std's).
        thread::park();
    }

    pub(super) fn unpark_all(key: usize) {
        QUEUE.lock().unwrap().retain(|(k, t)| {
            if *k == key {
                t.unpark();
            }
            *k != key
        });
    }
}

/// As [`park`], but wakes after `timeout` at the latest.
pub(crate) fn park_timeout(
    key: usize,
    still_blocked: impl Fn() -> bool,
    timeout: std::time::Duration,
) {
    park_until(
        key,
        still_blocked,
        std::time::Instant::now().checked_add(timeout),
    );
}

fn park_until(key: usize, still_blocked: impl Fn() -> bool, deadline: Option<std::time::Instant>) {
    #[cfg(not(gc_loom))]
    // SAFETY: `still_blocked` neither panics into parking_lot_core nor parks recursively;
    // the other callbacks are no-ops. `key` is an address the caller owns (a lock word, a
    // static), a unique key while it exists.
    unsafe {
        parking_lot_core::park(
            key,
            still_blocked,
            || {},
            |_, _| {},
            parking_lot_core::DEFAULT_PARK_TOKEN,
            deadline,
        );
    }
    #[cfg(gc_loom)]
    {
        let _ = (key, still_blocked, deadline);
        loom::thread::yield_now();
    }
}

/// Wakes every thread parked on `key`.
pub(crate) fn unpark_all(key: usize) {
    #[cfg(not(gc_loom))]
    // SAFETY: `key` is a plain address used as a queue key; no callbacks.
    unsafe {
        parking_lot_core::unpark_all(key, parking_lot_core::DEFAULT_UNPARK_TOKEN);
    }
    #[cfg(gc_loom)]
    loom_park::unpark_all(key);
}

/// Spin-wait helper: a few pause instructions, then yields to the scheduler.
#[derive(Default)]
pub(crate) struct Backoff(u32);

impl Backoff {
    /// Waits a little: pause instructions (doubling) for the first rounds, then yields,
    /// then 50 us sleeps.
    pub(crate) fn snooze(&mut self) {
        if !self.spin() {
            #[cfg(not(gc_loom))]
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
    }

    /// The waits of [`snooze`](Self::snooze) that keep the thread runnable: pause
    /// instructions, then yields. Returns false, having waited not at all, once those
    /// rounds are used up (the caller then sleeps or parks in its own way).
    pub(crate) fn spin(&mut self) -> bool {
        let round = self.0;
        self.0 = self.0.saturating_add(1);
        #[cfg(not(gc_loom))]
        {
            if round < 6 {
                for _ in 0..(1 << round) {
                    std::hint::spin_loop();
                }
            } else if round < 12 {
                std::thread::yield_now();
            } else {
                return false;
            }
        }
        #[cfg(gc_loom)]
        {
            let _ = round;
            loom::thread::yield_now();
        }
        true
    }
}
