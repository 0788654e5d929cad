//! The metrics this runtime has (Go's `runtime/metrics` descriptions, `description.go`):
//! `Description`, the table `METRICS` of every metric's name, kind, cumulativeness and
//! description with the figure it reads (`Id`), and `all`. A private child of `metrics.rs`,
//! which re-exports its public items.
//!
//! Invariant: `METRICS` is sorted by name with no name twice (a test checks it), since
//! `read` (`metrics_reader.rs`) finds a name by binary search; names are `/path:unit`.
//! Nothing here is mutable: the table is a `static` slice, read by any thread without a
//! lock. The collector overview is `crate::design::collector`.

use super::ValueKind;

/// A metric this runtime has (Go's `metrics.Description`).
///
/// # Examples
///
/// ```
/// for d in gc_core::metrics::all() {
///     assert!(d.name.starts_with('/') && d.name.contains(':'));
///     assert!(!d.description.is_empty());
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Description {
    /// `/path:unit`, Go's name where the metric is Go's.
    pub name: &'static str,
    /// What it measures, and how it differs from Go's where it does.
    pub description: &'static str,
    /// The kind [`read`](super::read) returns for it.
    pub kind: ValueKind,
    /// Whether it only grows (a running total since the program started).
    pub cumulative: bool,
}

/// Which figure a metric reads.
#[derive(Clone, Copy, Debug)]
pub(super) enum Id {
    CpuAssist,
    CpuDedicated,
    CpuIdle,
    CpuPause,
    CpuTotal,
    CyclesAutomatic,
    CyclesForced,
    CyclesTotal,
    Gogc,
    Gomemlimit,
    AllocsBySize,
    AllocBytes,
    AllocObjects,
    FreesBySize,
    FreeBytes,
    FreeObjects,
    Goal,
    Live,
    Objects,
    TinyAllocs,
    LimiterLastEnabled,
    Pauses,
    ExternalAllocs,
    ExternalKept,
    ExternalLive,
    MemFree,
    MemObjects,
    MemReleased,
    MemUnused,
    MemMetadata,
    MemTotal,
    Gomaxprocs,
}

use ValueKind::{Float64 as F, Float64Histogram as H, Uint64 as U};

