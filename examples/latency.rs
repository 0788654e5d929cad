//! The pause/latency probe: a large live heap of small objects, then an allocation loop that
//! records how long each iteration took, so every stall the collector causes shows up.
//!
//! ```text
//! cargo run --release --example latency -- [--live-mib N] [--seconds S] [--threads N] [--replace-every K] [--array-mib N] [--list-mib N] [--frozen-mib N]
//! ```
//!
//! `--live-mib` (default 1024) is the target live heap. It is built as groups of slots (a
//! `Vec<Gc<Group>>` on the stack holds the only roots, a few thousand of them); each slot is a
//! `GcCell` holding a complete binary tree of 15 nodes of 24 bytes, so marking chases pointers
//! through tens of millions of small objects. After the build, one `collect()` starts the loop
//! from a clean heap. `--array-mib N` (default 0) adds one huge slice to the live set: a
//! `Gc<[Gc<[u64; 2]>]>` of handles to 16-byte leaves, N MiB with its leaves, so that most of
//! the marking is one object's (marked in 128 KiB oblets, which assists share; before
//! oblets a background worker scanned it whole while assists found nothing else to do).
//! `--list-mib N` (default 0) adds an interpreter's list instead: a
//! `Gc<GcCell<Vec<Gc<[u64; 2]>>>>`, N MiB with its leaves (the `Vec`'s buffer lies outside
//! the heap), into which every slot replacement (below) also stores a fresh leaf at a
//! random index through `borrow_mut`, as an interpreter's `list[i] = x` does. A write
//! guard roots the whole list if its handles are edges (its contract, O(list)); until
//! large cells written in every cycle stayed rooted, every cycle's unroot pass undid that
//! and the next write paid it again, and until `Gc::new` left a large list rooted (as if
//! written then), its first write did. `--frozen-mib N` (default 0) adds a list that is
//! never written: a `Gc<Vec<Gc<[u64; 2]>>>` moved into the heap whole (an interpreter's
//! constant table), N MiB with its leaves, one small object to the marker whose scan is
//! millions of handles outside the heap.
//!
//! Then each of `--threads` mutator threads (default 1) runs the loop for `--seconds`
//! (default 20, fractions allowed). One iteration allocates 16 small objects: normally a
//! short-lived list of 15 16-byte `Temp` nodes plus one 56-byte `Wide` object pointing into
//! it, all dropped at once; every `--replace-every`-th iteration (default 64) instead builds a
//! fresh 15-node tree and stores it into a random slot with `GcCell::set`, so the live heap
//! churns a little (the old tree becomes garbage). After each iteration the thread reads
//! `Instant::now()` and records the gap since the previous iteration in a log-linear histogram
//! (3% resolution, exact maximum) held outside the collected heap; nothing in the measurement
//! allocates in the loop.
//!
//! Output: a few lines of detail, then one summary line:
//!
//! ```text
//! latency: live_mib=.. live_heap_mb=.. seconds=.. threads=.. iterations=.. max_gap_us=.. p999_gap_us=..
//!   p99_gap_us=.. p50_gap_us=.. gaps_over_1ms=.. cycles=.. gc_cpu_fraction=.. pause_total_ms=.. max_pause_ms=..
//!   peak_rss_mb=.. heap_sys_mb=..
//! ```
//!
//! (one line in the real output). Percentiles are the upper edge of their histogram bucket.
//! `cycles`, `pause_total_ms` and `max_pause_ms` cover the loop only (`max_pause_ms` reads
//! `mem_stats().pause_ns`, which keeps the last 256 cycles); `gc_cpu_fraction` is the
//! collector's cumulative share since the program started (build included); `peak_rss_mb` is
//! the process's `VmHWM`; `heap_sys_mb` is read at the end. The `gc:` detail line also
//! gives the runtime's metadata at the end (`mem_stats().sys - heap_sys`: spans, their side
//! tables, the arena's page table), the part of `peak_rss_mb` outside the heap that is the
//! collector's own. `mem_stats()` is only called before and after the loop, never inside
//! it.

mod common;

