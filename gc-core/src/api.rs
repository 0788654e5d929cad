//! The runtime's public interface (mmtk's `memory_manager.rs`, Go's `runtime` and
//! `runtime/debug` functions): every function a program calls on the collector as a whole.
//! Each one delegates to the collector's entry point of the same name (`crate::gc`); the
//! types users hold (`Gc`, `GcCell`, `AtomicGc`, `Pool`) live in the object model. Knobs
//! added later belong here too.

pub use crate::gc::{MemStats, SizeClassStats};

/// Runs a full collection (Go's `runtime.GC()`): waits for a cycle in progress, runs a
/// complete new one, and returns after sweeping has finished, so `mem_stats()` then
/// describes only reachable objects.
///
/// **Drops.** The collector never runs user code itself. A freed object whose drop glue
/// is only the runtime's and the standard library's (`Gc` fields, `Vec`, `String`,
/// `GcCell`) is dropped while it is swept; any other `Drop` (a hand-written one, a
/// `#[trace(skip)]` field's) runs outside the collector: on a dropper thread
/// (`gc-dropper-N`), or here. Before returning, `collect()` runs on the calling thread
/// every such `Drop` still queued, including those of everything this cycle freed, and
/// waits for the drops dropper threads are running, except one that has run for more than
/// 100 ms (a `Drop` that blocks: `collect()` returns without it). The drops of earlier
/// cycles' garbage are done before its cycle starts (unless other threads keep starting
/// cycles), so what such a `Drop` releases is freed by this cycle, as when drops ran in the
/// sweep. Called from inside a
/// `Drop`, it collects but leaves the queued drops to the dropper threads.
///
/// Called from inside the collector (a `Trace` impl, or a panic hook while the runtime
/// panics) it returns at once: the cycle would wait for the caller.
///
/// # Examples
///
/// ```
/// use gc_core::{Gc, GcCell, Trace};
///
/// #[derive(Trace)]
/// struct Node { next: GcCell<Option<Gc<Node>>> }
///
/// let a = Gc::new(Node { next: GcCell::new(None) });
/// let b = Gc::new(Node { next: GcCell::new(Some(a.clone())) });
/// *a.next.borrow_mut() = Some(b.clone()); // a <-> b
/// let watch = Gc::downgrade(&a);
/// drop((a, b));
/// gc_core::collect(); // a full cycle: the unreachable pair is freed
/// assert!(watch.upgrade().is_none());
/// ```
pub fn collect() {
    crate::gc::collect()
}

/// Sets GOGC (`debug.SetGCPercent`): a negative value turns automatic collection off.
/// Returns the previous setting (-1 for off). Safe to call from anywhere, a `Drop` or a
/// `Trace` impl included: it only takes the pacer's lock, which no one holds while waiting.
///
/// # Examples
///
/// ```
/// let old = gc_core::set_gc_percent(50); // collect when the heap grows by half
/// assert_eq!(gc_core::set_gc_percent(-1), 50); // off: only `collect()` and the limit
/// gc_core::set_gc_percent(old);
/// ```
pub fn set_gc_percent(percent: i32) -> i32 {
    crate::gc::set_gc_percent(percent)
}

/// Sets the soft memory limit in bytes (`debug.SetMemoryLimit`); a negative value only
/// reads it. Returns the previous limit (`i64::MAX` = no limit). Safe to call from
/// anywhere, like [`set_gc_percent`].
///
/// # Examples
///
/// ```
/// let old = gc_core::set_memory_limit(512 << 20); // a 512 MiB soft limit
/// assert_eq!(gc_core::set_memory_limit(-1), 512 << 20); // negative: read only
/// gc_core::set_memory_limit(old);
/// ```
pub fn set_memory_limit(bytes: i64) -> i64 {
    crate::gc::set_memory_limit(bytes)
}

/// Returns as much memory to the OS as possible (Go's `debug.FreeOSMemory`): a forced
/// collection, the end of its sweep, then every free heap page released. Safe to call from
/// a `Drop`; from inside the collector (a `Trace` impl) it returns at once, like
/// [`collect`].
///
/// # Examples
///
/// ```
/// let big: Vec<gc_core::Gc<[u64; 512]>> = (0..2048).map(|i| gc_core::Gc::new([i; 512])).collect();
/// drop(big); // 8 MiB of garbage
/// gc_core::free_os_memory();
/// let s = gc_core::mem_stats();
/// assert!(s.heap_released > 0); // free pages went back to the OS
/// ```
pub fn free_os_memory() {
    crate::gc::free_os_memory()
}

/// Reads the statistics (Go's `runtime.ReadMemStats`): briefly stops GC operations and
/// flushes every thread cache so the counts are exact.
///
/// Safe to call from anywhere user code runs (a `Drop`, a `Pool`'s `make`, a thread-local
/// destructor). Called from inside the collector itself (a `Trace` impl run by a mark
/// assist, a panic hook while the runtime panics), it cannot stop operations, since one of
/// them is the caller's: it then reads the counters without flushing the thread caches, so
/// the allocation counts may lag by what the caches hold.
///
/// # Examples
///
/// ```
/// let keep: Vec<gc_core::Gc<[u64; 4]>> = (0..1000).map(|i| gc_core::Gc::new([i; 4])).collect();
/// gc_core::collect();
/// let s = gc_core::mem_stats();
/// assert!(s.heap_objects >= 1000 && s.heap_alloc >= 32 * 1000);
/// assert!(s.heap_inuse <= s.heap_sys && s.num_gc >= 1);
/// # drop(keep);
/// ```
pub fn mem_stats() -> MemStats {
    crate::gc::mem_stats()
}
