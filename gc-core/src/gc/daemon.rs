//! The runtime's own background threads (the GC controller, the background sweeper, the
//! scavenger): each sleeps until woken, as Go parks its background goroutines, and is
//! started by its first wake-up.
//!
//! A thread that cannot be started (thread limit, `ulimit -v`, a huge `RUST_MIN_STACK`)
//! is never a panic in the allocating code that woke it: `wake` prints one warning for
//! that daemon, never tries again, and returns false from then on, and the caller does the
//! work itself or leaves it to the paths that cover it.
//!
//! Frees these threads make through `CountingAllocator` (the controller's and the
//! sweeper's in-place drops of dead objects, above all) are queued for the mutators
//! (`alloc/remote_free.rs`): each thread defers its frees from the start and publishes its
//! partial batch after every run of its body.
//!
//! Invariant: a wake-up is never lost. `wake` sets the flag under the mutex before
//! notifying, and the thread clears it under the same mutex before running its body, so a
//! wake-up during a run causes one more run; several coalesce into one. Shared state: the
//! flag, under its mutex; whether the thread exists, written once under `started` (whose
//! completion orders it before every later read). See the collector overview (`crate::design::collector`).

use crate::alloc::remote_free;
use crate::sync::{AtomicBool, Condvar, Mutex, Once, Ordering};

/// A background thread that runs a body once per (coalesced) wake-up.
pub(crate) struct Daemon {
    name: &'static str,
    started: Once,
    /// Whether the thread was started (set inside `started`).
    running: AtomicBool,
    wanted: Mutex<bool>,
    cv: Condvar,
}

impl Daemon {
    crate::sync::const_fn! {
        /// A daemon named `name` (the thread's name); nothing starts until the first wake.
        pub(crate) fn new(name: &'static str) -> Daemon {
            Daemon {
                name,
                started: Once::new(),
                running: AtomicBool::new(false),
                wanted: Mutex::new(false),
                cv: Condvar::new(),
            }
        }
    }

    /// Asks the thread to run `body` once more, starting the thread (with this `body`)
    /// on the first call. Returns whether the thread exists: false if it could not be
    /// started (one warning, on the first call), and then nothing was asked of it.
    #[must_use = "without the thread, the caller must do or skip the work itself"]
    pub(crate) fn wake(&'static self, body: fn()) -> bool {
        self.started.call_once(|| {
            let spawned = crate::sync::thread::Builder::new()
                .name(self.name.into())
                .spawn(move || {
                    remote_free::defer_here();
                    loop {
                        self.wait();
                        body();
                        remote_free::flush();
                    }
                });
            match spawned {
                Ok(_) => self.running.store(true, Ordering::Relaxed),
                Err(e) => crate::report(format_args!(
                    "{}cannot start the {} thread ({e}); continuing without it",
                    crate::env::WARNING_PREFIX,
                    self.name
                )),
            }
        });
        if !self.running.load(Ordering::Relaxed) {
            return false;
        }
        *self.lock() = true;
        self.cv.notify_one();
        true
    }

    /// Whether a wake-up is waiting for the thread to pick it up.
    pub(crate) fn pending(&self) -> bool {
        *self.lock()
    }

    fn wait(&self) {
        let mut w = self.lock();
        while !*w {
            w = self.cv.wait(w);
        }
        *w = false;
    }

    fn lock(&self) -> crate::sync::MutexGuard<'_, bool> {
        self.wanted.lock()
    }
}
