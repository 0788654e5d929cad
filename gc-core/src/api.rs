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
/// **Cycles without `collect()`.** Besides the heap trigger (`GOGC`, `GOMEMLIMIT`), a
/// cycle runs when none has ended for 2 minutes (Go's `forcegcperiod`), so a program that
/// stopped allocating still ages its pools and returns idle memory; as in Go, not while
/// `GOGC=off`, not before the first cycle, and it is not counted as forced.
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

/// Sends the runtime's diagnostic lines to `writer` from now on: `GODEBUG` traces
/// (`gctrace`, `gcpacertrace`, `scavtrace`) and warnings (bad environment values, a `Drop`
/// that panicked, a thread that could not be started), one line per `write_all` followed by
/// `"\n"` and a `flush`. By default they go to stderr; [`reset_trace_writer`] goes back.
/// (Go always writes them to stderr.) Which lines exist is still `GODEBUG`'s choice.
///
/// The writer is user code and runs on a thread of its own (`gc-trace-writer`), never
/// inside the collector: the runtime only queues lines for it, so it may block, fail,
/// panic, allocate `Gc`s or call [`collect`] without stalling anything. In detail:
///
/// - **Bounded queue.** At most 1024 lines wait; a line reported while the queue is full
///   is dropped and counted, and once the writer has caught up it receives one line
///   `gc_core: N diagnostic lines dropped (...)`.
/// - **Errors** returned by the writer lose that line; nothing else happens.
/// - **A panic** in the writer (any payload) is caught: the writer is dropped, one warning
///   goes to stderr, and lines go to stderr from then on (as after [`reset_trace_writer`]).
/// - **A writer that blocks** holds up only its own lines (then the queue fills and lines
///   are dropped). Setting another writer, or resetting, while it has been stuck for more
///   than 100 ms starts a fresh writer thread (the stuck one exits when it returns); the
///   lines that were queued for the stuck writer count as dropped.
/// - **Process exit.** Lines still queued when the process exits are lost; call
///   [`flush_trace_writer`] before returning from `main` to have them written. (On
///   stderr, the default, each line is written before the runtime goes on, as before.)
/// - **Fatal errors** (a broken runtime invariant, just before `abort`) always go to
///   stderr, directly.
///
/// Lines reported before the call still go where they were headed; `writer` gets those
/// reported after it.
///
/// **`log` and `tracing` features.** Without a writer set, lines go to the facade instead
/// of stderr when the facade has a consumer, also through the writer thread (loggers and
/// subscribers are user code): with `tracing` when a global default subscriber is set,
/// otherwise with `log` when a logger is installed (`log::max_level()` is not `Off`);
/// otherwise to stderr. All records have target `gc_core`.
/// - `log`: one record per line, the line as its message; warnings at `Warn`, traces at
///   `Info`.
/// - `tracing`: warnings are `WARN` events, pacer and scavenger lines `INFO` events, each
///   with a `kind` field (`warning`, `gcpacertrace`, `scavtrace`) and the line as message.
///   A gctrace line becomes an `INFO` span `gc_cycle` (fields `cycle`, `forced`), entered
///   on the writer thread after the cycle ended, holding three `gc phase` events
///   (`cycle`, `phase` = `mark_setup` / `concurrent_mark` / `mark_termination`,
///   `stop_the_world`, `duration_ns`) and one event with the line as message and its
///   figures as fields (`kind = "gctrace"`, `cycle`, `forced`, `assist_cpu_ns`,
///   `background_cpu_ns`, `idle_cpu_ns`, `heap_start_mb`, `heap_end_mb`,
///   `heap_marked_mb`, `goal_mb`, `procs`). The span's timestamps are the writer
///   thread's, not the cycle's: the subscriber cannot run inside the collector.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use std::sync::{Arc, Mutex};
///
/// // Collect the lines in memory (GODEBUG=gctrace=1 would put one per cycle here).
/// #[derive(Clone, Default)]
/// struct Lines(Arc<Mutex<Vec<u8>>>);
/// impl Write for Lines {
///     fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
///         self.0.lock().unwrap().extend_from_slice(buf);
///         Ok(buf.len())
///     }
///     fn flush(&mut self) -> std::io::Result<()> {
///         Ok(())
///     }
/// }
///
/// let lines = Lines::default();
/// gc_core::set_trace_writer(lines.clone());
/// gc_core::collect();
/// assert!(gc_core::flush_trace_writer(std::time::Duration::from_secs(10)));
/// gc_core::reset_trace_writer(); // back to stderr
/// ```
pub fn set_trace_writer(writer: impl std::io::Write + Send + 'static) {
    crate::diag::set_sink(Some(Box::new(writer)));
}

