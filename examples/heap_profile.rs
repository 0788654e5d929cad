//! `gc_core::heap_profile()` on the tour's graph: four threads build one shared friendship
//! graph (`examples/common/tour_graph.rs`, the tour's construction), then the top types by
//! live bytes after `collect()`, and what one `heap_profile()` call cost.
//!
//!     cargo run --release --example heap_profile
//!
//! A `Person` is traced (it holds `Gc`s), so it has its own line; its `name` is a `String`
//! outside the heap (the counting allocator would count it); the directories are
//! `GcCell<Vec<Gc<Person>>>`. Plain data (no `Gc`, no drop glue) shares one bucket.

#[path = "common/tour_graph.rs"]
mod tour_graph;

use gc_core::{Gc, GcCell};
use std::sync::atomic::Ordering;
use std::time::Instant;
use tour_graph::{build_in_threads, FORGOTTEN, PEOPLE_PER_THREAD, THREADS};

fn main() {
    let (directory, _celebrities, _) = build_in_threads();
    // Some garbage of a type that is not in the graph: gone after collect().
    for i in 0..100_000u64 {
        drop(Gc::new(GcCell::new(vec![i])));
    }
    gc_core::collect();

    // The first call turns the census on and runs a collection to take it; later calls
    // only copy the latest census.
    let t = Instant::now();
    let _ = gc_core::heap_profile();
    let first = t.elapsed();
    let t = Instant::now();
    let profile = gc_core::heap_profile();
    let took = t.elapsed();
    let s = gc_core::mem_stats();
    println!(
        "heap profile after collect(): {} people published in {} communities",
        THREADS * PEOPLE_PER_THREAD,
        directory.borrow().len()
    );
    println!("  {:>10}  {:>12}  type", "objects", "bytes");
    for t in profile.iter().take(10) {
        println!("  {:>10}  {:>12}  {}", t.objects, t.bytes, t.type_name);
    }
    let (objects, bytes) = profile
        .iter()
        .fold((0, 0), |(o, b), t| (o + t.objects, b + t.bytes));
    println!(
        "  {} types, {objects} objects, {bytes} bytes (mem_stats: {} objects, {} bytes)",
        profile.len(),
        s.heap_objects,
        s.heap_alloc
    );
    println!(
        "  people dropped so far: {} (the whole graph is reachable)",
        FORGOTTEN.load(Ordering::Relaxed)
    );
    println!(
        "  the first heap_profile() call (census on, one collection) took {:.1} µs; the next {:.1} µs",
        first.as_secs_f64() * 1e6,
        took.as_secs_f64() * 1e6
    );
    let first = directory.borrow()[0].clone();
    assert!(first.id < THREADS * PEOPLE_PER_THREAD && !first.name.is_empty());
}
