//! The runtime's own background threads (the GC controller, the background sweeper, the
//! scavenger): each sleeps until woken, as Go parks its background goroutines, and is
//! started by its first wake-up.
//!
//! Invariant: a wake-up is never lost. `wake` sets the flag under the mutex before
//! notifying, and the thread clears it under the same mutex before running its body, so a
//! wake-up during a run causes one more run; several coalesce into one. Shared state: the
//! flag, under its mutex. See the collector overview in `crate::gc`.

use crate::sync::{Condvar, Mutex, Once};

/// A background thread that runs a body once per (coalesced) wake-up.
pub(crate) struct Daemon {
    name: &'static str,
    started: Once,
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
                wanted: Mutex::new(false),
                cv: Condvar::new(),
            }
        }
    }

    /// Asks the thread to run `body` once more, starting the thread (with this `body`)
    /// on the first call.
    pub(crate) fn wake(&'static self, body: fn()) {
        self.started.call_once(|| {
            crate::sync::thread::Builder::new()
                .name(self.name.into())
                .spawn(move || loop {
                    self.wait();
                    body();
                })
                .unwrap_or_else(|e| panic!("cannot start the {} thread: {e}", self.name));
        });
        *self.lock() = true;
        self.cv.notify_one();
    }

    /// Whether a wake-up is waiting for the thread to pick it up.
    pub(crate) fn pending(&self) -> bool {
        *self.lock()
    }

    fn wait(&self) {
        let mut w = self.lock();
        while !*w {
            w = self.cv.wait(w).unwrap_or_else(|e| e.into_inner());
        }
        *w = false;
    }

    fn lock(&self) -> crate::sync::MutexGuard<'_, bool> {
        self.wanted.lock().unwrap_or_else(|e| e.into_inner())
    }
}
