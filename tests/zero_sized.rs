//! Zero-sized objects are objects (issue 11, defect 2): each `Gc::new` of a zero-sized
//! value is a distinct object with its own address, as `Rc::new`/`Arc::new` give distinct
//! allocations (`ptr_eq` says no), and it takes space, so a loop of `Gc::new(())` paces
//! cycles like any other garbage.
//!
//! Plain zero-sized types (no `Gc`, no drop glue) used to share one address inside the
//! thread's tiny block (they took no bytes of it, so every one landed at the same offset),
//! and 200,000 `Gc::new(())` never started a cycle. They now take one byte of the block;
//! zero-sized types with drop glue or a scanned class take a slot of the smallest class.
//! The pacing case runs in a child process (`tests/common/child.rs`) with `GOGC=100` fixed,
//! whatever the environment of the test run.

mod common;

use common::child::{automatic_cycles, is_child, run};
use common::units::{AlignedUnit, DropUnit, Unit, UNIT_DROPS};
use gc_core::{mem_stats, Gc, Trace};
use std::collections::HashSet;
use std::hint::black_box;
use std::sync::atomic::Ordering;

/// Live handles made of each type.
const N: usize = 1000;

/// Scanned (as if it held a `Gc`): not tiny either, a slot in a scan span.
#[derive(Trace, PartialEq, Debug)]
#[trace(always_scan)]
struct ScanUnit;

/// `N` live handles of one zero-sized type: every two are different objects (and each is
/// the same object as its clone); returns their addresses.
fn distinct<T: Trace + Send + Sync + 'static>(make: impl Fn() -> T) -> (Vec<Gc<T>>, Vec<usize>) {
    let v: Vec<Gc<T>> = (0..N).map(|_| Gc::new(make())).collect();
    for (i, a) in v.iter().enumerate() {
        assert!(Gc::ptr_eq(a, &a.clone()));
        for b in &v[i + 1..] {
            assert!(
                !Gc::ptr_eq(a, b),
                "two allocations of {} are one object",
                std::any::type_name::<T>()
            );
        }
    }
    let addrs = v.iter().map(|g| Gc::as_ptr(g) as usize).collect();
    (v, addrs)
}

#[test]
fn distinct_allocations_are_distinct_objects() {
    if is_child() {
        return;
    }
    let drops = UNIT_DROPS.load(Ordering::SeqCst);
    let (units, a1) = distinct(|| ());
    let (named, a2) = distinct(|| Unit);
    let (aligned, a3) = distinct(|| AlignedUnit);
    let (dropping, a4) = distinct(|| DropUnit);
    let (scanned, a5) = distinct(|| ScanUnit);
    let all: Vec<usize> = [a1, a2, a3, a4, a5].concat();
    let unique: HashSet<usize> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "all addresses pairwise distinct");
    for g in &aligned {
        assert_eq!(Gc::as_ptr(g) as usize % 8, 0, "aligned to 8");
    }

    // They are live objects: a collection keeps them, and drops each droppable one once
    // they go.
    gc_core::collect();
    assert_eq!(units.len() + named.len() + scanned.len(), 3 * N);
    assert!(named.iter().all(|u| **u == Unit) && scanned.iter().all(|u| **u == ScanUnit));
    assert_eq!(UNIT_DROPS.load(Ordering::SeqCst), drops, "all still rooted");
    drop(dropping);
    gc_core::collect();
    assert_eq!(UNIT_DROPS.load(Ordering::SeqCst), drops + N as u64);
}

/// Zero-sized objects allocated and dropped at once.
const UNITS: u64 = 20_000_000;

#[test]
fn child_zero_sized_garbage() {
    if !is_child() {
        return;
    }
    let before = automatic_cycles(&mem_stats());
    for _ in 0..UNITS {
        black_box(Gc::new(()));
    }
    println!("AUTO_GC={}", automatic_cycles(&mem_stats()) - before);
    println!("PROBE_OK");
}

/// 20 million one-byte objects are 20 MB of garbage against `GOGC=100`'s first goal of
/// 4 MiB: cycles start on their own (none did when they took no space).
#[test]
fn zero_sized_garbage_starts_cycles() {
    if is_child() {
        return;
    }
    let r = run("child_zero_sized_garbage", &[("GOGC", b"100")], &[]);
    r.assert_ok("zero-sized garbage");
    let cycles = r.num("AUTO_GC=");
    assert!(cycles >= 2, "{cycles} automatic cycles for {UNITS} objects");
}
