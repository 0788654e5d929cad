//! Frees made on the collector's background threads go back through the mutators
//! (`CountingAllocator`, `gc-core/src/alloc/remote_free.rs`): the sweeper's in-place drops
//! and the droppers' `Drop`s queue what they free, and the mutator's next allocation frees
//! it, on the thread whose `malloc` served it.
//!
//! This test binary installs `CountingAllocator` over a zero-sized allocator that forwards
//! to `System` and books, at the system level, the bytes live and the bytes freed on
//! threads other than the test's mutator. A churn of `Gc<String>`, `Gc<Vec<u8>>` and
//! objects with a user `Drop` runs cycles in the background; then:
//!
//! - every free made off the mutator beyond the runtime's own few was made past the
//!   queue's bound (a background thread draining what a descheduled mutator left; without
//!   the queue, the sweeper and the droppers make nearly all of them);
//! - after a held set of 8 MiB is dropped and collected, the bytes live at the system level
//!   come back down, and agree with `mem_stats()`'s external figure: nothing lost (a
//!   double free would abort in glibc or show as a negative balance);
//! - small buffers freed as garbage are kept by the mutator for its next allocations of
//!   the same layout (`gc-core/src/alloc/recycle.rs`), whichever thread swept them: after
//!   a collection, the next allocations of that size never reach the wrapped allocator,
//!   and `/gc-core/external/kept:bytes` counts the blocks kept.

mod common;

use common::with_watchdog;
use gc_core::__private::remote_frees_drained_past_bound;
use gc_core::{mem_stats, CountingAllocator, Gc, Trace};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// `System`, booked.
struct Booked;

/// Bytes the system allocator holds for the process (allocated minus freed).
static SYSTEM_LIVE: AtomicI64 = AtomicI64::new(0);
/// Bytes freed on the test's mutator thread.
static FREED_ON_MUTATOR: AtomicU64 = AtomicU64::new(0);
/// Bytes freed on any other thread.
static FREED_ELSEWHERE: AtomicU64 = AtomicU64::new(0);
/// Allocations of [`RECYCLED`]'s layout that reached the system allocator.
static RECYCLED_SIZE_ALLOCS: AtomicU64 = AtomicU64::new(0);
/// A layout only `small_garbage_buffers_are_reused_by_the_mutator` allocates.
const RECYCLED: (usize, usize) = (72, 1);

thread_local! {
    /// Set on the test's mutator thread (const, no destructor: the allocator reads it).
    static MUTATOR: Cell<bool> = const { Cell::new(false) };
}

fn note_freed(bytes: usize) {
    SYSTEM_LIVE.fetch_sub(bytes as i64, Relaxed);
    if MUTATOR.try_with(|m| m.get()).unwrap_or(false) {
        FREED_ON_MUTATOR.fetch_add(bytes as u64, Relaxed);
    } else {
        FREED_ELSEWHERE.fetch_add(bytes as u64, Relaxed);
    }
}

