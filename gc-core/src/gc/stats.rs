//! `MemStats` (Go's `runtime.MemStats`, snake_case) and the per-cycle records behind it.
//!
//! `mem_stats()` stops the world for GC operations and flushes every thread cache, so the
//! allocation counters are exact, as Go's `ReadMemStats` does. Cycle records are written by
//! the collector under the `CYCLES` lock. See the collector overview (`crate::design::collector`).

use crate::alloc::heap::HEAP;
use crate::alloc::sizeclass::{CLASSES, NUM_SIZE_CLASSES};
use crate::sync::{Mutex, MutexGuard, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Allocation counts for one size class (Go's `MemStats.BySize` entry).
///
/// # Examples
///
/// ```
/// let _keep: Vec<gc_core::Gc<[u64; 6]>> = (0..100).map(|i| gc_core::Gc::new([i; 6])).collect();
/// let s = gc_core::mem_stats();
/// let class = s.by_size.iter().find(|c| c.size >= 48).unwrap(); // the 48-byte class
/// assert!(class.mallocs >= 100 && class.mallocs - class.frees >= 100);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SizeClassStats {
    /// Largest object size in the class, in bytes.
    pub size: u32,
    /// Objects allocated in this class, cumulative.
    pub mallocs: u64,
    /// Objects freed from this class, cumulative.
    pub frees: u64,
}

/// Heap and collector statistics, with the definitions of Go's `runtime.MemStats`.
///
/// # Examples
///
/// ```
/// let before = gc_core::mem_stats();
/// let _keep: Vec<gc_core::Gc<[u64; 8]>> = (0..1000).map(|i| gc_core::Gc::new([i; 8])).collect();
/// let after = gc_core::mem_stats();
/// assert!(after.total_alloc - before.total_alloc >= 64 * 1000);
/// assert!(after.mallocs - before.mallocs >= 1000);
/// assert_eq!(after.heap_sys, after.heap_inuse + after.heap_idle);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive] // more of Go's fields may come
pub struct MemStats {
    /// Bytes of allocated heap objects: reachable ones and unreachable ones not yet swept.
    pub heap_alloc: u64,
    /// Heap memory obtained from the OS: `heap_inuse + heap_idle`.
    pub heap_sys: u64,
    /// Bytes in spans with no objects (free pages, released or not).
    pub heap_idle: u64,
    /// Bytes in spans with at least one object (including their free slots).
    pub heap_inuse: u64,
    /// Bytes of idle spans returned to the OS.
    pub heap_released: u64,
    /// Allocated objects: `mallocs - frees`.
    pub heap_objects: u64,
    /// Cumulative bytes allocated (never decreases).
    pub total_alloc: u64,
    /// Cumulative objects allocated (tiny objects included, as in Go).
    pub mallocs: u64,
    /// Cumulative objects freed (tiny objects are counted as freed at once, as in Go).
    pub frees: u64,
    /// All memory the runtime obtained from the OS: the heap plus its metadata.
    pub sys: u64,
    /// The heap goal of the next cycle (`heap_alloc + external_alloc` is kept at or below
    /// it).
    pub next_gc: u64,
    /// Bytes allocated outside the heap through [`CountingAllocator`](crate::CountingAllocator)
    /// and not yet freed (0 without it): a `Gc<String>`'s buffer, a `Vec` inside a node,
    /// and every other allocation of the process. The pacer counts them as heap (not in
    /// Go, where every byte is in the heap).
    pub external_alloc: u64,
    /// Cumulative bytes allocated through `CountingAllocator` (never decreases).
    pub external_total_alloc: u64,
    /// Bytes of small blocks freed through `CountingAllocator` that mutator threads keep to
    /// serve their next allocations of the same layout instead of freeing them (its
    /// recycle cache: at most about 4 MiB in all threads). They count as freed in
    /// `external_alloc` but stay resident; a thread's figure is as of its last drain or
    /// sweep. Ours, not Go's; `/gc-core/external/kept:bytes` in `metrics`.
    pub external_kept: u64,
    /// End of the last cycle, nanoseconds since the Unix epoch (0 before the first).
    pub last_gc: u64,
    /// Completed cycles.
    pub num_gc: u32,
    /// Cycles forced by `collect()`.
    pub num_forced_gc: u32,
    /// Cumulative nanoseconds mutators were held by the collector. A pause is timed from
    /// when the cycle holds the right to stop: waiting for another stop in progress
    /// (`mem_stats`, `debug::heap_snapshot`) is not part of it, as Go times its pauses from
    /// when it holds `worldsema`.
    pub pause_total_ns: u64,
    /// Recent pauses, a circular buffer as in Go: cycle N's pause is at `(N + 255) % 256`.
    pub pause_ns: [u64; 256],
    /// End times of recent pauses (Unix nanoseconds), indexed like `pause_ns`.
    pub pause_end: [u64; 256],
    /// Share of the available CPU (elapsed time x `GOMAXPROCS`) used by the collector.
    pub gc_cpu_fraction: f64,
    /// Per size class counts; entry 0 is large objects (size 0, as in Go). The classes are
    /// Go's with two more, 40 and 56 bytes (`alloc/sizeclass.rs`), and all of them are
    /// listed (Go's `BySize` stops at its 61st class).
    pub by_size: Vec<SizeClassStats>,
}

/// Collector-side records, one update per cycle.
pub(crate) struct Cycles {
    pub num_gc: u32,
    pub num_forced_gc: u32,
    pub pause_total_ns: u64,
    pub pause_ns: [u64; 256],
    pub pause_end: [u64; 256],
    pub last_gc: u64,
    /// Collector CPU time: marking threads x mark time, plus sweep termination.
    pub gc_cpu_ns: u64,
    pub start: Option<Instant>,
}

crate::sync::global! {
    pub(crate) static CYCLES: Mutex<Cycles> = Mutex::new(Cycles {
        num_gc: 0,
        num_forced_gc: 0,
        pause_total_ns: 0,
        pause_ns: [0; 256],
        pause_end: [0; 256],
        last_gc: 0,
        gc_cpu_ns: 0,
        start: None,
    });
}

pub(crate) fn cycles() -> MutexGuard<'static, Cycles> {
    CYCLES.lock()
}

