//! The main demo: four threads build and rewire one shared friendship graph (cycles
//! everywhere), the collector runs as the heap grows, and then most of the graph is
//! dropped and collected.
//!
//!     cargo run --release --example tour
//!     GODEBUG=gctrace=1 cargo run --release --example tour    # one line per cycle

#[path = "common/tour_graph.rs"]
mod tour_graph;

use std::sync::atomic::Ordering;
use std::time::Instant;
use tour_graph::{build_in_threads, FORGOTTEN, PEOPLE_PER_THREAD, THREADS};

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn main() {
    let start = Instant::now();
    println!(
        "gc-core tour: {THREADS} threads build one shared friendship graph (cycles everywhere)"
    );
    // The celebrities stay alive to the end, as the directory does.
    let (directory, _celebrities, links) = build_in_threads();
    let built = start.elapsed();
    let s = gc_core::mem_stats();
    println!(
        "  built {} people and {links} friendships in {:.2} s; {} collections ran meanwhile",
        THREADS * PEOPLE_PER_THREAD,
        built.as_secs_f64(),
        s.num_gc
    );
    println!(
        "  heap now: {:.1} MB in {} live-or-unswept objects ({:.1} MB of spans, {:.1} MB from the OS)",
        mb(s.heap_alloc),
        s.heap_objects,
        mb(s.heap_inuse),
        mb(s.heap_sys)
    );
    println!(
        "  people already forgotten (unreachable, swept, dropped): {}",
        FORGOTTEN.load(Ordering::Relaxed)
    );

    gc_core::collect();
    let reachable = gc_core::mem_stats();
    let published = directory.borrow().len();
    println!(
        "  after collect(): {:.1} MB in {} objects: the {published} published communities",
        mb(reachable.heap_alloc),
        reachable.heap_objects
    );

    // Unpublish every community but the first 100: most of the graph becomes garbage,
    // cycles and all.
    directory.borrow_mut().truncate(100);
    let before = FORGOTTEN.load(Ordering::Relaxed);
    let t = Instant::now();
    gc_core::collect();
    let s = gc_core::mem_stats();
    println!(
        "  unpublished all but 100 communities; collect() took {:.1} ms and forgot {} people",
        t.elapsed().as_secs_f64() * 1e3,
        FORGOTTEN.load(Ordering::Relaxed) - before
    );
    println!(
        "  heap now: {:.1} MB in {} objects",
        mb(s.heap_alloc),
        s.heap_objects
    );

    let first = directory.borrow()[0].clone();
    println!(
        "  {} (id {}) still has {} friends; the first is {}",
        first.name,
        first.id,
        first.friends.borrow().len(),
        first
            .friends
            .borrow()
            .first()
            .map_or("nobody".to_string(), |f| f.name.clone())
    );

    let recent = (0..s.num_gc.min(256))
        .map(|i| s.pause_ns[(i % 256) as usize])
        .max()
        .unwrap_or(0);
    println!(
        "  {} cycles ({} forced by collect()), pauses total {:.1} ms, longest {:.2} ms, GC CPU {:.1}% of {} cores",
        s.num_gc,
        s.num_forced_gc,
        s.pause_total_ns as f64 / 1e6,
        recent as f64 / 1e6,
        s.gc_cpu_fraction * 100.0,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "  next automatic cycle when the heap reaches {:.1} MB (GOGC=100 by default)",
        mb(s.next_gc)
    );
}
