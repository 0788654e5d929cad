//! `gc_core::heap_profile()` on the tour's graph: four threads build one shared friendship
//! graph (the construction of `examples/tour.rs`, repeated here), then the top types by
//! live bytes after `collect()`, and what one `heap_profile()` call cost.
//!
//!     cargo run --release --example heap_profile
//!
//! A `Person` is traced (it holds `Gc`s), so it has its own line; its `name` is a `String`
//! outside the heap (the counting allocator would count it); the directories are
//! `GcCell<Vec<Gc<Person>>>`. Plain data (no `Gc`, no drop glue) shares one bucket.

use gc_core::{Gc, GcCell, Trace};
use std::time::Instant;

/// Has drop glue that runs user code; skipped by the tracer (it holds no `Gc`).
struct Farewell;
impl Drop for Farewell {
    fn drop(&mut self) {}
}

#[derive(Trace)]
struct Person {
    id: u64,
    name: String,
    friends: GcCell<Vec<Gc<Person>>>,
    #[trace(skip)]
    _farewell: Farewell,
}

/// The shared directory every thread adds to.
type Directory = Gc<GcCell<Vec<Gc<Person>>>>;

const THREADS: u64 = 4;
const PEOPLE_PER_THREAD: u64 = 100_000;

/// A tiny xorshift generator.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// The tour's construction: communities of 64 with random friendships inside (cycles),
/// each community's first member published in the directory, and one follow per person
/// of one of the first 100 people published.
fn build(directory: Directory, celebrities: Directory, thread: u64) {
    let mut seed = 0x9E37_79B9_7F4A_7C15 ^ (thread + 1);
    let mut community: Vec<Gc<Person>> = Vec::new();
    for i in 0..PEOPLE_PER_THREAD {
        let p = Gc::new(Person {
            id: thread * PEOPLE_PER_THREAD + i,
            name: format!("person-{thread}-{i}"),
            friends: GcCell::new(Vec::new()),
            _farewell: Farewell,
        });
        if community.len() == 64 {
            community.clear();
        }
        if community.is_empty() {
            directory.borrow_mut().push(p.clone());
            let mut c = celebrities.borrow_mut();
            if c.len() < 100 {
                c.push(p.clone());
            }
        }
        for _ in 0..2 {
            if !community.is_empty() {
                let f = &community[next(&mut seed) as usize % community.len()];
                p.friends.borrow_mut().push(f.clone());
                f.friends.borrow_mut().push(p.clone());
            }
        }
        let celebrity = {
            let c = celebrities.borrow();
            c[next(&mut seed) as usize % c.len()].clone()
        };
        p.friends.borrow_mut().push(celebrity);
        community.push(p);
    }
}

fn main() {
    let directory: Directory = Gc::new(GcCell::new(Vec::new()));
    let celebrities: Directory = Gc::new(GcCell::new(Vec::new()));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (d, c) = (directory.clone(), celebrities.clone());
            std::thread::spawn(move || build(d, c, t))
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
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
        "  the first heap_profile() call (census on, one collection) took {:.1} µs; the next {:.1} µs",
        first.as_secs_f64() * 1e6,
        took.as_secs_f64() * 1e6
    );
    let first = directory.borrow()[0].clone();
    assert!(first.id < THREADS * PEOPLE_PER_THREAD && !first.name.is_empty());
}
