//! Ephemerons: the collector's side of `WeakMap` (`crate::object::weak_map`). An entry's
//! value is reachable only while its key is: the mark traces a value once it finds the key
//! marked, and drops entries whose key stayed unmarked.
//!
//! When: in mark termination's check (`mark::try_finish`, GC operations stopped, no grey
//! object left), `trace_round` traces the values of every entry whose key is marked and
//! whose value was not traced yet this cycle. If it traced any, marking resumes (the values
//! may reach more keys), so the check repeats until a round traces nothing: the fixed point
//! every ephemeron collector iterates to. A value that reaches only its own key does not
//! keep it alive. Then `settle` drops the entries whose key is unmarked; their values go to
//! the dropper after operations resume (their `Drop` may be user code).
//!
//! Tables register here on creation and deregister in their `Drop`, so the collector never
//! holds the last reference to one. Users touch a table only inside a GC operation
//! (inserting unroots the value, reading roots a clone, and both may shade), so the stopped
//! collector never waits for a table lock whose holder waits for it.
//!
//! Shared state: `TABLES` (its mutex; the lock order is the mark's shade buffer, then
//! `TABLES`, then a table's own lock), with `COUNT` mirroring its length for readers that
//! skip the lock; `EPOCH`, bumped at mark setup. See the collector
//! overview
//! (`crate::design::collector`).

use super::mark::Tracer;
use crate::sync::{AtomicU64, AtomicUsize, Mutex, Ordering};
use std::sync::Arc;

/// A table of ephemerons, as the collector sees it.
pub(crate) trait Table: Send + Sync {
    /// Traces, with `tracer`, the values of entries whose key is marked and that were not
    /// traced in mark cycle `epoch`; returns how many it traced.
    fn trace_live(&self, epoch: u64, tracer: &mut Tracer) -> usize;
    /// Removes the entries whose key is unmarked; returns their values, for the dropper.
    fn drop_dead(&self) -> Vec<Box<dyn Send>>;
}

crate::sync::global! {
    static TABLES: Mutex<Vec<Arc<dyn Table>>> = Mutex::new(Vec::new());
}
crate::sync::global! {
    /// Tables registered (read without the lock: a mark with no table skips its rounds).
    static COUNT: AtomicUsize = AtomicUsize::new(0);
}
crate::sync::global! {
    /// The current mark cycle (values are traced once per cycle).
    static EPOCH: AtomicU64 = AtomicU64::new(0);
}

/// Whether the object at `addr` is marked in the current (or just finished) mark.
pub(crate) fn is_marked(addr: usize) -> bool {
    let (s, idx) = super::roots::locate(addr);
    s.is_marked(idx)
}

/// Registers a new table.
pub(crate) fn register(t: Arc<dyn Table>) {
    let mut tables = TABLES.lock();
    tables.push(t);
    COUNT.store(tables.len(), Ordering::Relaxed);
}

/// Deregisters a table being dropped (the caller's own `Arc` then drops it).
pub(crate) fn deregister(t: &Arc<dyn Table>) {
    let mut tables = TABLES.lock();
    tables.retain(|x| !Arc::ptr_eq(x, t));
    COUNT.store(tables.len(), Ordering::Relaxed);
}

/// Whether any table exists. Read in `try_finish` with operations stopped: every insert
/// (inside an operation) is ordered before it by the stop handshake, and so is its table's
/// registration, which precedes the insert.
#[inline]
pub(crate) fn any() -> bool {
    COUNT.load(Ordering::Relaxed) != 0
}

/// Mark setup: a new cycle, whose rounds trace every live entry's value once.
pub(crate) fn start_cycle() {
    EPOCH.fetch_add(1, Ordering::Relaxed);
}

/// One round of the fixed point (module header), with operations stopped; `tracer` queues
/// what it finds for the mark workers. Returns whether it traced anything.
pub(crate) fn trace_round(tracer: &mut Tracer) -> bool {
    let epoch = EPOCH.load(Ordering::Relaxed);
    let tables = TABLES.lock();
    let mut traced = 0;
    for t in tables.iter() {
        traced += t.trace_live(epoch, tracer);
    }
    traced > 0
}

/// Mark termination, with operations stopped and the mark final: drops the dead entries of
/// every table; returns their values, to queue for the dropper once operations resume.
pub(crate) fn settle() -> Vec<Box<dyn Send>> {
    let tables = TABLES.lock();
    tables.iter().flat_map(|t| t.drop_dead()).collect()
}
