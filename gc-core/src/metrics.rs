//! Go's `runtime/metrics` for this runtime: named figures, read without stopping anything.
//!
//! Every metric has Go's name, unit and meaning (`/gc/heap/allocs:bytes`, ...), where this
//! runtime has the figure; [`all`] lists them with their descriptions, and [`read`] fills
//! in [`Sample`]s by name. Three metrics are this runtime's own, under the `/gc-core/`
//! prefix that no Go metric uses: the memory counted by
//! [`CountingAllocator`](crate::CountingAllocator), and the freed blocks it keeps for reuse.
//!
//! ```
//! use gc_core::metrics::{self, Sample, Value};
//!
//! let mut samples = [
//!     Sample::new("/gc/heap/allocs:bytes"),
//!     Sample::new("/gc/cycles/total:gc-cycles"),
//!     Sample::new("/gc/pauses:seconds"),
//!     Sample::new("/no/such/metric:bytes"),
//! ];
//! gc_core::collect();
//! metrics::read(&mut samples);
//! assert!(samples[0].value.as_u64().is_some());
//! assert!(samples[1].value.as_u64().unwrap() >= 1);
//! let pauses = samples[2].value.as_histogram().unwrap();
//! assert_eq!(pauses.buckets.len(), pauses.counts.len() + 1);
//! assert_eq!(samples[3].value, Value::Bad);
//! ```
//!
//! # Consistency (as Go documents its own)
//!
//! [`read`] never stops the world and never flushes a thread cache (unlike
//! [`mem_stats`](crate::mem_stats), which does both and is exact): it loads counters and
//! takes a few short-held runtime locks, one at a time. So it may be called from anywhere,
//! as often as wanted, a `Drop` and a `Trace` impl included, and while a cycle runs. The
//! price:
//!
//! - **Allocation counts lag** by what thread caches hold: a small object counts as
//!   allocated when its thread's cache gives its span back (at the latest at the next mark
//!   termination, which flushes every cache). `/gc/heap/allocs:*`, `/gc/heap/objects:objects`,
//!   `/gc/heap/tiny/allocs:objects`, `/gc/heap/allocs-by-size:bytes` and
//!   `/memory/classes/heap/objects:bytes` (with `/memory/classes/heap/unused:bytes`, its
//!   complement) may therefore be lower than `mem_stats()` would say. Frees and large
//!   objects are counted at once.
//! - **Samples of one call are not one snapshot**: each group (heap counters, page heap,
//!   cycle records, pacer) is read on its own, so figures of different groups may straddle
//!   a cycle or a sweep. Within the page heap's group (`/memory/classes/*`) the figures are
//!   one snapshot, and they sum to `/memory/classes/total:bytes` exactly.
//! - **Per-cycle figures** (`/cpu/classes/gc/*`, `/gc/heap/live:bytes`) change at mark
//!   termination (Go updates some of them continuously).
//!
//! After [`collect()`](crate::collect) on a quiet heap (no thread allocating), every
//! figure shared with `mem_stats()` agrees with it exactly, except that the scavenger may
//! release pages in between (moving bytes from `/memory/classes/heap/free:bytes` to
//! `/memory/classes/heap/released:bytes`, whose sum stays `heap_idle`).
//!
//! # Where the figures differ from Go's
//!
//! - `/gc/heap/goal:bytes` is compared with heap bytes *plus* the external memory that
//!   `CountingAllocator` counts (the pacer treats them as heap; Go has none).
//! - `/gc/heap/live:bytes` is the heap bytes the last mark marked, without external memory.
//! - `/gc/gogc:percent` reads `u64::MAX` when collection is off (Go's `uint64(-1)`), and
//!   `/gc/gomemlimit:bytes` reads `i64::MAX` when there is no limit (as in Go).
//! - `/cpu/classes/gc/total:cpu-seconds` is the sum of the four classes, as in Go; the GC
//!   thread's concurrent sweep termination and unroot pass (in Go, part of a pause) and the
//!   background sweeper are in none of them (`MemStats::gc_cpu_fraction` counts them).
//!   Under `GODEBUG=gcstoptheworld=1` the mark runs inside the pause, so its CPU time is
//!   counted both as pause and as mark. The dedicated, fractional and idle classes are the
//!   mark threads' CPU time (`CLOCK_THREAD_CPUTIME_ID`), where Go's are the time its procs
//!   spent in the workers: our workers are OS threads the OS may preempt mid-drain. The
//!   assist class is time spent scanning; waits for credit are in no class (as in Go).
//! - `/gc/pauses:seconds` and `/sched/pauses/total/gc:seconds` (the same data, Go 1.22's
//!   name) hold every individual stop: mark setup, each mark-termination attempt (a failed
//!   one resumes and marks on), and under `gcstoptheworld` the one long stop. The buckets
//!   are 4 per power of two from 1 ns, not Go's.
//!
//! # Go metrics left out, and why
//!
//! - `/gc/scan/heap:bytes`, `/gc/scan/stack:bytes`, `/gc/scan/globals:bytes`,
//!   `/gc/scan/total:bytes`: the runtime does not track scannable heap bytes as objects are
//!   allocated (only the scan work the last cycle did), and has no stacks or globals to
//!   scan (roots are counted).
//! - `/cpu/classes/total`, `/cpu/classes/user`, `/cpu/classes/idle`,
//!   `/cpu/classes/scavenge/*`: no process-wide CPU accounting, none for the scavenger.
//! - `/memory/classes/heap/stacks`, `/memory/classes/os-stacks`, `/gc/stack/starting-size`,
//!   `/sched/goroutines`, `/sched/latencies`, `/sched/pauses/stopping/*`,
//!   `/sched/pauses/total/other`, `/sync/mutex/wait/total`, `/cgo/go-to-c-calls`,
//!   `/godebug/*`: no goroutines, stacks, scheduler, cgo or GODEBUG settings counters.
//! - `/memory/classes/metadata/mcache/*`, `/memory/classes/metadata/mspan/*`,
//!   `/memory/classes/profiling/buckets`, `/memory/classes/other`: the runtime's own
//!   metadata is one figure, `/memory/classes/metadata/other:bytes`.
//! - `/gc/heap/frees` of tiny objects and `/gc/heap/allocs` of them are Go's too: tiny
//!   objects are counted only in `/gc/heap/tiny/allocs:objects`, their blocks everywhere.