/// Wall-clock nanoseconds since the Unix epoch.
pub(crate) fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl Cycles {
    /// Records a finished cycle's pause; returns its end (Unix nanoseconds).
    pub(crate) fn record(&mut self, forced: bool, pause_ns: u64, gc_cpu_ns: u64) -> u64 {
        let now = unix_nanos();
        let i = (self.num_gc % 256) as usize;
        self.pause_ns[i] = pause_ns;
        self.pause_end[i] = now;
        self.pause_total_ns += pause_ns;
        self.num_gc += 1;
        if forced {
            self.num_forced_gc += 1;
        }
        self.last_gc = now;
        self.gc_cpu_ns += gc_cpu_ns;
        now
    }
}

/// `crate::api::mem_stats`.
pub(crate) fn mem_stats() -> MemStats {
    super::init();
    let stopped = (!super::world::inside_op()).then(|| {
        let stopped = super::world::stop();
        stopped.flush_all_caches();
        stopped
    });
    let c = &HEAP.counters;
    let mut by_size = Vec::with_capacity(NUM_SIZE_CLASSES);
    let (mut heap_alloc, mut total_alloc, mut mallocs, mut frees) = (0u64, 0u64, 0u64, 0u64);
    for (class, k) in CLASSES.iter().enumerate() {
        let (m, f) = if class == 0 {
            (
                c.large_mallocs.load(Ordering::Relaxed),
                c.large_frees.load(Ordering::Relaxed),
            )
        } else {
            (
                c.small_mallocs[class].load(Ordering::Relaxed),
                c.small_frees(class),
            )
        };
        if class != 0 {
            heap_alloc += (m - f) * k.size as u64;
            total_alloc += m * k.size as u64;
        }
        mallocs += m;
        frees += f;
        by_size.push(SizeClassStats {
            size: k.size,
            mallocs: m,
            frees: f,
        });
    }
    let large_alloc = c.large_alloc_bytes.load(Ordering::Relaxed);
    heap_alloc += large_alloc - c.large_free_bytes.load(Ordering::Relaxed);
    total_alloc += large_alloc;
    let tiny = c.tiny_allocs.load(Ordering::Relaxed);
    mallocs += tiny;
    frees += tiny;

    let mem = HEAP.memory();
    let (heap_sys, heap_inuse, metadata) = (mem.sys, mem.inuse, mem.metadata);
    drop(stopped);

    let next_gc = super::cycle::heap_goal();
    let cy = cycles();
    let procs = super::config().gomaxprocs.max(1) as f64;
    let elapsed = cy.start.map_or(0.0, |s| s.elapsed().as_nanos() as f64);
    let gc_ns = cy.gc_cpu_ns as f64 + super::sweep::SWEEP_NS.load(Ordering::Relaxed) as f64;
    MemStats {
        heap_alloc,
        heap_sys,
        heap_idle: heap_sys - heap_inuse,
        heap_inuse,
        heap_released: mem.released,
        heap_objects: mallocs - frees,
        total_alloc,
        mallocs,
        frees,
        sys: heap_sys + metadata,
        next_gc,
        external_alloc: crate::alloc::external::live(),
        external_total_alloc: crate::alloc::external::total(),
        external_kept: crate::alloc::recycle::kept_all(),
        last_gc: cy.last_gc,
        num_gc: cy.num_gc,
        num_forced_gc: cy.num_forced_gc,
        pause_total_ns: cy.pause_total_ns,
        pause_ns: cy.pause_ns,
        pause_end: cy.pause_end,
        gc_cpu_fraction: if elapsed > 0.0 {
            (gc_ns / (elapsed * procs)).min(1.0)
        } else {
            0.0
        },
        by_size,
    }
}