use gc_core::{Gc, GcCell, Trace};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Long-lived tree node: 24 bytes.
#[derive(Trace)]
struct Node {
    left: Option<Gc<Node>>,
    right: Option<Gc<Node>>,
    val: u64,
}

/// One replaceable part of the live set.
#[derive(Trace)]
struct Slot {
    tree: GcCell<Option<Gc<Node>>>,
}

/// A group of slots: a heap object, so the program holds few roots.
#[derive(Trace)]
struct Group {
    slots: Vec<Gc<Slot>>,
}

/// Short-lived list node: 16 bytes.
#[derive(Trace)]
struct Temp {
    next: Option<Gc<Temp>>,
    val: u64,
}

/// Short-lived object with a few pointers: 56 bytes.
#[derive(Trace)]
struct Wide {
    kids: [Option<Gc<Temp>>; 6],
    val: u64,
}

/// Depth of each slot's tree below its root: 15 nodes.
const TREE_DEPTH: u32 = 3;
/// Slots per group.
const GROUP_SLOTS: usize = 1024;
/// Objects allocated per iteration (the replacement tree allocates 15, close enough).
const BATCH: u64 = 16;

fn tree(depth: u32, val: &mut u64) -> Gc<Node> {
    *val += 1;
    let v = *val;
    if depth == 0 {
        Gc::new(Node {
            left: None,
            right: None,
            val: v,
        })
    } else {
        Gc::new(Node {
            left: Some(tree(depth - 1, val)),
            right: Some(tree(depth - 1, val)),
            val: v,
        })
    }
}

fn group(val: &mut u64) -> Gc<Group> {
    let slots = (0..GROUP_SLOTS)
        .map(|_| {
            Gc::new(Slot {
                tree: GcCell::new(Some(tree(TREE_DEPTH, val))),
            })
        })
        .collect();
    Gc::new(Group { slots })
}

/// Log-linear histogram of nanoseconds: values below 64 exactly, above that 32 buckets per
/// power of two (relative error under 1/32). Fixed size, allocated once before the loop.
struct Hist {
    counts: Vec<u64>,
    total: u64,
    max: u64,
    /// Gaps of 1 ms or more, counted exactly.
    over_1ms: u64,
}

const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
const LINEAR: u64 = 2 * SUB;

impl Hist {
    fn new() -> Hist {
        let buckets = LINEAR + (64 - (SUB_BITS as u64 + 1)) * SUB;
        Hist {
            counts: vec![0; buckets as usize],
            total: 0,
            max: 0,
            over_1ms: 0,
        }
    }

    fn index(v: u64) -> usize {
        if v < LINEAR {
            return v as usize;
        }
        let e = 63 - v.leading_zeros(); // >= SUB_BITS + 1
        let mantissa = (v >> (e - SUB_BITS)) & (SUB - 1);
        (LINEAR + (e - SUB_BITS - 1) as u64 * SUB + mantissa) as usize
    }

    /// Largest value that falls in bucket `i`.
    fn upper(i: usize) -> u64 {
        let i = i as u64;
        if i < LINEAR {
            return i;
        }
        let e = (i - LINEAR) / SUB + SUB_BITS as u64 + 1;
        let mantissa = (i - LINEAR) % SUB;
        let shift = e - SUB_BITS as u64;
        ((SUB + mantissa + 1) << shift) - 1
    }

    fn record(&mut self, ns: u64) {
        self.counts[Hist::index(ns)] += 1;
        self.total += 1;
        self.max = self.max.max(ns);
        self.over_1ms += u64::from(ns >= 1_000_000);
    }

    fn merge(&mut self, other: &Hist) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
        self.over_1ms += other.over_1ms;
    }

    /// The summary line's gap fields, in microseconds: `max_gap_us=.. p999_gap_us=..
    /// p99_gap_us=.. p50_gap_us=..`, and the count `gaps_over_1ms=..`.
    fn summary_fields(&self) -> String {
        let us = |ns: u64| ns as f64 / 1e3;
        format!(
            "max_gap_us={:.1} p999_gap_us={:.1} p99_gap_us={:.1} p50_gap_us={:.1} gaps_over_1ms={}",
            us(self.max),
            us(self.quantile(0.999)),
            us(self.quantile(0.99)),
            us(self.quantile(0.5)),
            self.over_1ms,
        )
    }

    /// The value at quantile `q` (upper edge of its bucket, never above the maximum).
    fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Hist::upper(i).min(self.max);
            }
        }
        self.max
    }
}