// SAFETY: forwards to `System` unchanged; the booking touches only atomics and a const
// thread-local.
unsafe impl GlobalAlloc for Booked {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if (layout.size(), layout.align()) == RECYCLED {
            RECYCLED_SIZE_ALLOCS.fetch_add(1, Relaxed);
        }
        // SAFETY: the caller's contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            SYSTEM_LIVE.fetch_add(layout.size() as i64, Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            SYSTEM_LIVE.fetch_add(layout.size() as i64, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract.
        unsafe { System.dealloc(ptr, layout) };
        note_freed(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            SYSTEM_LIVE.fetch_add(new_size as i64 - layout.size() as i64, Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: CountingAllocator<Booked> = CountingAllocator::new(Booked);

const MIB: i64 = 1 << 20;

/// The tests take turns: each books the frees of its own churn.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A buffer with a user `Drop`: objects holding it are dropped on a dropper thread.
struct Owned(Vec<u8>);

impl Drop for Owned {
    fn drop(&mut self) {
        black_box(&mut self.0);
    }
}

#[derive(Trace)]
struct WithDrop {
    #[trace(skip)]
    owned: Owned,
}

/// One round of garbage: a string, a vector and an object with a `Drop`, 4 KiB each.
fn garbage(i: usize) -> (Gc<String>, Gc<Vec<u8>>, Gc<WithDrop>) {
    (
        Gc::new("s".repeat(4096) + &i.to_string()),
        Gc::new(vec![i as u8; 4096]),
        Gc::new(WithDrop {
            owned: Owned(vec![1; 4096]),
        }),
    )
}

/// Allocates (which makes the queued frees) until the system-level live bytes are within
/// `slack` of `mem_stats()`'s external figure and under `ceiling`; fails after a minute.
fn settle(ceiling: i64, slack: i64) -> (i64, i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        drop(black_box(Box::new([0u8; 64])));
        let system = SYSTEM_LIVE.load(Relaxed);
        let external = mem_stats().external_alloc as i64;
        if system < ceiling && (system - external).abs() < slack {
            return (system, external);
        }
        assert!(
            Instant::now() < deadline,
            "system-level live bytes stay at {} KiB (external count {} KiB, ceiling {} KiB)",
            system >> 10,
            external >> 10,
            ceiling >> 10
        );
        gc_core::collect();
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn background_frees_go_back_through_the_mutator() {
    let _turn = take_turn();
    with_watchdog("remote frees", || {
        MUTATOR.with(|m| m.set(true));
        // Counting switches on after its first quantum.
        drop(black_box(vec![1u8; 4 << 20]));

        // The churn: 10,000 rounds of 12 KiB, the last 256 rounds alive.
        let start = mem_stats();
        let (on0, else0, past0) = (
            FREED_ON_MUTATOR.load(Relaxed),
            FREED_ELSEWHERE.load(Relaxed),
            remote_frees_drained_past_bound(),
        );
        let mut ring: Vec<_> = (0..256).map(garbage).collect();
        for i in 0..10_000 {
            ring[i % 256] = garbage(i);
        }
        assert!(ring
            .iter()
            .all(|(s, v, d)| s.len() > 4096 && v.len() == 4096 && d.owned.0.len() == 4096));
        drop(ring);
        let cycles = mem_stats().num_gc - start.num_gc;
        assert!(cycles >= 3, "only {cycles} cycles");
        let on = FREED_ON_MUTATOR.load(Relaxed) - on0;
        let elsewhere = FREED_ELSEWHERE.load(Relaxed) - else0;
        let past_bound = remote_frees_drained_past_bound() - past0;
        eprintln!(
            "freed: {} KiB on the mutator, {} KiB elsewhere, {} KiB of it past the bound",
            on >> 10,
            elsewhere >> 10,
            past_bound >> 10
        );
        // Off the mutator, the runtime's threads free a little of their own (mark work,
        // bookkeeping) and the garbage's buffers only when the mutator let 8 MiB of queued
        // frees pile up (descheduled on a busy machine: how often is up to the scheduler);
        // without the queue they would free nearly all of the churn's 120 MB.
        assert!(on > 0, "nothing freed on the mutator");
        assert!(
            elsewhere <= past_bound + 8 * MIB as u64,
            "{} KiB freed off the mutator, {} KiB of it past the bound ({} KiB on it)",
            elsewhere >> 10,
            past_bound >> 10,
            on >> 10
        );

        // A held set of 16 MiB, dropped: its bytes come back to the system allocator.
        gc_core::collect();
        gc_core::collect();
        let (base, _) = settle(i64::MAX, 2 * MIB);
        let held: Vec<Gc<String>> = (0..4096)
            .map(|i| Gc::new("h".repeat(4096) + &i.to_string()))
            .collect();
        let peak = SYSTEM_LIVE.load(Relaxed);
        assert!(
            peak - base >= 12 * MIB,
            "held set: {} KiB",
            (peak - base) >> 10
        );
        drop(held);
        gc_core::collect();
        settle(base + 2 * MIB, 2 * MIB);
    });
}

/// `/gc-core/external/kept:bytes`.
fn kept_bytes() -> u64 {
    let mut s = [gc_core::metrics::Sample::new(
        "/gc-core/external/kept:bytes",
    )];
    gc_core::metrics::read(&mut s);
    match s[0].value {
        gc_core::metrics::Value::Uint64(v) => v,
        ref v => panic!("kept bytes: {v:?}"),
    }
}

#[test]
fn small_garbage_buffers_are_reused_by_the_mutator() {
    let _turn = take_turn();
    with_watchdog("recycled buffers", || {
        MUTATOR.with(|m| m.set(true));
        // Counting switches on after its first quantum.
        drop(black_box(vec![1u8; 4 << 20]));
        gc_core::collect();
        // 5,000 buffers of 72 bytes (not `vec![0; n]`: that one is `alloc_zeroed`) become
        // garbage: about 30 batches of queued frees if the background sweeper frees them,
        // under the bound past which it would make them itself, and 360 KB, under what a
        // thread keeps.
        let n = 5_000;
        let garbage: Vec<Gc<Vec<u8>>> = (0..n).map(|i| Gc::new(vec![i as u8; 72])).collect();
        drop(black_box(garbage));
        gc_core::collect();
        // This allocation drains what the background threads queued.
        drop(black_box(Box::new([0u8; 64])));
        // The kept blocks are in the metric (published at each drain's end and after
        // each span the mutator swept).
        let kept = kept_bytes();
        assert!(kept >= 1000 * 72, "{kept} bytes kept");
        // And in `mem_stats()`, from the same sum.
        let kept = gc_core::mem_stats().external_kept;
        assert!(kept >= 1000 * 72, "mem_stats: {kept} bytes kept");
        // The buffers came back to this thread, whichever thread swept them: the next
        // thousand of that layout reach the system allocator none of them (before the
        // recycle cache, all of them).
        let before = RECYCLED_SIZE_ALLOCS.load(Relaxed);
        let again: Vec<Vec<u8>> = (0..1000).map(|i| vec![i as u8; 72]).collect();
        let reached = RECYCLED_SIZE_ALLOCS.load(Relaxed) - before;
        assert!(again.iter().all(|v| v.len() == 72));
        assert_eq!(
            reached, 0,
            "{reached} of 1000 buffers from the system allocator"
        );
    });
}
