//! Young objects allocated white (`gc-core/src/gc/young.rs`): what a program allocates
//! during a mark and drops before the mark's young scan dies in that cycle, and every
//! young object that is still reachable survives it, however its handle travelled: moved,
//! nested in another young object, stored into an object the marker had already scanned
//! (through a cell, an `AtomicGc`, or a young object stored there), cloned first, sent to
//! another thread.
//!
//! The cycle is held between its first mark round and its young scan (the debug-only
//! `__private::hold_young_scan`), where the old objects are marked and new ones white;
//! `GODEBUG=allocwhite=1` makes the small heap here use the scheme, which is otherwise
//! kept for goals of 128 MiB and more.
//! Each case runs in a child process with `GODEBUG=gccheckmark=1,clobberfree=1` (the
//! re-mark at termination aborts on any reachable object left white, and freed memory is
//! poisoned and checked at reuse), `GOGC=off` (only our cycles run) and two Ps. Run one by
//! hand: `GC_CORE_TEST_CHILD=1 GODEBUG=gccheckmark=1,clobberfree=1,allocwhite=1
//! GOMAXPROCS=2 GOGC=off cargo test --test young -- --exact child_young --nocapture`.

#![cfg(debug_assertions)] // the hold exists in debug builds only

mod common;

use common::child::{is_child, run, Run};
use common::{mix, wait_until};
use gc_core::{AtomicGc, Gc, GcCell, Trace, Weak};
use std::time::Duration;

#[derive(Trace)]
struct Node {
    id: u64,
    canary: u64,
    next: Option<Gc<Node>>,
}

fn node(id: u64, next: Option<Gc<Node>>) -> Gc<Node> {
    Gc::new(Node {
        id,
        canary: mix(id),
        next,
    })
}

/// Checks a node's fields (a freed and reused slot would not hold them).
fn check(n: &Gc<Node>, id: u64) {
    assert_eq!(
        (n.id, n.canary),
        (id, mix(id)),
        "node {id} was freed while reachable"
    );
}

/// An object allocated before the cycle: marked (and scanned) when the hold begins.
#[derive(Trace)]
struct Old {
    cell: GcCell<Vec<Gc<Node>>>,
    slot: AtomicGc<Node>,
}

/// What the scenario kept, to check after the cycle.
struct Kept {
    moved: Vec<Gc<Node>>,
    nested: Gc<Node>,
    sent: std::thread::JoinHandle<Gc<Node>>,
    weak_live: Weak<Node>,
    weak_dead: Vec<Weak<Node>>,
}

/// Allocates, during the hold, the young objects of every case.
fn young_objects(old: &Gc<Old>) -> Kept {
    // Kept by its own handle, moved around.
    let moved = vec![node(1, None)];
    // Only an edge of another young object.
    let nested = node(2, Some(node(3, None)));
    // Stored into the scanned old object's cell, its handle dropped.
    old.cell.borrow_mut().push(node(4, None));
    // Stored into the old object's `AtomicGc`, its handle dropped.
    old.slot.store(Some(node(5, None)));
    // A young chain stored into the old object's cell.
    old.cell
        .borrow_mut()
        .push(node(6, Some(node(7, Some(node(8, None))))));
    // Cloned first (the clone finds the object in this thread's root cache), then the
    // clone stored into the old object and the original dropped.
    let y = node(9, None);
    old.cell.borrow_mut().push(y.clone());
    drop(y);
    // A clone sent to another thread, which keeps it past the cycle; ours dropped.
    let y = node(10, None);
    let clone = y.clone();
    let sent = std::thread::spawn(move || {
        let n = node(11, Some(clone));
        std::thread::sleep(Duration::from_millis(50));
        n
    });
    drop(y);
    // Garbage: dropped before the young scan, single objects and a chain.
    let mut weak_dead = Vec::new();
    let mut chain = None;
    for id in 100..200 {
        let n = node(id, chain.take());
        weak_dead.push(Gc::downgrade(&n));
        chain = Some(n);
    }
    for id in 200..300 {
        weak_dead.push(Gc::downgrade(&node(id, None)));
    }
    drop(chain);
    let live = node(12, None);
    let weak_live = Gc::downgrade(&live);
    old.cell.borrow_mut().push(live);
    Kept {
        moved,
        nested,
        sent,
        weak_live,
        weak_dead,
    }
}

/// The scenario; prints how many garbage objects the held cycle freed.
fn scenario() {
    let old = Gc::new(Old {
        cell: GcCell::new(Vec::new()),
        slot: AtomicGc::new(None),
    });
    gc_core::__private::hold_young_scan(true);
    let collector = std::thread::spawn(gc_core::collect);
    wait_until(
        "reached its young scan",
        gc_core::__private::young_scan_held,
    );
    let kept = young_objects(&old);
    gc_core::__private::hold_young_scan(false);
    collector.join().unwrap();
    let dead_after_one = kept
        .weak_dead
        .iter()
        .filter(|w| w.upgrade().is_none())
        .count();
    // More cycles, and garbage that reuses whatever was freed.
    for round in 0..3 {
        for id in 0..20_000 {
            std::hint::black_box(node(1_000_000 + round * 20_000 + id, None));
        }
        gc_core::collect();
    }
    check(&kept.moved[0], 1);
    check(&kept.nested, 2);
    check(kept.nested.next.as_ref().unwrap(), 3);
    let cell = old.cell.borrow();
    let ids: Vec<u64> = cell.iter().map(|n| n.id).collect();
    assert_eq!(ids, [4, 6, 9, 12]);
    for (n, id) in cell.iter().zip([4, 6, 9, 12]) {
        check(n, id);
    }
    let seven = cell[1].next.as_ref().unwrap();
    check(seven, 7);
    check(seven.next.as_ref().unwrap(), 8);
    check(&old.slot.load().unwrap(), 5);
    let eleven = kept.sent.join().unwrap();
    check(&eleven, 11);
    check(eleven.next.as_ref().unwrap(), 10);
    check(
        &kept
            .weak_live
            .upgrade()
            .expect("a live young object's weak reference"),
        12,
    );
    let dead_after_four = kept
        .weak_dead
        .iter()
        .filter(|w| w.upgrade().is_none())
        .count();
    assert_eq!(
        dead_after_four,
        kept.weak_dead.len(),
        "garbage outlived 4 cycles"
    );
    println!("DEAD_AFTER_ONE={dead_after_one}");
    println!("PROBE_OK");
}

#[test]
fn child_young() {
    if is_child() {
        scenario();
    }
}

fn run_child(godebug: &[u8]) -> Run {
    run(
        "child_young",
        &[("GODEBUG", godebug), ("GOMAXPROCS", b"2"), ("GOGC", b"off")],
        &[],
    )
}

#[test]
fn young_garbage_dies_in_its_cycle_and_reachable_young_objects_survive() {
    let r = run_child(b"gccheckmark=1,clobberfree=1,allocwhite=1");
    r.assert_ok("young objects");
    assert_eq!(r.text("DEAD_AFTER_ONE="), "200", "{}", r.stdout);
}

#[test]
fn with_allocblack_young_garbage_survives_its_cycle() {
    // Go's rule, kept behind `GODEBUG=allocblack=1`: allocated black, so nothing made
    // during the mark dies in it.
    let r = run_child(b"gccheckmark=1,clobberfree=1,allocwhite=1,allocblack=1");
    r.assert_ok("allocblack");
    assert_eq!(r.text("DEAD_AFTER_ONE="), "0", "{}", r.stdout);
}
