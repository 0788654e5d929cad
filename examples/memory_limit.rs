//! Does the heap stay under `GOMEMLIMIT`? A workload with a steady live heap that churns, with
//! `mem_stats()` sampled every 50 ms.
//!
//! ```text
//! GOMEMLIMIT=512MiB GOGC=off cargo run --release --example memory_limit -- [--live-mib N] [--seconds S] [--threads N]
//! ```
//!
//! `--live-mib` (default 200) is the target live heap: groups of slots (a `Vec<Gc<Group>>` on
//! the stack holds the only roots), each slot holding, in two `GcCell`s, a 31-node binary tree
//! of 24-byte nodes and a 960-byte pointer-free blob. Then each of `--threads` threads
//! (default 1) churns for `--seconds` (default 10, fractions allowed): every iteration
//! allocates a 16-node list of 16-byte objects and a 256-byte object, all garbage at once;
//! every 8th iteration replaces a random slot's tree or blob with a fresh one (`GcCell::set`,
//! the old one becomes garbage); every 256th allocates a 48 KiB garbage object (a large-object
//! span of its own).
//!
//! A sampler thread calls `gc_core::mem_stats()` every 50 ms from before the build to the
//! end and keeps the peaks of `heap_sys`, `heap_alloc`, `heap_inuse` and `sys -
//! heap_released` (the memory the runtime holds from the OS, which is what Go's limit
//! governs). `peak_rss` is the process's `VmHWM`, which also counts memory outside the
//! collected heap (the Rust heap, the program's binary, thread stacks). The limit is read
//! with `gc_core::set_memory_limit(-1)`, so it is whatever `GOMEMLIMIT` (or nothing) set.
//!
//! The last line is the verdict:
//!
//! ```text
//! memory_limit: limit=512.0MiB peak_heap_sys=..MiB peak_heap_alloc=..MiB peak_mapped=..MiB peak_rss=..MiB
//!   cycles=.. gogc=off live_mib=.. seconds=.. under_limit=true|false
//! ```
//!
//! (one line in the real output). `under_limit` compares `peak_heap_sys` with the limit
//! (always `true` without a limit). This is a measurement: the exit status is 0 either way.

mod common;

use gc_core::{Gc, GcCell, Trace};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Live tree node: 24 bytes.
#[derive(Trace)]
struct Node {
    left: Option<Gc<Node>>,
    right: Option<Gc<Node>>,
    val: u64,
}

/// Live pointer-free payload: 960 bytes.
#[derive(Trace)]
struct Blob {
    words: [u64; 120],
}

