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

// This file holds the values a read returns (`Sample`, `Value`, `Float64Histogram`,
// `ValueKind`). The list of metrics (`Description`, `all`) is in `metrics_description.rs`,
// `read` in `metrics_reader.rs`: private children whose public items are re-exported
// below, so the public paths and docs are those of this module.

#[path = "metrics_description.rs"]
mod description;
#[path = "metrics_reader.rs"]
mod reader;

pub use description::{all, Description};
pub use reader::read;
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