struct Args {
    live_mib: u64,
    seconds: f64,
    threads: usize,
    replace_every: u64,
    array_mib: u64,
    list_mib: u64,
    frozen_mib: u64,
    floor: bool,
}

const USAGE: &str =
    "usage: latency [--live-mib N] [--seconds S] [--threads N] [--replace-every K] [--array-mib N] [--list-mib N] [--frozen-mib N] [--floor]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        live_mib: 1024,
        seconds: 20.0,
        threads: 1,
        replace_every: 64,
        array_mib: 0,
        list_mib: 0,
        frozen_mib: 0,
        floor: false,
    };
    common::parse_flags_and_switches(USAGE, &["--floor"], |flag, v| {
        match flag {
            "--live-mib" => args.live_mib = common::parse_value(v, "size", |_| true)?,
            "--seconds" => args.seconds = common::parse_duration(v)?,
            "--threads" => {
                args.threads = common::parse_value(v, "thread count", |&n| n >= 1)?;
            }
            "--replace-every" => {
                args.replace_every = common::parse_value(v, "replacement interval", |&n| n >= 1)?;
            }
            "--array-mib" => args.array_mib = common::parse_value(v, "size", |_| true)?,
            "--list-mib" => args.list_mib = common::parse_value(v, "size", |_| true)?,
            "--frozen-mib" => args.frozen_mib = common::parse_value(v, "size", |_| true)?,
            "--floor" => args.floor = true,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(args)
}

const MIB: f64 = 1024.0 * 1024.0;

/// Builds the live set: about `live_mib` MiB of heap, using `threads` threads.
fn build(live_mib: u64, threads: usize) -> Vec<Gc<Group>> {
    let target = live_mib * 1024 * 1024;
    // Measure one group, then build as many as the target needs.
    let before = gc_core::mem_stats().heap_alloc;
    let mut val = 0;
    let first = group(&mut val);
    let per_group = gc_core::mem_stats()
        .heap_alloc
        .saturating_sub(before)
        .max(1);
    let groups = target.div_ceil(per_group).max(1) as usize;
    let mut out = Vec::with_capacity(groups);
    out.push(first);
    let rest = groups - 1;
    if threads == 1 {
        out.extend((0..rest).map(|_| group(&mut val)));
    } else {
        let per_thread = rest.div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let n = per_thread.min(rest.saturating_sub(t * per_thread));
                    s.spawn(move || {
                        let mut val = (t as u64 + 1) << 40;
                        (0..n).map(|_| group(&mut val)).collect::<Vec<_>>()
                    })
                })
                .collect();
            for h in handles {
                out.extend(h.join().expect("builder panicked"));
            }
        });
    }
    out
}

/// `--array-mib`: one slice of handles, each to its own 16-byte leaf, `mib` MiB in all.
fn huge_array(mib: u64) -> Gc<[Gc<[u64; 2]>]> {
    let per_elem = std::mem::size_of::<Gc<[u64; 2]>>() + std::mem::size_of::<[u64; 2]>();
    (0..mib as usize * (1 << 20) / per_elem)
        .map(|i| Gc::new([i as u64, 0]))
        .collect()
}

/// `--list-mib`: an interpreter's list, a `Vec` of handles in a `GcCell`, each handle to its
/// own 16-byte leaf, `mib` MiB in all (the `Vec`'s buffer is outside the heap).
type List = Gc<GcCell<Vec<Gc<[u64; 2]>>>>;

fn big_list(mib: u64) -> List {
    let per_elem = std::mem::size_of::<Gc<[u64; 2]>>() + std::mem::size_of::<[u64; 2]>();
    let items = (0..mib as usize * (1 << 20) / per_elem)
        .map(|i| Gc::new([i as u64, 0]))
        .collect();
    Gc::new(GcCell::new(items))
}