/// One replaceable part of the live set.
#[derive(Trace)]
struct Slot {
    tree: GcCell<Option<Gc<Node>>>,
    blob: GcCell<Option<Gc<Blob>>>,
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

/// Short-lived medium object: 256 bytes.
#[derive(Trace)]
struct Medium {
    words: [u64; 32],
}

/// Short-lived large object: 48 KiB (above the 32 KiB small-object limit).
#[derive(Trace)]
struct Big {
    words: [u64; 6144],
}

/// Depth of each slot's tree below its root: 31 nodes.
const TREE_DEPTH: u32 = 4;
/// Slots per group.
const GROUP_SLOTS: usize = 1024;
/// Sampling interval of `mem_stats()`.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

const MIB: f64 = 1024.0 * 1024.0;

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

fn blob(val: u64) -> Gc<Blob> {
    let mut words = [0; 120];
    words[0] = val;
    Gc::new(Blob { words })
}

fn group(val: &mut u64) -> Gc<Group> {
    let slots = (0..GROUP_SLOTS)
        .map(|_| {
            let t = tree(TREE_DEPTH, val);
            Gc::new(Slot {
                tree: GcCell::new(Some(t)),
                blob: GcCell::new(Some(blob(*val))),
            })
        })
        .collect();
    Gc::new(Group { slots })
}

struct Args {
    live_mib: u64,
    seconds: f64,
    threads: usize,
}

const USAGE: &str = "usage: memory_limit [--live-mib N] [--seconds S] [--threads N]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        live_mib: 200,
        seconds: 10.0,
        threads: 1,
    };
    common::parse_flags(USAGE, |flag, v| {
        match flag {
            "--live-mib" => args.live_mib = common::parse_value(v, "size", |_| true)?,
            "--seconds" => args.seconds = common::parse_duration(v)?,
            "--threads" => {
                args.threads = common::parse_value(v, "thread count", |&n| n >= 1)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(args)
}

/// Peaks seen by the sampler.
#[derive(Default)]
struct Peaks {
    samples: u64,
    heap_sys: u64,
    heap_alloc: u64,
    heap_inuse: u64,
    mapped: u64,
}

impl Peaks {
    fn sample(&mut self) {
        let s = gc_core::mem_stats();
        self.samples += 1;
        self.heap_sys = self.heap_sys.max(s.heap_sys);
        self.heap_alloc = self.heap_alloc.max(s.heap_alloc);
        self.heap_inuse = self.heap_inuse.max(s.heap_inuse);
        self.mapped = self.mapped.max(s.sys.saturating_sub(s.heap_released));
    }
}

/// Builds the live set: about `live_mib` MiB of heap.
fn build(live_mib: u64) -> Vec<Gc<Group>> {
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
    out.extend((1..groups).map(|_| group(&mut val)));
    out
}

/// The churn loop of one thread; returns its iteration count.
fn churn(groups: &[Gc<Group>], deadline: Instant, seed: u64) -> u64 {
    let mut rng = common::Rng(seed | 1);
    let mut val = seed << 32;
    let mut sink = 0u64;
    let mut iterations = 0u64;
    while Instant::now() < deadline {
        // A batch of 256 iterations between clock reads.
        for _ in 0..256 {
            iterations += 1;
            let mut head: Option<Gc<Temp>> = None;
            for k in 0..16 {
                head = Some(Gc::new(Temp { next: head, val: k }));
            }
            let mut words = [0; 32];
            words[0] = iterations;
            let m = Gc::new(Medium { words });
            sink = sink.wrapping_add(m.words[0] + head.as_ref().map_or(0, |h| h.val));
            if iterations & 7 == 0 {
                let g = &groups[rng.below(groups.len())];
                let slot = &g.slots[rng.below(g.slots.len())];
                if iterations & 15 == 0 {
                    slot.tree.set(Some(tree(TREE_DEPTH, &mut val)));
                } else {
                    val += 1;
                    slot.blob.set(Some(blob(val)));
                }
            }
            if iterations & 255 == 0 {
                let mut words = [0; 6144];
                words[0] = iterations;
                let b = Gc::new(Big { words });
                sink = sink.wrapping_add(b.words[0]);
            }
        }
    }
    std::hint::black_box(sink);
    iterations
}

fn fmt_mib(bytes: u64) -> String {
    format!("{:.1}MiB", bytes as f64 / MIB)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => return common::usage_error("memory_limit", USAGE, &e),
    };

    let limit = gc_core::set_memory_limit(-1);
    let no_limit = limit == i64::MAX;
    // Read GOGC back without changing it: set, then restore the old value.
    let gogc = gc_core::set_gc_percent(-1);
    gc_core::set_gc_percent(gogc);
    let gogc_str = if gogc < 0 {
        "off".to_string()
    } else {
        gogc.to_string()
    };
    let limit_str = if no_limit {
        "off".to_string()
    } else {
        fmt_mib(limit as u64)
    };
    println!("memory limit {limit_str}, GOGC {gogc_str}");
    if no_limit {
        println!("note: no memory limit in effect (set GOMEMLIMIT); under_limit is trivially true");
        if gogc < 0 {
            eprintln!(
                "memory_limit: warning: GOGC=off without GOMEMLIMIT: nothing bounds the heap"
            );
        }
    }

    let peaks = Mutex::new(Peaks::default());
    let stop = AtomicBool::new(false);
    let t0 = Instant::now();
    let (groups, s0, s1, iterations, churn_secs) = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                peaks.lock().unwrap().sample();
                next += SAMPLE_EVERY;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now; // fell behind (a long pause): do not burst
                }
            }
        });

        let groups = build(args.live_mib);
        let s0 = gc_core::mem_stats();
        println!(
            "live set: {} groups, {} slots; heap_alloc {:.1} MiB, heap_sys {:.1} MiB; built in {:.0} ms ({} cycles)",
            groups.len(),
            groups.len() * GROUP_SLOTS,
            s0.heap_alloc as f64 / MIB,
            s0.heap_sys as f64 / MIB,
            t0.elapsed().as_secs_f64() * 1e3,
            s0.num_gc,
        );

        let start = Instant::now();
        let deadline = start + Duration::from_secs_f64(args.seconds);
        let iterations: u64 = std::thread::scope(|w| {
            let handles: Vec<_> = (0..args.threads)
                .map(|t| {
                    let groups = &groups;
                    let seed = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(t as u64 + 1);
                    w.spawn(move || churn(groups, deadline, seed))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("churn thread panicked"))
                .sum()
        });
        let churn_secs = start.elapsed().as_secs_f64();
        peaks.lock().unwrap().sample();
        stop.store(true, Ordering::Relaxed);
        sampler.join().expect("sampler panicked");
        let s1 = gc_core::mem_stats();
        (groups, s0, s1, iterations, churn_secs)
    });
    let p = peaks.into_inner().unwrap();
    let rss = common::peak_rss_mb().map_or("-".to_string(), |m| format!("{m:.1}MiB"));
    let cycles = s1.num_gc - s0.num_gc;
    let under_limit = no_limit || p.heap_sys <= limit as u64;

    println!(
        "churn: {churn_secs:.2} s, {iterations} iterations, {:.1} MiB allocated, {cycles} cycles, pauses {:.3} ms, gc_cpu_fraction {:.4}",
        (s1.total_alloc - s0.total_alloc) as f64 / MIB,
        (s1.pause_total_ns - s0.pause_total_ns) as f64 / 1e6,
        s1.gc_cpu_fraction,
    );
    println!(
        "peaks over {} samples: heap_sys {}, heap_alloc {}, heap_inuse {}, sys-heap_released {}; VmHWM {rss}",
        p.samples,
        fmt_mib(p.heap_sys),
        fmt_mib(p.heap_alloc),
        fmt_mib(p.heap_inuse),
        fmt_mib(p.mapped),
    );
    println!(
        "end: heap_alloc {}, heap_sys {}, heap_released {}, sys {}, next_gc {}",
        fmt_mib(s1.heap_alloc),
        fmt_mib(s1.heap_sys),
        fmt_mib(s1.heap_released),
        fmt_mib(s1.sys),
        fmt_mib(s1.next_gc),
    );
    if under_limit && !no_limit && p.mapped > limit as u64 {
        println!(
            "note: heap_sys stayed under the limit, but sys - heap_released (heap plus runtime metadata) peaked {} above it",
            fmt_mib(p.mapped - limit as u64),
        );
    }
    println!(
        "memory_limit: limit={limit_str} peak_heap_sys={} peak_heap_alloc={} peak_mapped={} peak_rss={rss} \
         cycles={cycles} gogc={gogc_str} live_mib={} seconds={} under_limit={under_limit}",
        fmt_mib(p.heap_sys),
        fmt_mib(p.heap_alloc),
        fmt_mib(p.mapped),
        args.live_mib,
        args.seconds,
    );
    drop(groups);
    ExitCode::SUCCESS
}
