//! A `GcCell` is biased to the first thread that reads it (its owner reads without a
//! locked instruction; `gc-core/src/object/cell_lock.rs`). Through the public API, with
//! real collections running:
//!
//! - the owner's reads (nested ones too), its writes, another thread's writes and the
//!   collector's unroot pass (which turns the written cell's contents back into edges,
//!   under suspended biases) lose no write and never let a write into a read;
//! - another thread's write waits for the owner's read guard, while the owner's nested
//!   reads still get in, and proceeds once the owner lets go;
//! - a read guard the owner leaks makes its own later write panic, another thread's write
//!   fail to get in, and leaves collections running.
//!
//! Anything that could hang runs under `common::with_watchdog`, failing instead.

mod common;

use common::with_watchdog;
use gc_core::{Gc, GcCell};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// A list of handles where element `i` holds `i` (checked by every read).
type List = Gc<GcCell<Vec<Gc<u64>>>>;

/// Appends the next element.
fn push(list: &List) {
    let mut v = list.borrow_mut();
    let n = v.len() as u64;
    v.push(Gc::new(n));
}

/// Reads the list twice, one read nested in the other, checking that both see the same
/// elements, each holding its index. Returns the length.
fn check(list: &List) -> usize {
    let outer = list.borrow();
    let inner = list.borrow();
    assert_eq!(
        outer.len(),
        inner.len(),
        "a write between two reads of one guard"
    );
    for (i, x) in outer.iter().enumerate().rev().take(8) {
        assert_eq!(**x, i as u64, "element {i}");
    }
    outer.len()
}

#[test]
fn owner_reads_writers_and_collections_lose_nothing() {
    with_watchdog("owner, writer and collector", || {
        const OWNER_WRITES: usize = 5_000;
        const OTHER_WRITES: usize = 5_000;
        let stop = Arc::new(AtomicBool::new(false));
        let collector = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut cycles = 0u32;
                while !stop.load(Ordering::Relaxed) || cycles == 0 {
                    gc_core::collect();
                    cycles += 1;
                }
                cycles
            })
        };
        let (tx, rx) = mpsc::channel();
        let owner = std::thread::spawn(move || {
            let list: List = Gc::new(GcCell::new(Vec::new()));
            check(&list); // the first read: the cell is this thread's from now on
            tx.send(list.clone()).unwrap();
            for i in 0..OWNER_WRITES * 8 {
                if i % 8 == 0 {
                    push(&list);
                } else {
                    check(&list);
                }
            }
            list
        });
        let shared = rx.recv().unwrap();
        for _ in 0..OTHER_WRITES {
            push(&shared);
            check(&shared);
        }
        let list = owner.join().expect("the owner failed a check");
        stop.store(true, Ordering::Relaxed);
        assert!(collector.join().unwrap() > 0);
        gc_core::collect();
        assert_eq!(list.borrow().len(), OWNER_WRITES + OTHER_WRITES);
        for (i, x) in list.borrow().iter().enumerate() {
            assert_eq!(**x, i as u64, "element {i} after the collections");
        }
    });
}

#[test]
fn a_writer_waits_for_the_owners_read_whose_nested_reads_still_get_in() {
    with_watchdog("writer behind the owner's read", || {
        let list: List = Gc::new(GcCell::new(vec![Gc::new(0)]));
        let outer = list.borrow(); // this thread owns the cell now
        let (started, seen) = mpsc::channel();
        let (wrote, done) = mpsc::channel();
        let writer = {
            let list = list.clone();
            std::thread::spawn(move || {
                started.send(()).unwrap();
                push(&list);
                wrote.send(()).unwrap();
            })
        };
        seen.recv().unwrap();
        for _ in 0..1_000 {
            assert_eq!(check(&list), 1);
            assert!(done.try_recv().is_err(), "a write while the owner reads");
        }
        drop(outer);
        done.recv_timeout(Duration::from_secs(60))
            .expect("the writer was not let in by the owner's release");
        writer.join().unwrap();
        assert_eq!(check(&list), 2);
        push(&list); // the owner writes on after losing its bias
        assert_eq!(check(&list), 3);
    });
}

#[test]
fn a_leaked_owner_read_makes_its_write_panic_and_collections_go_on() {
    with_watchdog("leaked owner read", || {
        let list: List = Gc::new(GcCell::new(vec![Gc::new(0)]));
        push(&list); // written: rooted and dirty, for the unroot pass to visit
        std::mem::forget(list.borrow());
        let msg = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| push(&list)))
            .expect_err("a write under this thread's own leaked read");
        let msg = msg
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| msg.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        assert!(msg.contains("already borrowed"), "{msg}");
        let other = list.clone();
        let refused = std::thread::spawn(move || other.try_borrow_mut().is_err())
            .join()
            .unwrap();
        assert!(refused, "another thread wrote under the leaked read");
        for _ in 0..3 {
            gc_core::collect(); // the pass finds the cell busy and goes on
        }
        assert_eq!(check(&list), 2, "reads still share with the leaked one");
    });
}
