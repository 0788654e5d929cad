//! The collector's side of `gc_core::metrics` (Go's `runtime/metrics`): figures recorded
//! for it (every stop-the-world pause in a histogram, per-class GC CPU time, the marked
//! heap, when the CPU limiter last switched on) and the readers that gather the others
//! from where they live (heap counters, page heap, cycle records, pacer).
//!
//! Nothing here stops the world or flushes a thread cache: readers load atomics and take
//! only short-held locks (the heap lock, `CYCLES`, the pacer's `CONTROL`), one at a time,
//! none while holding another, so they may run anywhere: a `Drop`, a `Trace` impl, a
//! thread-local destructor. Recorders are atomics written by the GC thread at mark
//! termination and at each pause. See the collector overview (`crate::design::collector`).

pub(crate) use crate::alloc::heap::HeapMemory;
use crate::alloc::heap::HEAP;
use crate::alloc::sizeclass::{CLASSES, NUM_SIZE_CLASSES};
use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// Sub-buckets per power of two in the pause histogram.
const SUB: usize = 4;
/// Pauses of `2^MAX_EXP` ns (about 18 minutes) and longer share the last bucket.
const MAX_EXP: usize = 40;
/// Buckets of the pause histogram: `[0, 1 ns)`, then `SUB` per power of two from 1 ns to
/// `2^MAX_EXP` ns, then `[2^MAX_EXP ns, +Inf)`.
pub(crate) const PAUSE_BUCKETS: usize = 1 + SUB * MAX_EXP + 1;

crate::sync::global! {
    /// Counts of pauses per bucket of [`pause_bucket`].
    static PAUSES: [AtomicU64; PAUSE_BUCKETS] = crate::sync::array![AtomicU64::new(0); PAUSE_BUCKETS];
}

/// Cumulative GC CPU time by Go's classes, and the per-cycle figures Go reports.
struct Cpu {
    assist_ns: AtomicU64,
    dedicated_ns: AtomicU64,
    idle_ns: AtomicU64,
    pause_ns: AtomicU64,
}

crate::sync::global! {
    static CPU: Cpu = Cpu {
        assist_ns: AtomicU64::new(0),
        dedicated_ns: AtomicU64::new(0),
        idle_ns: AtomicU64::new(0),
        pause_ns: AtomicU64::new(0),
    };
}
crate::sync::global! {
    /// Heap bytes marked by the last cycle (Go's `heapMarked`, without external memory).
    static MARKED: AtomicU64 = AtomicU64::new(0);
}
crate::sync::global! {
    /// Cycles whose mark termination has been recorded here.
    static COMPLETED: AtomicU32 = AtomicU32::new(0);
}
crate::sync::global! {
    /// The cycle (1-based) in which the CPU limiter last switched on; 0 = never.
    static LIMITER_ENABLED: AtomicU32 = AtomicU32::new(0);
}

/// The histogram bucket of a pause of `ns` nanoseconds (module constants).
pub(crate) fn pause_bucket(ns: u64) -> usize {
    if ns == 0 {
        return 0;
    }
    let e = 63 - ns.leading_zeros() as usize;
    if e >= MAX_EXP {
        return PAUSE_BUCKETS - 1;
    }
    let sub = if e >= 2 {
        (ns >> (e - 2)) as usize
    } else {
        (ns << (2 - e)) as usize
    } & (SUB - 1);
    1 + SUB * e + sub
}

/// The `PAUSE_BUCKETS + 1` bucket boundaries, in nanoseconds: bucket `i` holds the pauses
/// in `[b[i], b[i + 1])`; the last boundary is +Inf.
pub(crate) fn pause_boundaries_ns() -> impl Iterator<Item = f64> {
    std::iter::once(0.0)
        .chain((0..MAX_EXP).flat_map(|e| {
            (0..SUB).map(move |s| (1u64 << e) as f64 * (SUB + s) as f64 / SUB as f64)
        }))
        .chain([(1u64 << MAX_EXP) as f64, f64::INFINITY])
}

/// One stop-the-world pause ended (mark setup, a mark termination attempt, or under
/// `gcstoptheworld` the whole stopped stretch).
pub(crate) fn note_pause(ns: u64) {
    PAUSES[pause_bucket(ns)].fetch_add(1, Ordering::Relaxed);
}