use crate::gc::metrics_source as src;
use std::borrow::Cow;

/// One metric to read: its name in, its value out (Go's `metrics.Sample`).
///
/// # Examples
///
/// ```
/// use gc_core::metrics::{read, Sample};
///
/// let mut s = [Sample::new("/gc/heap/goal:bytes")];
/// read(&mut s);
/// assert!(s[0].value.as_u64().unwrap() >= 4 << 20); // Go's 4 MB minimum goal
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric's name, as listed by [`all`].
    pub name: Cow<'static, str>,
    /// Set by [`read`]; [`Value::Bad`] for a name this runtime does not have.
    pub value: Value,
}

impl Sample {
    /// A sample of `name` with no value yet ([`Value::Bad`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = gc_core::metrics::Sample::new("/sched/gomaxprocs:threads");
    /// assert_eq!(s.value, gc_core::metrics::Value::Bad); // until `read` fills it in
    /// ```
    pub fn new(name: impl Into<Cow<'static, str>>) -> Sample {
        Sample {
            name: name.into(),
            value: Value::Bad,
        }
    }
}

/// A metric's value (Go's `metrics.Value`).
///
/// # Examples
///
/// ```
/// use gc_core::metrics::{read, Sample, Value};
///
/// let mut s = [Sample::new("/gc/gogc:percent"), Sample::new("/not/a/metric:bytes")];
/// read(&mut s);
/// assert!(matches!(s[0].value, Value::Uint64(_)));
/// assert_eq!(s[1].value, Value::Bad);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub enum Value {
    /// The metric does not exist (Go's `KindBad`).
    #[default]
    Bad,
    /// A count or a size.
    Uint64(u64),
    /// A duration or a ratio.
    Float64(f64),
    /// A distribution.
    Float64Histogram(Float64Histogram),
}