/// `--frozen-mib`: a list never written, moved into the heap without a cell, each handle to
/// its own 16-byte leaf, `mib` MiB in all (the `Vec`'s buffer is outside the heap).
fn frozen_list(mib: u64) -> Gc<Vec<Gc<[u64; 2]>>> {
    let per_elem = std::mem::size_of::<Gc<[u64; 2]>>() + std::mem::size_of::<[u64; 2]>();
    Gc::new(
        (0..mib as usize * (1 << 20) / per_elem)
            .map(|i| Gc::new([i as u64, 0]))
            .collect(),
    )
}

/// What one mutator thread reports.
struct Loop {
    hist: Hist,
    iterations: u64,
    replacements: u64,
}

/// The measured loop: runs until `deadline`.
fn mutate(
    groups: &[Gc<Group>],
    list: &List,
    deadline: Instant,
    replace_every: u64,
    seed: u64,
) -> Loop {
    let mut hist = Hist::new();
    let mut rng = common::Rng(seed | 1);
    let mut val = seed << 32;
    let mut iterations = 0u64;
    let mut replacements = 0u64;
    let mut sink = 0u64;
    let mut until_replace = replace_every;
    let mut prev = Instant::now();
    loop {
        iterations += 1;
        until_replace -= 1;
        if until_replace == 0 {
            until_replace = replace_every;
            // Churn the live set: a fresh tree into a random slot; the old one is garbage.
            let g = &groups[rng.below(groups.len())];
            let slot = &g.slots[rng.below(g.slots.len())];
            slot.tree.set(Some(tree(TREE_DEPTH, &mut val)));
            replacements += 1;
            // And one element of the list, the way an interpreter's `list[i] = x` does.
            let len = list.borrow().len();
            if len > 0 {
                list.borrow_mut()[rng.below(len)] = Gc::new([val, 0]);
            }
        } else {
            // Short-lived garbage: a 15-node list and one wide object pointing into it.
            let mut head: Option<Gc<Temp>> = None;
            let mut kids: [Option<Gc<Temp>>; 6] = Default::default();
            for k in 0..BATCH - 1 {
                head = Some(Gc::new(Temp { next: head, val: k }));
                if (k as usize) < kids.len() {
                    kids[k as usize] = head.clone();
                }
            }
            let wide = Gc::new(Wide {
                kids,
                val: iterations,
            });
            sink = sink.wrapping_add(wide.val + head.as_ref().map_or(0, |h| h.val));
            std::hint::black_box(&wide);
        }
        let now = Instant::now();
        hist.record((now - prev).as_nanos() as u64);
        prev = now;
        if now >= deadline {
            break;
        }
    }
    std::hint::black_box(sink);
    Loop {
        hist,
        iterations,
        replacements,
    }
}

