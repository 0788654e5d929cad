//! The unroot pass turns a large list back into edges a chunk at a time
//! (`Trace::unroot_chunk`, `GcCell::unroot_in_chunks`), letting go of the cell between two
//! chunks so that other threads read it meanwhile (before, they waited for the whole
//! list: 19-20 ms for 2.8 million handles). Each handle keeps its own root flag, so a
//! list left part edges, part roots is consistent, and:
//!
//! - a reader gets in between two chunks (`try_borrow` there succeeds);
//! - a writer that gets in between two chunks roots the edges again: a handle it takes out
//!   of the list stays alive (the pass then stops, seeing the cell rooted);
//! - a reader that holds on past the next chunk's time makes the pass leave the rest rooted
//!   for the next pass, which finishes it: a garbage cycle through the list's last
//!   elements (rooted until then) is collected by paced cycles afterwards;
//! - a read guard leaked there: no later pass waits for it, and the list keeps every
//!   element.
//!
//! The pass is held between its first and second chunk (the debug-only
//! `__private::hold_unroot_chunks`). The scenario runs in a child process with
//! `GODEBUG=gccheckmark=1,clobberfree=1` (a reachable object left white aborts it; freed
//! memory is poisoned and checked at reuse) and two Ps. Run it by hand:
//! `GC_CORE_TEST_CHILD=1 GODEBUG=gccheckmark=1,clobberfree=1 GOMAXPROCS=2 cargo test
//! --test large_cell_unroot -- --exact child_unroot --nocapture`.

#![cfg(debug_assertions)] // the hold exists in debug builds only

mod common;

use common::child::{is_child, run};
use common::{mix, wait_until};
use gc_core::{Gc, GcCell, Trace, Weak};
use std::hint::black_box;

/// The list's owner.
#[derive(Trace)]
struct Owner {
    list: GcCell<Vec<Gc<Back>>>,
}

/// An element: its id, a canary a freed and reused slot would not hold, and (for the last
/// few) an edge back to the owner, which makes the owner garbage only with the list.
#[derive(Trace)]
struct Back {
    id: u64,
    canary: u64,
    owner: GcCell<Option<Gc<Owner>>>,
}

/// Elements: three chunks of the pass (4,096 each) and a bit.
const LEN: u64 = 10_000;
/// The elements from here on point back to the owner: past the first chunk.
const BACK_FROM: u64 = LEN - 10;

fn check(b: &Back, id: u64) {
    assert_eq!(
        (b.id, b.canary),
        (id, mix(id)),
        "element {id} was freed while reachable"
    );
}

/// Every element of the list in order, from `first` on.
fn check_list(owner: &Owner, first: u64) {
    let list = owner.list.borrow();
    assert_eq!(list.len() as u64, LEN - first);
    for (b, id) in list.iter().zip(first..) {
        check(b, id);
    }
}

/// Garbage, so that freed slots are reused (and checked by `clobberfree`).
fn churn() {
    for i in 0..20_000 {
        black_box(Gc::new([i as u64; 4]));
    }
}

/// A forced cycle on another thread, held at the pass's second chunk while `at_gate` runs
/// here; returns what `at_gate` returned once the cycle is over.
fn cycle_held<R>(at_gate: impl FnOnce() -> R) -> R {
    gc_core::__private::hold_unroot_chunks(true);
    let collector = std::thread::spawn(gc_core::collect);
    wait_until(
        "held its unroot pass between two chunks",
        gc_core::__private::unroot_chunks_held,
    );
    let r = at_gate();
    gc_core::__private::hold_unroot_chunks(false);
    wait_until("finished the held cycle", || collector.is_finished());
    collector.join().expect("the cycle panicked");
    r
}

/// A list owner moved in large: rooted, as if written now.
fn new_owner() -> Gc<Owner> {
    let items = (0..LEN)
        .map(|id| {
            Gc::new(Back {
                id,
                canary: mix(id),
                owner: GcCell::new(None),
            })
        })
        .collect();
    Gc::new(Owner {
        list: GcCell::new(items),
    })
}

fn scenario() {
    let owner = new_owner();
    for b in &owner.list.borrow()[BACK_FROM as usize..] {
        drop(b.owner.replace(Some(owner.clone())));
    }
    let weak: Weak<Owner> = Gc::downgrade(&owner);

    // A reader, then a writer between the first and second chunk: the writer takes out the
    // first element, which the first chunk made an edge.
    let taken = cycle_held(|| {
        assert!(
            owner.list.try_borrow().is_ok(),
            "the pass held the list between two chunks"
        );
        check(&owner.list.borrow()[1], 1);
        owner.list.borrow_mut().remove(0)
    });
    for _ in 0..3 {
        churn();
        gc_core::collect();
    }
    check(&taken, 0);
    check_list(&owner, 1);

    // A reader that holds on through the rest of the cycle: the pass leaves the list part
    // rooted (the elements past the first chunk, the back edges among them).
    let guard = cycle_held(|| owner.list.borrow());
    check(&guard[0], 1);
    drop(guard);
    check_list(&owner, 1);

    // Garbage now but for the back edges' cycle, which only edges let go: paced cycles
    // (which never root a list again after their mark, as forced ones do for a list
    // written recently) must finish the list and free the owner.
    drop((owner, taken));
    let start = gc_core::mem_stats().num_gc;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while weak.upgrade().is_some() {
        assert!(
            gc_core::mem_stats().num_gc < start + 20 && std::time::Instant::now() < deadline,
            "the list's owner outlived 20 paced cycles: the list was never made all edges"
        );
        churn();
    }
    println!("PAST_CYCLES={}", gc_core::mem_stats().num_gc - start);

    // A read guard leaked between two chunks: the pass leaves the list part rooted, and
    // every later pass finds it held and leaves it so (none waits for the guard); the
    // cycles go on and the list keeps every element.
    let leaked = new_owner();
    cycle_held(|| std::mem::forget(leaked.list.borrow()));
    for _ in 0..6 {
        churn();
        gc_core::collect();
    }
    check_list(&leaked, 0);
    println!("PROBE_OK");
}

#[test]
fn child_unroot() {
    if is_child() {
        scenario();
    }
}

#[test]
fn a_large_list_is_made_edges_in_chunks_that_readers_and_writers_get_between() {
    let r = run(
        "child_unroot",
        &[
            ("GODEBUG", b"gccheckmark=1,clobberfree=1"),
            ("GOMAXPROCS", b"2"),
        ],
        &[],
    );
    r.assert_ok("chunked unroot");
    assert!(r.stdout.contains("PROBE_OK"), "{}", r.stdout);
}
