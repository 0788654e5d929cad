//! A thread parked on a channel while holding roots does not stop collection (invariant
//! I4), and its roots survive every cycle that runs meanwhile.

use gc_core::{Gc, GcCell, Trace};
use std::sync::mpsc;

#[derive(Trace)]
struct Payload {
    values: GcCell<Vec<Gc<u64>>>,
}

#[test]
fn collections_proceed_while_a_root_holder_sleeps() {
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let p = Gc::new(Payload {
            values: GcCell::new((0..1000u64).map(Gc::new).collect()),
        });
        // Hold a write guard too: a writer parked in user code must not block the collector.
        let guard = p.values.borrow_mut();
        ready_tx.send(()).unwrap();
        go_rx.recv().unwrap(); // parked here while the main thread collects
        let sum: u64 = guard.iter().map(|g| **g).sum();
        drop(guard);
        let len = p.values.borrow().len() as u64;
        sum + len
    });
    ready_rx.recv().unwrap();
    let before = gc_core::mem_stats().num_gc;
    for _ in 0..5 {
        // Garbage, so automatic cycles also run.
        for i in 0..200_000u64 {
            std::hint::black_box(Gc::new([i; 4]));
        }
        gc_core::collect();
    }
    assert!(gc_core::mem_stats().num_gc >= before + 5);
    go_tx.send(()).unwrap();
    assert_eq!(holder.join().unwrap(), (0..1000u64).sum::<u64>() + 1000);
}
