//! `gc_core::metrics` (Go's `runtime/metrics`): after `collect()` on a quiet heap the
//! figures agree with `mem_stats()`; reads never block on the collector (from a thread
//! racing allocations and cycles, from a `Trace` impl run by the marker, from a `Drop`);
//! every listed name reads as its kind; unknown names read as `Bad`; the pause histogram
//! counts every pause (exactly one per cycle under `gcstoptheworld=1`, in a child process).
//!
//! The heap is process-wide: the tests of this file take `SERIAL`, so no other test of
//! this binary allocates while one compares figures.

mod common;

use common::{child, with_watchdog};
use gc_core::metrics::{self, Sample, Value, ValueKind};
use gc_core::{Gc, GcCell, Trace, Tracer};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every metric, read once.
fn read_all() -> HashMap<&'static str, Value> {
    let all = metrics::all();
    let mut samples: Vec<Sample> = all.iter().map(|d| Sample::new(d.name)).collect();
    metrics::read(&mut samples);
    all.iter()
        .map(|d| d.name)
        .zip(samples.into_iter().map(|s| s.value))
        .collect()
}

fn u(m: &HashMap<&'static str, Value>, name: &str) -> u64 {
    m[name]
        .as_u64()
        .unwrap_or_else(|| panic!("{name} is not a u64"))
}

fn f(m: &HashMap<&'static str, Value>, name: &str) -> f64 {
    m[name]
        .as_f64()
        .unwrap_or_else(|| panic!("{name} is not an f64"))
}

fn hist_total(m: &HashMap<&'static str, Value>, name: &str) -> u64 {
    m[name].as_histogram().unwrap().counts.iter().sum()
}

#[derive(Trace)]
struct Pair {
    a: Option<Gc<Pair>>,
    b: Option<Gc<Pair>>,
}

#[test]
fn agrees_with_mem_stats_after_collect() {
    let _s = serial();
    // A mix: kept and dropped 16-byte objects, tiny ones, a large one.
    let kept: Vec<Gc<Pair>> = (0..5_000)
        .map(|_| Gc::new(Pair { a: None, b: None }))
        .collect();
    for i in 0..5_000u32 {
        drop(Gc::new(Pair { a: None, b: None }));
        drop(Gc::new(i));
    }
    let big = Gc::new([7u8; 40_000]);
    gc_core::collect();
    let m1 = read_all();
    let s = gc_core::mem_stats();
    let m2 = read_all();
    for m in [&m1, &m2] {
        let tiny = u(m, "/gc/heap/tiny/allocs:objects");
        // Allocation counts: equal, since the cycle flushed every cache and nothing has
        // allocated since (mem_stats' own flush finds them empty).
        assert_eq!(u(m, "/gc/heap/allocs:bytes"), s.total_alloc);
        assert_eq!(u(m, "/gc/heap/allocs:objects") + tiny, s.mallocs);
        assert_eq!(u(m, "/gc/heap/frees:objects") + tiny, s.frees);
        assert_eq!(u(m, "/gc/heap/frees:bytes"), s.total_alloc - s.heap_alloc);
        assert_eq!(u(m, "/gc/heap/objects:objects"), s.heap_objects);
        assert_eq!(u(m, "/memory/classes/heap/objects:bytes"), s.heap_alloc);
        // The marked heap is what the sweep left.
        assert_eq!(u(m, "/gc/heap/live:bytes"), s.heap_alloc);
        // Page heap: the scavenger may release pages between the reads, moving bytes from
        // free to released, never elsewhere.
        assert_eq!(
            u(m, "/memory/classes/heap/unused:bytes"),
            s.heap_inuse - s.heap_alloc
        );
        assert_eq!(
            u(m, "/memory/classes/heap/free:bytes") + u(m, "/memory/classes/heap/released:bytes"),
            s.heap_idle
        );
        assert_eq!(u(m, "/memory/classes/total:bytes"), s.sys);
        assert_eq!(
            u(m, "/memory/classes/metadata/other:bytes"),
            s.sys - s.heap_sys
        );
        let classes: u64 = [
            "/memory/classes/heap/objects:bytes",
            "/memory/classes/heap/unused:bytes",
            "/memory/classes/heap/free:bytes",
            "/memory/classes/heap/released:bytes",
            "/memory/classes/metadata/other:bytes",
        ]
        .iter()
        .map(|n| u(m, n))
        .sum();
        assert_eq!(classes, u(m, "/memory/classes/total:bytes"));
        // Cycles and pacer.
        assert_eq!(u(m, "/gc/cycles/total:gc-cycles"), u64::from(s.num_gc));
        assert_eq!(
            u(m, "/gc/cycles/forced:gc-cycles"),
            u64::from(s.num_forced_gc)
        );
        assert_eq!(
            u(m, "/gc/cycles/automatic:gc-cycles"),
            u64::from(s.num_gc - s.num_forced_gc)
        );
        assert_eq!(u(m, "/gc/heap/goal:bytes"), s.next_gc);
        assert_eq!(u(m, "/gc-core/external/live:bytes"), s.external_alloc);
        assert_eq!(
            u(m, "/gc-core/external/allocs:bytes"),
            s.external_total_alloc
        );
        // By size: class i + 1 in counts[i], large objects last.
        for (name, pick) in [
            ("/gc/heap/allocs-by-size:bytes", true),
            ("/gc/heap/frees-by-size:bytes", false),
        ] {
            let h = m[name].as_histogram().unwrap();
            let want: Vec<u64> = s.by_size[1..]
                .iter()
                .chain(&s.by_size[..1])
                .map(|c| if pick { c.mallocs } else { c.frees })
                .collect();
            assert_eq!(h.counts, want, "{name}");
            assert_eq!(h.buckets[1], f64::from(s.by_size[1].size) + 1.0);
        }
        // Every pause is counted: at least mark setup and mark termination per cycle.
        let pauses = hist_total(m, "/gc/pauses:seconds");
        assert!(
            pauses >= 2 * u64::from(s.num_gc),
            "{pauses} pauses, {} cycles",
            s.num_gc
        );
        assert_eq!(m["/gc/pauses:seconds"], m["/sched/pauses/total/gc:seconds"]);
        let cpu = [
            "/cpu/classes/gc/mark/assist:cpu-seconds",
            "/cpu/classes/gc/mark/dedicated:cpu-seconds",
            "/cpu/classes/gc/mark/idle:cpu-seconds",
            "/cpu/classes/gc/pause:cpu-seconds",
        ]
        .iter()
        .map(|n| f(m, n))
        .sum::<f64>();
        let total = f(m, "/cpu/classes/gc/total:cpu-seconds");
        assert!(
            (cpu - total).abs() <= 1e-9 * total.max(1.0),
            "{cpu} vs {total}"
        );
        assert!(f(m, "/cpu/classes/gc/pause:cpu-seconds") > 0.0);
    }
    // Knobs read back as set.
    let old = gc_core::set_gc_percent(150);
    assert_eq!(u(&read_all(), "/gc/gogc:percent"), 150);
    gc_core::set_gc_percent(-1);
    assert_eq!(u(&read_all(), "/gc/gogc:percent"), u64::MAX);
    gc_core::set_gc_percent(old);
    let limit = gc_core::set_memory_limit(-1);
    assert_eq!(u(&read_all(), "/gc/gomemlimit:bytes"), limit as u64);
    assert!(u(&read_all(), "/sched/gomaxprocs:threads") >= 1);
    drop((kept, big));
}