/// Sends diagnostic lines to the default again: stderr (or, with the `log` / `tracing`
/// features, the facade if it has a consumer), after [`set_trace_writer`]. The old writer
/// receives the lines reported before the call and is then dropped on the writer thread.
///
/// # Examples
///
/// ```
/// gc_core::set_trace_writer(std::io::sink());
/// gc_core::reset_trace_writer();
/// ```
pub fn reset_trace_writer() {
    crate::diag::set_sink(None);
}

/// Waits until every diagnostic line queued for the trace writer (or the `log`/`tracing`
/// facade) has been handed to it, at most `timeout`; returns whether it was. For the end
/// of `main`, so the last lines are not lost at exit. Returns true at once when nothing is
/// queued (lines to stderr are never queued), false at once when called from the writer
/// itself (it would wait for itself).
///
/// # Examples
///
/// ```
/// gc_core::set_trace_writer(std::io::sink());
/// gc_core::collect();
/// assert!(gc_core::flush_trace_writer(std::time::Duration::from_secs(10)));
/// ```
pub fn flush_trace_writer(timeout: std::time::Duration) -> bool {
    crate::diag::flush(timeout)
}

pub use crate::gc::TypeStats;

/// Live objects and bytes per type, largest first (ties by name): what the last completed
/// mark found reachable, as a heap profile shows it (Go's heap profile "inuse" figures, by
/// type instead of by allocation site).
///
/// **Which mark.** Each sweep of a span counts the span's survivors per type, and the
/// census of a cycle is published when the last span of that cycle is swept. So the
/// profile describes the last cycle whose sweep has completed: the objects that cycle's
/// mark found reachable, plus those allocated while it marked (allocated black, or young
/// and still counted at its young scan), minus
/// nothing freed since. Objects allocated after that mark ended are not in it, even if
/// they were allocated before this call; while a later cycle is still sweeping, the profile
/// is the one before it. After [`collect`] returns it is the profile of that collection
/// (or of a later one). Before the first cycle's sweep completes it is empty.
///
/// **Types.** Names are `std::any::type_name` of the `Gc`'s type (`[T]` for slices), one
/// entry per name. Objects whose type the heap does not record are counted in buckets:
/// [`TypeStats::PLAIN_DATA`] (no `Gc` inside and no drop glue: all such types share one descriptor)
/// and [`TypeStats::TINY_BLOCKS`] (the 16-byte class of plain data, where the tiny allocator's blocks
/// are counted one per block, not per value in them). Bytes are size-class bytes (a large
/// object's whole pages), as `MemStats::heap_alloc` counts them.
///
/// **The first call** turns the census on and runs a full collection ([`collect`]) to take
/// the first one, so it costs a cycle; so does any call made before that first census is
/// complete (another thread's first call still collecting); from then on every cycle
/// takes a census. (Off
/// until then because it is not free: the sweeper updates a table per span of one type and
/// walks the survivors of a span holding several, which cost binary-trees 18 about 12%
/// when always on. Go's heap profile likewise samples only while `MemProfileRate` is set.)
/// Called from inside the collector (a `Trace` impl), that first call returns empty.
///
/// **Cost.** Reading copies a list of one entry per type recorded (no stop, no heap walk):
/// cheap enough to call every cycle. The census costs the sweeper one table update per
/// span of one type, one per run of equal types in a span of several.
///
/// Safe to call from anywhere, a `Drop` or a `Trace` impl included.
///
/// # Examples
///
/// ```
/// use gc_core::{Gc, Trace};
///
/// #[derive(Trace)]
/// struct Leaf { next: Option<Gc<Leaf>> }
///
/// let leaves: Vec<Gc<Leaf>> = (0..10).map(|_| Gc::new(Leaf { next: None })).collect();
/// gc_core::collect();
/// let profile = gc_core::heap_profile();
/// let mine = profile.iter().find(|t| t.type_name.ends_with("Leaf")).unwrap();
/// assert_eq!(mine.objects, 10);
/// # drop(leaves);
/// ```
pub fn heap_profile() -> Vec<TypeStats> {
    crate::gc::heap_profile()
}
