//! Reading the metrics (Go's `metrics.Read`, with the per-metric readers of Go's
//! `runtime/metrics.go`): `read` looks each sample's name up in `METRICS`
//! (`metrics_description.rs`) and fills in its value from the collector's figures
//! (`crate::gc::metrics_source`, `gc/metrics.rs`). A private child of `metrics.rs`, which
//! re-exports `read`.
//!
//! Never stops the world, never flushes a thread cache: a figure is an atomic load or comes
//! from a group read under one short-held lock (the heap lock, `CYCLES`, the pacer's
//! `CONTROL`), each group read at most once per call (`Reader`) and no two locks held at
//! once, so figures of different groups may straddle a cycle (the public module docs say
//! what may lag). Nothing outlives a call. The collector overview is
//! `crate::design::collector`.

use super::description::{Id, METRICS};
use super::{Float64Histogram, Sample, Value};
use crate::gc::metrics_source as src;

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
    use crate::metrics::all;

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