impl Value {
    /// The value's kind.
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::metrics::{Value, ValueKind};
    ///
    /// assert_eq!(Value::Uint64(1).kind(), ValueKind::Uint64);
    /// assert_eq!(Value::Bad.kind(), ValueKind::Bad);
    /// ```
    pub fn kind(&self) -> ValueKind {
        match self {
            Value::Bad => ValueKind::Bad,
            Value::Uint64(_) => ValueKind::Uint64,
            Value::Float64(_) => ValueKind::Float64,
            Value::Float64Histogram(_) => ValueKind::Float64Histogram,
        }
    }

    /// The value if it is a [`Value::Uint64`].
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::metrics::Value;
    ///
    /// assert_eq!(Value::Uint64(7).as_u64(), Some(7));
    /// assert_eq!(Value::Float64(7.0).as_u64(), None);
    /// ```
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Uint64(v) => Some(*v),
            _ => None,
        }
    }

    /// The value if it is a [`Value::Float64`].
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::metrics::{read, Sample};
    ///
    /// let mut s = [Sample::new("/cpu/classes/gc/total:cpu-seconds")];
    /// gc_core::collect();
    /// read(&mut s);
    /// assert!(s[0].value.as_f64().unwrap() > 0.0);
    /// ```
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float64(v) => Some(*v),
            _ => None,
        }
    }

    /// The value if it is a [`Value::Float64Histogram`].
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::metrics::{read, Sample};
    ///
    /// gc_core::collect();
    /// let mut s = [Sample::new("/gc/pauses:seconds")];
    /// read(&mut s);
    /// let pauses = s[0].value.as_histogram().unwrap();
    /// assert!(pauses.counts.iter().sum::<u64>() >= 2); // a cycle stops the world twice
    /// ```
    pub fn as_histogram(&self) -> Option<&Float64Histogram> {
        match self {
            Value::Float64Histogram(h) => Some(h),
            _ => None,
        }
    }
}

/// A distribution (Go's `metrics.Float64Histogram`): `counts[i]` values fell in
/// `[buckets[i], buckets[i + 1])`, so `buckets.len() == counts.len() + 1`. Boundaries
/// increase strictly; the first may be `-Inf` and the last `+Inf`.
///
/// # Examples
///
/// ```
/// use gc_core::metrics::{read, Sample};
///
/// gc_core::collect();
/// let mut s = [Sample::new("/gc/pauses:seconds")];
/// read(&mut s);
/// let h = s[0].value.as_histogram().unwrap();
/// // The longest pause is below the upper bound of the last non-empty bucket.
/// let last = h.counts.iter().rposition(|&c| c > 0).unwrap();
/// assert!(h.buckets[last + 1] > h.buckets[last]);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Float64Histogram {
    /// Values per bucket.
    pub counts: Vec<u64>,
    /// Bucket boundaries.
    pub buckets: Vec<f64>,
}

/// Kinds of [`Value`] (Go's `metrics.ValueKind`).
///
/// # Examples
///
/// ```
/// use gc_core::metrics::{all, ValueKind};
///
/// let goal = all().into_iter().find(|d| d.name == "/gc/heap/goal:bytes").unwrap();
/// assert_eq!(goal.kind, ValueKind::Uint64);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValueKind {
    /// No such metric.
    Bad,
    /// [`Value::Uint64`].
    Uint64,
    /// [`Value::Float64`].
    Float64,
    /// [`Value::Float64Histogram`].
    Float64Histogram,
}

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
    /// The kind [`read`] returns for it.
    pub kind: ValueKind,
    /// Whether it only grows (a running total since the program started).
    pub cumulative: bool,
}

