//! External memory in pacing (`gc_core::CountingAllocator`): bytes that heap objects own
//! outside the heap (a `Gc<String>`'s buffer) count toward the live heap and the goal.
//!
//! This test binary installs the counting allocator, so every allocation of the process
//! is counted. One test function runs the steps in order: the heap and the knobs are
//! process-wide, and the figures are compared before and after each step.
//!
//! - Counting is exact: an 8 MiB buffer shows in `external_alloc` and leaves it when freed;
//!   threads that exit leave none of their counts behind.
//! - A churn of 64 KiB strings behind 24-byte `Gc<String>` objects, one alive at a time,
//!   runs cycles and stays bounded (without the counting no cycle runs: the heap proper
//!   holds a few kilobytes).
//! - External memory that survives a cycle raises the goal like live heap does, so a
//!   program holding 48 MiB of strings is not collected over and over.

use gc_core::{mem_stats, CountingAllocator, Gc};
use std::hint::black_box;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::system();

const MIB: u64 = 1 << 20;

fn string_of(bytes: usize, seed: usize) -> String {
    let mut s = "y".repeat(bytes);
    s.replace_range(0..1, &char::from(b'0' + (seed % 10) as u8).to_string());
    s
}

fn counting_is_exact() {
    // Warm the counter past its first quantum (it switches on there).
    drop(black_box(vec![1u8; 4 << 20]));
    let before = mem_stats();
    let buf = black_box(vec![7u8; 8 << 20]);
    let during = mem_stats();
    drop(buf);
    let after = mem_stats();
    let grew = during.external_alloc as i64 - before.external_alloc as i64;
    let shrank = during.external_alloc as i64 - after.external_alloc as i64;
    // Other threads (the runtime's) allocate a little meanwhile: 1 MiB of slack.
    assert!((grew - (8 << 20)).abs() < MIB as i64, "grew by {grew}");
    assert!(
        (shrank - (8 << 20)).abs() < MIB as i64,
        "shrank by {shrank}"
    );
    assert!(during.external_total_alloc - before.external_total_alloc >= 8 << 20);
}

fn big_string_churn_is_collected() {
    let start = mem_stats();
    let mut keep = Gc::new(String::new());
    let mut peak = 0;
    for i in 0..2000 {
        keep = Gc::new(string_of(64 << 10, i));
        if i % 50 == 0 {
            peak = peak.max(mem_stats().external_alloc);
        }
    }
    assert_eq!(keep.as_bytes()[0], b'9');
    let end = mem_stats();
    // 125 MiB of strings went through 24-byte heap objects.
    assert!(
        end.num_gc - start.num_gc >= 5,
        "only {} cycles for 125 MiB of strings",
        end.num_gc - start.num_gc
    );
    assert!(
        peak < 64 * MIB,
        "external memory peaked at {} MiB",
        peak / MIB
    );
}

fn surviving_strings_raise_the_goal() {
    let held: Vec<Gc<String>> = (0..48).map(|i| Gc::new(string_of(1 << 20, i))).collect();
    gc_core::collect();
    gc_core::collect();
    let s = mem_stats();
    // GOGC=100: the goal is about twice the live heap, and the live heap is 48 MiB of
    // strings (without them in the base it would be the 4 MiB minimum).
    assert!(s.next_gc >= 80 * MIB, "goal {} MiB", s.next_gc / MIB);
    // So allocating another 8 MiB of garbage runs no cycle.
    let cycles = s.num_gc;
    for i in 0..8 {
        black_box(Gc::new(string_of(1 << 20, i)));
    }
    assert_eq!(mem_stats().num_gc, cycles, "cycles ran far below the goal");
    assert_eq!(held.len(), 48);
}

/// Each thread counts a few KiB by itself before adding to the shared counts: what a
/// thread leaves unadded when it exits is added then (200 threads keeping 8 KiB each would
/// otherwise leave 1.6 MiB uncounted).
fn exiting_threads_leave_nothing_uncounted() {
    const THREADS: usize = 200;
    const EACH: usize = 8 << 10;
    let before = mem_stats();
    let kept: Vec<Vec<u8>> = (0..THREADS)
        .map(|i| {
            std::thread::spawn(move || black_box(vec![i as u8; EACH]))
                .join()
                .unwrap()
        })
        .collect();
    let after = mem_stats();
    let grew = after.external_alloc as i64 - before.external_alloc as i64;
    let want = (THREADS * EACH) as i64;
    // Thread creation allocates a little as well (stack guard records, names): 1 MiB of
    // slack above, none below.
    assert!(grew >= want && grew < want + MIB as i64, "grew by {grew}");
    drop(black_box(kept));
}

#[test]
fn external_memory_is_paced_like_heap() {
    gc_core::set_gc_percent(100);
    counting_is_exact();
    exiting_threads_leave_nothing_uncounted();
    big_string_churn_is_collected();
    surviving_strings_raise_the_goal();
}