/// A cycle's mark termination, with its figures.
pub(crate) struct CycleFigures {
    pub marked_bytes: u64,
    pub assist_ns: u64,
    /// Background workers (dedicated and fractional).
    pub dedicated_ns: u64,
    pub idle_ns: u64,
    /// Pause wall time times `GOMAXPROCS`.
    pub pause_cpu_ns: u64,
}

/// Records a finished mark (called once per cycle at mark termination).
pub(crate) fn note_cycle(f: &CycleFigures) {
    MARKED.store(f.marked_bytes, Ordering::Relaxed);
    CPU.assist_ns.fetch_add(f.assist_ns, Ordering::Relaxed);
    CPU.dedicated_ns
        .fetch_add(f.dedicated_ns, Ordering::Relaxed);
    CPU.idle_ns.fetch_add(f.idle_ns, Ordering::Relaxed);
    CPU.pause_ns.fetch_add(f.pause_cpu_ns, Ordering::Relaxed);
    COMPLETED.fetch_add(1, Ordering::Relaxed);
}

/// The CPU limiter switched on (Go records `numgc + 1`: the cycle in progress or next).
pub(crate) fn note_limiter_enabled() {
    LIMITER_ENABLED.store(
        COMPLETED.load(Ordering::Relaxed).saturating_add(1),
        Ordering::Relaxed,
    );
}

/// Allocation counters as the heap holds them now, without flushing thread caches (small
/// objects count as allocated when their cache gives the span back; the rest are exact).
pub(crate) struct HeapCounts {
    /// Per size class (index 0 unused: large objects are below), objects allocated.
    pub small_mallocs: [u64; NUM_SIZE_CLASSES],
    /// Per size class, objects freed.
    pub small_frees: [u64; NUM_SIZE_CLASSES],
    pub large_mallocs: u64,
    pub large_frees: u64,
    pub large_alloc_bytes: u64,
    pub large_free_bytes: u64,
    /// Objects placed in an existing tiny block (Go's `tinyAllocs`).
    pub tiny_allocs: u64,
}

impl HeapCounts {
    /// Reads the counters (atomics only).
    pub(crate) fn read() -> HeapCounts {
        let c = &HEAP.counters;
        let mut out = HeapCounts {
            small_mallocs: [0; NUM_SIZE_CLASSES],
            small_frees: [0; NUM_SIZE_CLASSES],
            large_mallocs: c.large_mallocs.load(Ordering::Relaxed),
            large_frees: c.large_frees.load(Ordering::Relaxed),
            large_alloc_bytes: c.large_alloc_bytes.load(Ordering::Relaxed),
            large_free_bytes: c.large_free_bytes.load(Ordering::Relaxed),
            tiny_allocs: c.tiny_allocs.load(Ordering::Relaxed),
        };
        for class in 1..NUM_SIZE_CLASSES {
            // Frees first: a free counted after its malloc was read would make
            // `mallocs - frees` go below the truth, never above.
            out.small_frees[class] = c.small_frees(class);
            out.small_mallocs[class] = c.small_mallocs[class].load(Ordering::Relaxed);
        }
        out
    }

    /// Objects allocated (tiny blocks, not the objects in them: Go's definition).
    pub(crate) fn alloc_objects(&self) -> u64 {
        self.small_mallocs.iter().sum::<u64>() + self.large_mallocs
    }

    /// Objects freed (tiny blocks, as for allocations).
    pub(crate) fn free_objects(&self) -> u64 {
        self.small_frees.iter().sum::<u64>() + self.large_frees
    }

    /// Bytes allocated (size-class bytes; whole pages for large objects).
    pub(crate) fn alloc_bytes(&self) -> u64 {
        class_bytes(&self.small_mallocs) + self.large_alloc_bytes
    }

    /// Bytes freed.
    pub(crate) fn free_bytes(&self) -> u64 {
        class_bytes(&self.small_frees) + self.large_free_bytes
    }
}

fn class_bytes(counts: &[u64; NUM_SIZE_CLASSES]) -> u64 {
    counts
        .iter()
        .zip(CLASSES.iter())
        .map(|(n, k)| n * u64::from(k.size))
        .sum()
}

