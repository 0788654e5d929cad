//! Debug builds only: gates at which a cycle waits while a test holds them closed, so that
//! the test acts at a chosen point of the cycle (`__private::hold_young_scan`,
//! `__private::hold_unroot_chunks`). Never closed outside tests; each gate is a flag and a
//! condition variable under one mutex, which only the cycle waiting and the test take.

use crate::sync::{Condvar, Mutex};

/// One gate: (closed, a cycle waits at it), and the signal that either changed.
pub(crate) struct Gate {
    state: Mutex<(bool, bool)>,
    changed: Condvar,
}

impl Gate {
    crate::sync::const_fn! {
        /// An open gate.
        pub(crate) fn new() -> Gate {
            Gate {
                state: Mutex::new((false, false)),
                changed: Condvar::new(),
            }
        }
    }

    /// Closes or opens the gate (the test's side).
    pub(crate) fn close(&self, closed: bool) {
        self.state.lock().0 = closed;
        self.changed.notify_all();
    }

    /// Whether a cycle waits at the closed gate.
    pub(crate) fn waiting(&self) -> bool {
        self.state.lock().1
    }

    /// The cycle's side: waits while the gate is closed.
    pub(crate) fn pass(&self) {
        let mut g = self.state.lock();
        while g.0 {
            g.1 = true;
            g = self.changed.wait(g);
        }
        g.1 = false;
    }
}

crate::sync::global! {
    /// Between the first mark round and the young scan (`young.rs`): young objects white,
    /// the old ones marked.
    pub(crate) static YOUNG_SCAN: Gate = Gate::new();
}

crate::sync::global! {
    /// Between two chunks of the unroot pass's turning of a large list into edges
    /// (`GcCell::unroot_in_chunks`), none of the cell's holds held.
    pub(crate) static UNROOT_CHUNKS: Gate = Gate::new();
}
