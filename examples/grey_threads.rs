//! Greying from many threads while a mark runs: each thread walks its own list of objects
//! that the marker has not reached and clones every handle in it. A clone roots its object,
//! and a root taken while marking must shade the object if it is still white (invariant
//! I2): this measures that barrier, per object and per thread count. Go's write barrier
//! greys into a buffer per P (`wbBuf`); ours greys into a buffer per thread, handed to the
//! shared one 256 objects at a time (`gc-core/src/gc/shade.rs`).
//!
//! How the mark is held: every list is a `Gc<Gated<Vec<Gc<_>>>>`, whose `trace` waits
//! until the round opens the gate, so the mark workers that take the lists (at the mark's
//! root scan: the threads hold them) wait there and no list's elements are reached before
//! the threads have walked them. The timed part is the walk alone: no allocation, so no
//! assist.
//!
//! ```text
//! cargo run --release --example grey_threads -- [--objects N] [--rounds R]
//!     [--threads 1,2,4,8] [--kind leaf|node]
//! ```
//!
//! `--objects` is per thread (default 1,000,000); `leaf` objects have nothing to scan (16
//! bytes, noscan: a shade marks them only), `node` objects have a handle field (16 bytes:
//! a shade also queues them for scanning). Output: one line per thread count with the
//! median over the rounds of the walk's wall time (all threads) and the objects greyed per
//! second over all threads.

mod common;

use gc_core::{Gc, Trace, Tracer};
use std::hint::black_box;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Barrier, Condvar, Mutex};
use std::time::Instant;

const USAGE: &str =
    "usage: grey_threads [--objects N] [--rounds R] [--threads 1,2,4,8] [--kind leaf|node]";

/// An object with nothing to scan.
#[derive(Trace)]
struct Leaf {
    a: u64,
    b: u64,
}

/// An object with a handle field (none here): a shade queues it for a scan.
#[derive(Trace)]
struct Node {
    next: Option<Gc<Node>>,
    a: u64,
}

/// Whether the gate is open; `GATE_CV` wakes the workers waiting on it.
static GATE_OPEN: Mutex<bool> = Mutex::new(true);
static GATE_CV: Condvar = Condvar::new();
/// Traces that found the gate closed: one is enough to know the mark is running.
static ENTERED: AtomicUsize = AtomicUsize::new(0);

std::thread_local! {
    /// Set on this example's own threads: a trace they run (a mark assist) never waits.
    static OURS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A value whose trace waits for the gate (module header).
struct Gated<T>(T);

// SAFETY: traces, roots and unroots its one field exactly as the field's own impl does;
// the wait before tracing is on a lock no collector code holds, opened by the main thread
// without waiting for the collector, and never taken by this example's own threads.
unsafe impl<T: Trace> Trace for Gated<T> {
    fn needs_trace() -> bool {
        true
    }
    fn trace(&self, tracer: &mut Tracer) {
        if !OURS.with(|o| o.get()) {
            let mut open = GATE_OPEN.lock().unwrap();
            if !*open {
                ENTERED.fetch_add(1, Ordering::SeqCst);
            }
            while !*open {
                open = GATE_CV.wait(open).unwrap();
            }
        }
        self.0.trace(tracer);
    }
    unsafe fn root(&mut self) {
        // SAFETY: forwarded.
        unsafe { self.0.root() }
    }
    unsafe fn unroot(&mut self) {
        // SAFETY: forwarded.
        unsafe { self.0.unroot() }
    }
}

fn set_gate(open: bool) {
    *GATE_OPEN.lock().unwrap() = open;
    GATE_CV.notify_all();
}

/// One round: `threads` lists of `n` objects made by `make`, a forced cycle held at the
/// gate, and every thread's walk timed. Returns the walk's wall time in milliseconds.
fn round<T: Trace + Send + Sync + 'static>(threads: usize, n: usize, make: fn(u64) -> T) -> f64 {
    set_gate(true);
    let lists: Vec<Gc<Gated<Vec<Gc<T>>>>> = (0..threads)
        .map(|t| {
            let items: Vec<Gc<T>> = (0..n as u64).map(|i| Gc::new(make(i + t as u64))).collect();
            Gc::new(Gated(items))
        })
        .collect();
    // Everything allocated is settled and unmarked when the next mark begins.
    gc_core::collect();
    set_gate(false);
    ENTERED.store(0, Ordering::SeqCst);
    let start = std::sync::Arc::new(Barrier::new(threads + 1));
    let walkers: Vec<_> = lists
        .into_iter()
        .map(|list| {
            let start = start.clone();
            std::thread::spawn(move || {
                OURS.with(|o| o.set(true));
                // Registers the thread (a root cache, a shade buffer), before the mark.
                black_box(Gc::new(make(0)));
                start.wait(); // the cycle is started
                start.wait(); // its mark is held at the gate
                for item in list.0.iter() {
                    black_box(item.clone());
                }
                drop(list);
            })
        })
        .collect();
    start.wait();
    let collector = std::thread::spawn(gc_core::collect);
    // The lists are rooted (the threads hold them), so the mark's root scan greys them and
    // the workers that take them wait at the gate: once one does, the mark is running and
    // no list's elements can be reached before the gate opens.
    let began = Instant::now();
    while ENTERED.load(Ordering::SeqCst) == 0 {
        if began.elapsed().as_secs() > 60 {
            panic!("no mark worker reached the gate");
        }
        std::thread::yield_now();
    }
    let t0 = Instant::now();
    start.wait();
    for w in walkers {
        w.join().unwrap();
    }
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    set_gate(true);
    collector.join().unwrap();
    ms
}

fn leaf(i: u64) -> Leaf {
    Leaf { a: i, b: i ^ 1 }
}

fn node(i: u64) -> Node {
    Node { next: None, a: i }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("grey_threads: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let (mut n, mut rounds, mut counts, mut kind) = (
        1_000_000usize,
        5usize,
        vec![1usize, 2, 4, 8],
        "leaf".to_string(),
    );
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().ok_or_else(|| format!("{a} needs a value"))?;
        match a.as_str() {
            "--objects" => n = common::parse_value(&v, "count", |&n| n >= 1)?,
            "--rounds" => rounds = common::parse_value(&v, "count", |&n| n >= 1)?,
            "--threads" => {
                counts = v
                    .split(',')
                    .map(|t| common::parse_value(t, "thread count", |&n| n >= 1))
                    .collect::<Result<_, _>>()?
            }
            "--kind" if v == "leaf" || v == "node" => kind = v,
            _ => return Err(format!("bad argument {a} {v}")),
        }
    }
    OURS.with(|o| o.set(true));
    for &threads in &counts {
        let mut times: Vec<f64> = (0..rounds)
            .map(|_| match kind.as_str() {
                "leaf" => round(threads, n, leaf),
                _ => round(threads, n, node),
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let med = times[times.len() / 2];
        let rate = (threads * n) as f64 / med / 1e3;
        println!(
            "grey_threads: kind={kind} threads={threads} objects_per_thread={n} \
             walk_ms={med:.2} m_greys_per_s={rate:.1} walks_ms={times:.2?}"
        );
    }
    Ok(())
}