#[test]
fn every_listed_name_is_well_formed_unique_and_reads_as_its_kind() {
    let _s = serial();
    let all = metrics::all();
    let mut names: Vec<&str> = all.iter().map(|d| d.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all.len(), "unique names");
    for d in &all {
        let (path, unit) = d.name.split_once(':').expect("/path:unit");
        assert!(
            path.starts_with('/') && path.len() > 1 && !path.ends_with('/'),
            "{}",
            d.name
        );
        assert!(!unit.is_empty() && !unit.contains(':'), "{}", d.name);
        assert!(!d.description.is_empty());
        assert_ne!(d.kind, ValueKind::Bad);
        if d.kind == ValueKind::Float64Histogram {
            assert!(d.cumulative, "{}: distributions only grow", d.name);
        }
    }
    gc_core::collect();
    let m = read_all();
    for d in &all {
        assert_eq!(m[d.name].kind(), d.kind, "{}", d.name);
        if let Some(h) = m[d.name].as_histogram() {
            assert_eq!(h.buckets.len(), h.counts.len() + 1, "{}", d.name);
            assert!(h.buckets.windows(2).all(|w| w[0] < w[1]), "{}", d.name);
        }
    }
    // Go's names for the figures this runtime has (a few): present.
    for name in [
        "/gc/heap/allocs:bytes",
        "/gc/heap/goal:bytes",
        "/gc/pauses:seconds",
        "/sched/pauses/total/gc:seconds",
        "/memory/classes/total:bytes",
        "/gc/limiter/last-enabled:gc-cycle",
    ] {
        assert!(names.contains(&name), "{name}");
    }
}

#[test]
fn unknown_names_read_as_bad() {
    let _s = serial();
    let mut samples = [
        Sample::new("/gc/heap/allocs:bytes"),
        Sample::new("/no/such:bytes"),
        Sample::new(""),
        Sample::new(String::from("/gc/heap/allocs")),
        Sample {
            name: "/gc/scan/heap:bytes".into(),
            value: Value::Uint64(7),
        },
    ];
    metrics::read(&mut samples);
    assert!(samples[0].value.as_u64().is_some());
    for s in &samples[1..] {
        assert_eq!(s.value, Value::Bad, "{:?}", s.name);
    }
    metrics::read(&mut []);
}

/// Reads the metrics from a `Trace` impl (inside the collector: a mark worker or assist)
/// and from a `Drop` (on a dropper thread or in `collect()`).
struct Probe {
    next: GcCell<Option<Gc<Probe>>>,
    _guard: DropReads,
}