/// Which figure a metric reads.
#[derive(Clone, Copy, Debug)]
enum Id {
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
static METRICS: &[(Id, Description)] = &[
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

/// Fills in the value of every sample by name (Go's `metrics.Read`); a name this runtime
/// does not have gets [`Value::Bad`]. Never panics, never stops the world, never flushes a
/// thread cache: see the module docs for what the figures may lag by. A histogram sample
/// already holding a histogram reuses its vectors.
///
/// # Examples
///
/// ```
/// use gc_core::metrics::{all, read, Sample};
///
/// // Read every metric this runtime has, as Go's `metrics.Read(metrics.All())` idiom does.
/// let mut samples: Vec<Sample> = all().iter().map(|d| Sample::new(d.name)).collect();
/// read(&mut samples);
/// assert!(samples.iter().all(|s| s.value.kind() != gc_core::metrics::ValueKind::Bad));
/// ```
pub fn read(samples: &mut [Sample]) {
    src::prepare();
    let mut r = Reader::default();
    for s in samples {
        let id = METRICS
            .binary_search_by(|(_, d)| d.name.cmp(&s.name))
            .ok()
            .map(|i| METRICS[i].0);
        match id {
            None => s.value = Value::Bad,
            Some(id) => r.fill(id, &mut s.value),
        }
    }
}

/// The figure groups of one `read`, each read once, when a sample first needs it.
#[derive(Default)]
struct Reader {
    counts: Option<src::HeapCounts>,
    memory: Option<src::HeapMemory>,
    cycles: Option<(u32, u32)>,
    pacer: Option<(u64, Option<u32>, u64)>,
}

fn secs(ns: u64) -> Value {
    Value::Float64(ns as f64 / 1e9)
}

/// Puts a histogram in `v`, reusing its vectors if it holds one.
fn histogram(v: &mut Value, fill: impl FnOnce(&mut Vec<u64>, &mut Vec<f64>)) {
    if !matches!(v, Value::Float64Histogram(_)) {
        *v = Value::Float64Histogram(Float64Histogram::default());
    }
    if let Value::Float64Histogram(h) = v {
        h.counts.clear();
        h.buckets.clear();
        fill(&mut h.counts, &mut h.buckets);
    }
}

/// Size-class buckets (Go's `sizeClassBuckets`): `[1, size(1) + 1, ..., size(last) + 1,
/// +Inf]`, the last bucket for large objects.
fn size_buckets(b: &mut Vec<f64>) {
    b.push(1.0);
    b.extend(src::class_sizes().map(|s| f64::from(s) + 1.0));
    b.push(f64::INFINITY);
}

impl Reader {
    fn counts(&mut self) -> &src::HeapCounts {
        self.counts.get_or_insert_with(src::HeapCounts::read)
    }

    fn memory(&mut self) -> &src::HeapMemory {
        self.memory.get_or_insert_with(src::memory)
    }

    fn cycles(&mut self) -> (u32, u32) {
        *self.cycles.get_or_insert_with(src::cycles)
    }

    fn pacer(&mut self) -> (u64, Option<u32>, u64) {
        *self.pacer.get_or_insert_with(src::pacer)
    }

    /// Heap object bytes and in-use span bytes: the first kept at most the second (a
    /// counter read a moment apart from the page heap could otherwise pass it).
    fn objects_and_inuse(&mut self) -> (u64, u64) {
        let c = self.counts();
        let objects = c.alloc_bytes().saturating_sub(c.free_bytes());
        let inuse = self.memory().inuse;
        (objects.min(inuse), inuse)
    }

    fn fill(&mut self, id: Id, v: &mut Value) {
        *v = match id {
            Id::CpuAssist => secs(src::cpu_ns().0),
            Id::CpuDedicated => secs(src::cpu_ns().1),
            Id::CpuIdle => secs(src::cpu_ns().2),
            Id::CpuPause => secs(src::cpu_ns().3),
            Id::CpuTotal => {
                let (a, d, i, p) = src::cpu_ns();
                secs(a.saturating_add(d).saturating_add(i).saturating_add(p))
            }
            Id::CyclesAutomatic => {
                let (total, forced) = self.cycles();
                Value::Uint64(u64::from(total.saturating_sub(forced)))
            }
            Id::CyclesForced => Value::Uint64(u64::from(self.cycles().1)),
            Id::CyclesTotal => Value::Uint64(u64::from(self.cycles().0)),
            Id::Gogc => Value::Uint64(self.pacer().1.map_or(u64::MAX, u64::from)),
            Id::Gomemlimit => Value::Uint64(self.pacer().2.min(i64::MAX as u64)),
            Id::AllocsBySize | Id::FreesBySize => {
                let c = self.counts();
                let (small, large) = match id {
                    Id::AllocsBySize => (&c.small_mallocs, c.large_mallocs),
                    _ => (&c.small_frees, c.large_frees),
                };
                histogram(v, |counts, buckets| {
                    counts.extend_from_slice(&small[1..]);
                    counts.push(large);
                    size_buckets(buckets);
                });
                return;
            }
            Id::AllocBytes => Value::Uint64(self.counts().alloc_bytes()),
            Id::AllocObjects => Value::Uint64(self.counts().alloc_objects()),
            Id::FreeBytes => Value::Uint64(self.counts().free_bytes()),
            Id::FreeObjects => Value::Uint64(self.counts().free_objects()),
            Id::Goal => Value::Uint64(self.pacer().0),
            Id::Live => Value::Uint64(src::marked_bytes()),
            Id::Objects => {
                let c = self.counts();
                Value::Uint64(c.alloc_objects().saturating_sub(c.free_objects()))
            }
            Id::TinyAllocs => Value::Uint64(self.counts().tiny_allocs),
            Id::LimiterLastEnabled => Value::Uint64(u64::from(src::limiter_last_enabled())),
            Id::Pauses => {
                histogram(v, |counts, buckets| {
                    src::pause_counts(counts);
                    buckets.extend(src::pause_boundaries_ns().map(|ns| ns / 1e9));
                });
                return;
            }
            Id::ExternalAllocs => Value::Uint64(src::external().1),
            Id::ExternalKept => Value::Uint64(src::external_kept()),
            Id::ExternalLive => Value::Uint64(src::external().0),
            Id::MemFree => {
                let m = self.memory();
                Value::Uint64(m.sys.saturating_sub(m.inuse).saturating_sub(m.released))
            }
            Id::MemObjects => Value::Uint64(self.objects_and_inuse().0),
            Id::MemReleased => Value::Uint64(self.memory().released),
            Id::MemUnused => {
                let (objects, inuse) = self.objects_and_inuse();
                Value::Uint64(inuse - objects)
            }
            Id::MemMetadata => Value::Uint64(self.memory().metadata),
            Id::MemTotal => {
                let m = self.memory();
                Value::Uint64(m.sys.saturating_add(m.metadata))
            }
            Id::Gomaxprocs => Value::Uint64(src::gomaxprocs()),
        };
    }
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

    #[test]
    fn size_buckets_fit_the_counts() {
        let mut b = Vec::new();
        size_buckets(&mut b);
        let c = src::HeapCounts::read();
        assert_eq!(b.len(), c.small_mallocs.len() - 1 + 1 + 1);
        assert!(b.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(b[0], 1.0);
        assert_eq!(b[1], 9.0, "the 8-byte class is [1, 9)");
    }

    #[test]
    fn every_metric_reads_as_its_kind() {
        let mut samples: Vec<Sample> = all().iter().map(|d| Sample::new(d.name)).collect();
        read(&mut samples);
        for (s, d) in samples.iter().zip(all()) {
            assert_eq!(s.value.kind(), d.kind, "{}", d.name);
        }
        // Again, reusing the histograms.
        read(&mut samples);
        for (s, d) in samples.iter().zip(all()) {
            assert_eq!(s.value.kind(), d.kind, "{}", d.name);
            if let Some(h) = s.value.as_histogram() {
                assert_eq!(h.buckets.len(), h.counts.len() + 1, "{}", d.name);
            }
        }
    }
}