/// Object sizes of the size classes 1.. (class 0 is large objects).
pub(crate) fn class_sizes() -> impl Iterator<Item = u32> {
    CLASSES[1..].iter().map(|k| k.size)
}

/// Starts the runtime if nothing has yet (the pacer's settings come from the environment).
pub(crate) fn prepare() {
    super::init();
}

/// External memory (`CountingAllocator`): `(live, cumulative)` bytes.
pub(crate) fn external() -> (u64, u64) {
    (
        crate::alloc::external::live(),
        crate::alloc::external::total(),
    )
}

/// Bytes `CountingAllocator`'s recycle caches keep (`alloc/recycle.rs`).
pub(crate) fn external_kept() -> u64 {
    crate::alloc::recycle::kept_all()
}

/// Page heap figures (the heap lock, briefly).
pub(crate) fn memory() -> HeapMemory {
    HEAP.memory()
}

/// Completed and forced cycles (the `CYCLES` lock, briefly).
pub(crate) fn cycles() -> (u32, u32) {
    let c = super::stats::cycles();
    (c.num_gc, c.num_forced_gc)
}

/// Pacer settings and goal (the pacer's lock, briefly): `(goal, gogc, memory_limit)`.
pub(crate) fn pacer() -> (u64, Option<u32>, u64) {
    super::cycle::pacer_settings()
}

/// `GOMAXPROCS` as the runtime uses it.
pub(crate) fn gomaxprocs() -> u64 {
    super::config().gomaxprocs.max(1) as u64
}

/// Heap bytes marked by the last cycle.
pub(crate) fn marked_bytes() -> u64 {
    MARKED.load(Ordering::Relaxed)
}

/// Cumulative GC CPU nanoseconds: `(assist, dedicated, idle, pause)`.
pub(crate) fn cpu_ns() -> (u64, u64, u64, u64) {
    (
        CPU.assist_ns.load(Ordering::Relaxed),
        CPU.dedicated_ns.load(Ordering::Relaxed),
        CPU.idle_ns.load(Ordering::Relaxed),
        CPU.pause_ns.load(Ordering::Relaxed),
    )
}

/// The cycle the CPU limiter last switched on in (0 = never).
pub(crate) fn limiter_last_enabled() -> u32 {
    LIMITER_ENABLED.load(Ordering::Relaxed)
}

/// The pause histogram's counts, into `out` (cleared first).
pub(crate) fn pause_counts(out: &mut Vec<u64>) {
    out.clear();
    out.extend(PAUSES.iter().map(|c| c.load(Ordering::Relaxed)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pause_lands_in_the_bucket_whose_bounds_hold_it() {
        let b: Vec<f64> = pause_boundaries_ns().collect();
        assert_eq!(b.len(), PAUSE_BUCKETS + 1);
        assert!(b.windows(2).all(|w| w[0] < w[1]), "strictly increasing");
        let mut cases = vec![0u64, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1000, 12_345, u64::MAX];
        cases.extend((0..64).map(|e| 1u64 << e));
        cases.extend((1..64).map(|e| (1u64 << e) - 1));
        cases.extend((2..63).map(|e| (1u64 << e) + (1u64 << (e - 1)) + 1));
        for ns in cases {
            let i = pause_bucket(ns);
            assert!(i < PAUSE_BUCKETS, "{ns}");
            assert!(
                b[i] <= ns as f64 && (ns as f64) < b[i + 1],
                "{ns} in bucket {i}: [{}, {})",
                b[i],
                b[i + 1]
            );
        }
    }

    #[test]
    fn recorded_pauses_are_counted_once_each() {
        let mut before = Vec::new();
        pause_counts(&mut before);
        for ns in [5u64, 50_000, 50_001, 7_000_000] {
            note_pause(ns);
        }
        let mut after = Vec::new();
        pause_counts(&mut after);
        // Cycles of other unit tests may add pauses meanwhile, never remove one.
        let added: u64 = after.iter().zip(&before).map(|(a, b)| a - b).sum();
        assert!(added >= 4);
        for ns in [5u64, 50_000, 7_000_000] {
            let i = pause_bucket(ns);
            assert!(after[i] > before[i]);
        }
    }
}