static TRACE_READS: AtomicU64 = AtomicU64::new(0);
static DROP_READS: AtomicU64 = AtomicU64::new(0);

struct DropReads;
impl Drop for DropReads {
    fn drop(&mut self) {
        // A few reads only: a slow `Drop` on every churned object would pile up drops
        // faster than the dropper runs them.
        if DROP_READS.load(Ordering::Relaxed) < 50 {
            let mut s = [
                Sample::new("/gc/heap/goal:bytes"),
                Sample::new("/gc/pauses:seconds"),
            ];
            metrics::read(&mut s);
            assert!(s[0].value.as_u64().is_some());
            DROP_READS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

// SAFETY: `trace`, `root` and `unroot` forward to the one field holding handles.
unsafe impl Trace for Probe {
    fn needs_trace() -> bool {
        true
    }
    fn drop_runs_user_code() -> bool {
        true
    }
    fn trace(&self, tracer: &mut Tracer) {
        if TRACE_READS.load(Ordering::Relaxed) < 50 {
            let mut s = [
                Sample::new("/gc/heap/allocs:bytes"),
                Sample::new("/memory/classes/total:bytes"),
                Sample::new("/gc/cycles/total:gc-cycles"),
                Sample::new("/gc/heap/goal:bytes"),
            ];
            metrics::read(&mut s);
            TRACE_READS.fetch_add(1, Ordering::Relaxed);
        }
        self.next.trace(tracer);
    }
    unsafe fn root(&mut self) {
        // SAFETY: forwarded (the caller's obligations).
        unsafe { self.next.root() }
    }
    unsafe fn unroot(&mut self) {
        // SAFETY: forwarded.
        unsafe { self.next.unroot() }
    }
}

#[test]
fn reads_never_wait_for_the_collector() {
    let _s = serial();
    with_watchdog("reads racing allocation and cycles", || {
        let stop = Arc::new(AtomicBool::new(false));
        let allocator = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut keep = Vec::new();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if n.is_multiple_of(16) {
                        keep.push(Gc::new(Probe {
                            next: GcCell::new(keep.last().cloned()),
                            _guard: DropReads,
                        }));
                        if keep.len() == 2_000 {
                            keep.clear();
                        }
                    }
                    drop(Gc::new([n; 8]));
                    n += 1;
                }
            })
        };
        let start = read_all();
        let c0 = u(&start, "/gc/cycles/total:gc-cycles");
        let mut last = start;
        let mut reads = 0u64;
        // Until several cycles ran (automatic ones and forced), reading all the time.
        while u(&last, "/gc/cycles/total:gc-cycles") < c0 + 6 {
            if reads.is_multiple_of(200) {
                gc_core::collect();
            }
            let m = read_all();
            for name in [
                "/gc/heap/allocs:bytes",
                "/gc/heap/allocs:objects",
                "/gc/heap/frees:bytes",
                "/gc/cycles/total:gc-cycles",
                "/gc/heap/tiny/allocs:objects",
            ] {
                assert!(u(&m, name) >= u(&last, name), "{name} went backwards");
            }
            assert!(
                hist_total(&m, "/gc/pauses:seconds") >= hist_total(&last, "/gc/pauses:seconds")
            );
            last = m;
            reads += 1;
        }
        stop.store(true, Ordering::Relaxed);
        allocator.join().unwrap();
        gc_core::collect();
        assert!(reads > 0);
        assert!(
            TRACE_READS.load(Ordering::Relaxed) > 0,
            "the marker read metrics"
        );
        assert!(
            DROP_READS.load(Ordering::Relaxed) > 0,
            "a Drop read metrics"
        );
    });
}

#[test]
fn stop_the_world_cycles_pause_once_each() {
    let _s = serial();
    for (vars, exact) in [
        (vec![("GODEBUG", b"gcstoptheworld=1".as_slice())], true),
        (vec![], false),
    ] {
        let run = child::run("child_pause_counts", &vars, &[]);
        run.assert_ok("pause counts");
        let (pauses, cycles) = (run.num("PAUSES="), run.num("CYCLES="));
        assert!(cycles >= 3);
        if exact {
            assert_eq!(pauses, cycles, "one stop per cycle under gcstoptheworld=1");
        } else {
            assert!(pauses >= 2 * cycles, "{pauses} pauses, {cycles} cycles");
        }
    }
}

#[test]
fn child_pause_counts() {
    if !child::is_child() {
        return;
    }
    for _ in 0..3 {
        let _g: Vec<Gc<u64>> = (0..1000).map(Gc::new).collect();
        gc_core::collect();
    }
    let m = read_all();
    println!(
        "PAUSES={}",
        hist_total(&m, "/sched/pauses/total/gc:seconds")
    );
    println!("CYCLES={}", u(&m, "/gc/cycles/total:gc-cycles"));
    println!("PROBE_OK");
}