/// Every metric, sorted by name (a test checks it; `read` searches it).
#[rustfmt::skip]
pub(super) static METRICS: &[(Id, Description)] = &[
    (Id::CpuAssist, d("/cpu/classes/gc/mark/assist:cpu-seconds", F, true,
        "CPU time allocating threads spent in mark assists (helping the GC keep up with \
         allocation). Added at each mark termination.")),
    (Id::CpuDedicated, d("/cpu/classes/gc/mark/dedicated:cpu-seconds", F, true,
        "CPU time of the background mark workers, dedicated and fractional (Go counts both \
         here). Added at each mark termination.")),
    (Id::CpuIdle, d("/cpu/classes/gc/mark/idle:cpu-seconds", F, true,
        "CPU time of mark workers running on otherwise idle procs. Added at each mark \
         termination.")),
    (Id::CpuPause, d("/cpu/classes/gc/pause:cpu-seconds", F, true,
        "Stop-the-world pause time times GOMAXPROCS, as Go counts it. Added at each mark \
         termination.")),
    (Id::CpuTotal, d("/cpu/classes/gc/total:cpu-seconds", F, true,
        "Sum of the /cpu/classes/gc/* classes. The concurrent sweep termination, unroot pass \
         and background sweeping are not in it.")),
    (Id::ExternalAllocs, d("/gc-core/external/allocs:bytes", U, true,
        "Not a Go metric: bytes allocated outside the heap through CountingAllocator \
         (MemStats::external_total_alloc); 0 without it.")),
    (Id::ExternalKept, d("/gc-core/external/kept:bytes", U, false,
        "Not a Go metric: small blocks that garbage freed, which CountingAllocator's \
         mutator threads keep for their next allocations of the same layout instead of \
         freeing them (at most about 4 MiB in all; counted as freed in \
         /gc-core/external/live:bytes), as of each thread's last drain or sweep \
         (MemStats::external_kept).")),
    (Id::ExternalLive, d("/gc-core/external/live:bytes", U, false,
        "Not a Go metric: bytes allocated through CountingAllocator and not yet freed \
         (MemStats::external_alloc), which the pacer counts as heap; 0 without it.")),
    (Id::CyclesAutomatic, d("/gc/cycles/automatic:gc-cycles", U, true,
        "Completed cycles started by the runtime (the pacer's trigger).")),
    (Id::CyclesForced, d("/gc/cycles/forced:gc-cycles", U, true,
        "Completed cycles forced by collect() or free_os_memory().")),
    (Id::CyclesTotal, d("/gc/cycles/total:gc-cycles", U, true,
        "Completed cycles (MemStats::num_gc).")),
    (Id::Gogc, d("/gc/gogc:percent", U, false,
        "GOGC, from the environment or set_gc_percent; u64::MAX when off (Go's uint64(-1)).")),
    (Id::Gomemlimit, d("/gc/gomemlimit:bytes", U, false,
        "The soft memory limit (GOMEMLIMIT, set_memory_limit); i64::MAX when none.")),
    (Id::AllocsBySize, d("/gc/heap/allocs-by-size:bytes", H, true,
        "Objects allocated, by size class (bucket [size of the class below + 1, size + 1); \
         the last bucket is large objects). Tiny objects count as their 16-byte blocks. May \
         lag by what thread caches hold.")),
    (Id::AllocBytes, d("/gc/heap/allocs:bytes", U, true,
        "Bytes allocated in the heap, at size-class granularity (MemStats::total_alloc). May \
         lag by what thread caches hold.")),
    (Id::AllocObjects, d("/gc/heap/allocs:objects", U, true,
        "Objects allocated in the heap, tiny blocks counted but not the tiny objects in them \
         (MemStats::mallocs minus /gc/heap/tiny/allocs:objects). May lag by what thread \
         caches hold.")),
    (Id::FreesBySize, d("/gc/heap/frees-by-size:bytes", H, true,
        "Objects freed by the sweeper, by size class (buckets as allocs-by-size).")),
    (Id::FreeBytes, d("/gc/heap/frees:bytes", U, true,
        "Bytes freed by the sweeper (size-class granularity).")),
    (Id::FreeObjects, d("/gc/heap/frees:objects", U, true,
        "Objects freed by the sweeper, tiny blocks counted but not the tiny objects in them.")),
    (Id::Goal, d("/gc/heap/goal:bytes", U, false,
        "The heap goal of the next cycle (MemStats::next_gc). Compared with heap bytes plus \
         the external memory CountingAllocator counts.")),
    (Id::Live, d("/gc/heap/live:bytes", U, false,
        "Heap bytes marked live by the last cycle (size-class granularity), without external \
         memory.")),
    (Id::Objects, d("/gc/heap/objects:objects", U, false,
        "Objects in the heap, live or not yet swept (MemStats::heap_objects). May lag by what \
         thread caches hold.")),
    (Id::TinyAllocs, d("/gc/heap/tiny/allocs:objects", U, true,
        "Objects placed in an existing 16-byte tiny block (small values without Gc or drop \
         glue). May lag by what thread caches hold.")),
    (Id::LimiterLastEnabled, d("/gc/limiter/last-enabled:gc-cycle", U, false,
        "The cycle (1-based) in which the GC CPU limiter last switched on; 0 if never.")),
    (Id::Pauses, d("/gc/pauses:seconds", H, true,
        "Every stop-the-world pause of the collector, individually (Go 1.21's name; same \
         data as /sched/pauses/total/gc:seconds).")),
    (Id::MemFree, d("/memory/classes/heap/free:bytes", U, false,
        "Free heap pages not yet returned to the OS (MemStats::heap_idle minus heap_released).")),
    (Id::MemObjects, d("/memory/classes/heap/objects:bytes", U, false,
        "Bytes of heap objects, live or not yet swept (MemStats::heap_alloc). May lag by what \
         thread caches hold.")),
    (Id::MemReleased, d("/memory/classes/heap/released:bytes", U, false,
        "Free heap pages returned to the OS (MemStats::heap_released).")),
    (Id::MemUnused, d("/memory/classes/heap/unused:bytes", U, false,
        "Bytes of in-use spans holding no object (MemStats::heap_inuse minus heap_alloc).")),
    (Id::MemMetadata, d("/memory/classes/metadata/other:bytes", U, false,
        "The runtime's metadata: span structures, their side tables, the arena page tables.")),
    (Id::MemTotal, d("/memory/classes/total:bytes", U, false,
        "All memory the runtime mapped or allocated for the heap: the sum of \
         /memory/classes/* (MemStats::sys).")),
    (Id::Gomaxprocs, d("/sched/gomaxprocs:threads", U, false,
        "GOMAXPROCS: the procs the collector plans its workers for.")),
    (Id::Pauses, d("/sched/pauses/total/gc:seconds", H, true,
        "Every stop-the-world pause of the collector, individually (Go 1.22's name for \
         /gc/pauses:seconds).")),
];

const fn d(
    name: &'static str,
    kind: ValueKind,
    cumulative: bool,
    description: &'static str,
) -> Description {
    Description {
        name,
        description,
        kind,
        cumulative,
    }
}

/// The metrics this runtime has, sorted by name (Go's `metrics.All`).
///
/// ```
/// let all = gc_core::metrics::all();
/// assert!(all.iter().any(|d| d.name == "/gc/heap/goal:bytes"));
/// ```
pub fn all() -> Vec<Description> {
    METRICS.iter().map(|(_, d)| *d).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sorted_unique_and_well_formed() {
        let names: Vec<&str> = METRICS.iter().map(|(_, d)| d.name).collect();
        assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted, unique");
        for n in names {
            let (path, unit) = n.split_once(':').expect("a unit");
            assert!(
                path.starts_with('/') && !path.ends_with('/') && !unit.is_empty(),
                "{n}"
            );
            assert!(!unit.contains(':') && !path.contains("//"), "{n}");
        }
    }
}