/// `--floor`: the gaps of a loop that only reads the clock, with every other core kept busy
/// by a spinning thread (module header).
fn floor(args: &Args) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let spinners = cores.saturating_sub(args.threads);
    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
    let results: Vec<(Hist, u64)> = std::thread::scope(|s| {
        for _ in 0..spinners {
            s.spawn(move || {
                while Instant::now() < deadline {
                    std::hint::spin_loop();
                }
            });
        }
        let handles: Vec<_> = (0..args.threads)
            .map(|_| {
                s.spawn(move || {
                    let mut hist = Hist::new();
                    let mut iterations = 0u64;
                    let mut prev = Instant::now();
                    while prev < deadline {
                        let now = Instant::now();
                        hist.record((now - prev).as_nanos() as u64);
                        iterations += 1;
                        prev = now;
                    }
                    (hist, iterations)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("loop panicked"))
            .collect()
    });
    let mut hist = Hist::new();
    let mut iterations = 0;
    for (h, n) in &results {
        hist.merge(h);
        iterations += n;
    }
    println!(
        "floor: seconds={} threads={} spinners={spinners} iterations={iterations} {}",
        args.seconds,
        args.threads,
        hist.summary_fields(),
    );
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => return common::usage_error("latency", USAGE, &e),
    };
    if args.floor {
        floor(&args);
        return ExitCode::SUCCESS;
    }

    let t0 = Instant::now();
    let groups = build(args.live_mib, args.threads);
    let array = huge_array(args.array_mib);
    let list = big_list(args.list_mib);
    let frozen = frozen_list(args.frozen_mib);
    gc_core::collect();
    let build_ms = t0.elapsed().as_secs_f64() * 1e3;
    let s0 = gc_core::mem_stats();
    let slots = groups.len() * GROUP_SLOTS;
    let nodes = slots as u64 * ((1u64 << (TREE_DEPTH + 1)) - 1);
    println!(
        "live set: {} groups, {slots} slots, {nodes} tree nodes, an array of {} handles; heap_alloc {:.1} MiB, heap_sys {:.1} MiB after collect; built in {build_ms:.0} ms ({} cycles)",
        groups.len(),
        array.len(),
        s0.heap_alloc as f64 / MIB,
        s0.heap_sys as f64 / MIB,
        s0.num_gc,
    );

    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
    let loop_start = Instant::now();
    let results: Vec<Loop> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..args.threads)
            .map(|t| {
                let (groups, list) = (&groups, &list);
                let seed = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(t as u64 + 1);
                s.spawn(move || mutate(groups, list, deadline, args.replace_every, seed))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("mutator panicked"))
            .collect()
    });
    let loop_secs = loop_start.elapsed().as_secs_f64();
    let s1 = gc_core::mem_stats();

    let mut hist = Hist::new();
    let mut iterations = 0;
    let mut replacements = 0;
    for r in &results {
        hist.merge(&r.hist);
        iterations += r.iterations;
        replacements += r.replacements;
    }
    let cycles = s1.num_gc - s0.num_gc;
    // Cycle n's pause is at (n + 255) % 256; only the last 256 cycles are kept.
    let max_pause_ns = (s0.num_gc + 1..=s1.num_gc)
        .rev()
        .take(256)
        .map(|n| s1.pause_ns[((n + 255) % 256) as usize])
        .max()
        .unwrap_or(0);
    if cycles > 256 {
        eprintln!("latency: {cycles} cycles in the loop; max_pause_ms covers the last 256");
    }
    let pause_total_ns = s1.pause_total_ns - s0.pause_total_ns;
    let us = |ns: u64| ns as f64 / 1e3;
    let rss = common::peak_rss_mb().map_or("-".to_string(), |m| format!("{m:.1}"));

    println!(
        "loop: {:.2} s, {iterations} iterations ({:.0}/s), {replacements} slot replacements, {} objects allocated",
        loop_secs,
        iterations as f64 / loop_secs.max(1e-9),
        s1.mallocs - s0.mallocs,
    );
    println!(
        "gaps: p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, p99.99 {:.1} us, max {:.1} us",
        us(hist.quantile(0.5)),
        us(hist.quantile(0.99)),
        us(hist.quantile(0.999)),
        us(hist.quantile(0.9999)),
        us(hist.max),
    );
    println!(
        "gc: {cycles} cycles in the loop, pauses {:.3} ms total, {:.3} ms max; heap_alloc {:.1} MiB, heap_sys {:.1} MiB, runtime metadata {:.1} MiB at the end",
        pause_total_ns as f64 / 1e6,
        max_pause_ns as f64 / 1e6,
        s1.heap_alloc as f64 / MIB,
        s1.heap_sys as f64 / MIB,
        (s1.sys - s1.heap_sys) as f64 / MIB,
    );
    println!(
        "latency: live_mib={} live_heap_mb={:.1} seconds={} threads={} iterations={iterations} \
         {} cycles={cycles} gc_cpu_fraction={:.4} pause_total_ms={:.3} max_pause_ms={:.3} \
         peak_rss_mb={rss} heap_sys_mb={:.1}",
        args.live_mib,
        s0.heap_alloc as f64 / MIB,
        args.seconds,
        args.threads,
        hist.summary_fields(),
        s1.gc_cpu_fraction,
        pause_total_ns as f64 / 1e6,
        max_pause_ns as f64 / 1e6,
        s1.heap_sys as f64 / MIB,
    );
    drop((groups, array, list, frozen));
    ExitCode::SUCCESS
}
