//! `GcCell` borrows behave like `RefCell` where one thread conflicts with itself, and like
//! a lock between threads (issue 14):
//!
//! - a borrow this thread blocks itself panics ("already mutably borrowed" for `borrow`
//!   under a write guard, "already borrowed" for `borrow_mut`, `replace`, `set`, `take`,
//!   `swap`, `replace_with` under any guard), leaves nothing held, and the `try_` forms
//!   return `BorrowError`/`BorrowMutError`;
//! - another thread's conflicting borrow waits, then proceeds once the guard is dropped;
//! - a guard leaked with `mem::forget` makes later conflicting borrows on its thread panic
//!   instead of hanging, until the cell goes through `&mut` (`get_mut`);
//! - the guard combinators (`map`, `filter_map`, `map_split`, `GcCellRef::clone`) keep the
//!   lock as long as any guard made from it lives, and handles stored through a mapped
//!   write guard survive collections;
//! - `swap` between two heap cells from two threads in opposite orders never deadlocks;
//! - the std traits compare, order, hash and clone by contents, a cell with itself too.
//!
//! Anything that could hang runs on a spawned thread that the test waits for with
//! `recv_timeout` ([`HANG`]), failing instead of hanging.

mod common;

use common::with_watchdog;
use gc_core::{BorrowError, BorrowMutError, Gc, GcCell, GcCellRef, GcCellRefMut, Trace};
use std::any::Any;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// A deadlock, not slowness: healthy cases finish in well under a second.
const HANG: Duration = Duration::from_secs(120);

/// The message of the panic `f` raises; fails the test if it does not panic.
fn panic_message<R>(f: impl FnOnce() -> R) -> String {
    let err: Box<dyn Any + Send> = match catch_unwind(AssertUnwindSafe(|| drop(f()))) {
        Ok(()) => panic!("expected a panic"),
        Err(e) => e,
    };
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

fn assert_panics_with<R>(what: &str, expected: &str, f: impl FnOnce() -> R) {
    let msg = panic_message(f);
    assert!(msg.contains(expected), "{what}: {msg:?}");
}

/// Nobody holds `cell`: a write and then a read can be had at once.
fn assert_free<T: Trace>(cell: &GcCell<T>) {
    drop(cell.try_borrow_mut().expect("no guard left held"));
    drop(cell.try_borrow().expect("no guard left held"));
}

/// Every write on a cell this thread holds a read guard on panics with "already borrowed".
fn writes_panic_already_borrowed(cell: &GcCell<Vec<u64>>, other: &GcCell<Vec<u64>>) {
    assert_panics_with("borrow_mut", "already borrowed", || cell.borrow_mut());
    assert_panics_with("replace", "already borrowed", || cell.replace(vec![9]));
    assert_panics_with("set", "already borrowed", || cell.set(vec![9]));
    assert_panics_with("take", "already borrowed", || cell.take());
    assert_panics_with("replace_with", "already borrowed", || {
        cell.replace_with(|v| v.clone())
    });
    // Both orders: the held cell is locked first or second (by address).
    assert_panics_with("swap", "already borrowed", || cell.swap(other));
    assert_panics_with("swap back", "already borrowed", || other.swap(cell));
    assert_eq!(cell.try_borrow_mut().err(), Some(BorrowMutError));
    // The other cell was locked and unlocked again by the failed swaps.
    assert_free(other);
}

#[test]
fn read_then_write_panics() {
    with_watchdog("read then write panics", || {
        let cell = GcCell::new(vec![1u64, 2]);
        let other = GcCell::new(vec![3u64]);
        {
            let r = cell.borrow();
            writes_panic_already_borrowed(&cell, &other);
            // Reads still share.
            assert_eq!(*cell.try_borrow().expect("a second reader"), [1, 2]);
            assert_eq!(cell.borrow().len(), r.len());
        }
        {
            // A mapped read guard holds the lock the same way.
            let first = GcCellRef::map(cell.borrow(), |v| &v[0]);
            writes_panic_already_borrowed(&cell, &other);
            assert_eq!(*first, 1);
        }
        assert_free(&cell);
        assert_eq!(*cell.borrow(), [1, 2], "the failed writes changed nothing");
        cell.borrow_mut().push(3);
        assert_eq!(*cell.borrow(), [1, 2, 3]);
    });
}

#[test]
fn write_then_read_panics() {
    with_watchdog("write then read panics", || {
        let cell = GcCell::new(vec![1u64]);
        let other = GcCell::new(vec![1u64]);
        {
            let mut w = cell.borrow_mut();
            w.push(2);
            assert_panics_with("borrow", "already mutably borrowed", || cell.borrow());
            assert_eq!(cell.try_borrow().err(), Some(BorrowError));
            // The traits read through `borrow`.
            assert_panics_with("eq", "already mutably borrowed", || cell == other);
            assert_panics_with("eq, other side", "already mutably borrowed", || {
                other == cell
            });
            assert_panics_with("cmp", "already mutably borrowed", || cell.cmp(&other));
            assert_panics_with("clone", "already mutably borrowed", || cell.clone());
            assert_panics_with("hash", "already mutably borrowed", || {
                cell.hash(&mut DefaultHasher::new())
            });
            assert_eq!(format!("{cell:?}"), "GcCell { <locked> }");
            assert_eq!(*w, [1, 2], "the guard is intact");
        }
        assert_free(&cell);
        assert_eq!(*cell.borrow(), [1, 2]);
    });
}

#[test]
fn write_then_write_panics() {
    with_watchdog("write then write panics", || {
        let cell = GcCell::new(vec![1u64]);
        let other = GcCell::new(vec![5u64]);
        {
            let _w = cell.borrow_mut();
            writes_panic_already_borrowed(&cell, &other);
        }
        {
            // A mapped write guard and a split pair hold the lock the same way.
            let w = GcCellRefMut::map(cell.borrow_mut(), |v| &mut v[0]);
            writes_panic_already_borrowed(&cell, &other);
            assert_panics_with("borrow", "already mutably borrowed", || cell.borrow());
            drop(w);
            let (a, b) = GcCellRefMut::map_split(other.borrow_mut(), |v| v.split_at_mut(0));
            writes_panic_already_borrowed(&other, &cell);
            drop((a, b));
        }
        assert_free(&cell);
        assert_free(&other);
        assert_eq!((cell.take(), other.take()), (vec![1], vec![5]));
    });
}

/// Another thread's conflicting borrow fails its `try_` forms, waits (no panic), and
/// proceeds once this thread's guard is dropped, seeing what was written under it.
#[test]
fn other_threads_wait_and_then_proceed() {
    let cell = std::sync::Arc::new(GcCell::new(vec![0u64]));

    // A write guard here; the other thread reads.
    let w = cell.borrow_mut();
    let (ready_tx, ready_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let c = cell.clone();
    let reader = std::thread::spawn(move || {
        let tries = (c.try_borrow().err(), c.try_borrow_mut().err());
        ready_tx.send(tries).unwrap();
        let seen = c.borrow().clone();
        done_tx.send(seen).unwrap();
    });
    let tries = ready_rx.recv_timeout(HANG).expect("the reader started");
    assert_eq!(tries, (Some(BorrowError), Some(BorrowMutError)));
    let mut w = w;
    w.push(1);
    drop(w);
    assert_eq!(
        done_rx.recv_timeout(HANG).expect("the reader proceeded"),
        [0, 1]
    );
    reader.join().unwrap();

    // A read guard here; the other thread writes.
    let r = cell.borrow();
    let (ready_tx, ready_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let c = cell.clone();
    let writer = std::thread::spawn(move || {
        ready_tx.send(c.try_borrow_mut().err()).unwrap();
        c.borrow_mut().push(2);
        done_tx.send(()).unwrap();
    });
    assert_eq!(
        ready_rx.recv_timeout(HANG).expect("the writer started"),
        Some(BorrowMutError)
    );
    assert_eq!(*r, [0, 1], "no write while the read guard lives");
    drop(r);
    done_rx.recv_timeout(HANG).expect("the writer proceeded");
    writer.join().unwrap();
    assert_eq!(*cell.borrow(), [0, 1, 2]);
}

/// Threads that block on a cell park until a release wakes them; releases find them
/// through a count beside the lock, not a bit in it (`cell_lock.rs`). Writers on a few
/// heap cells, now and then holding their guard for milliseconds (long enough for the
/// others to stop spinning and park: contention, not timing, is what the sleep is for):
/// every write lands, and nobody sleeps through its wake-up (the watchdog: a write release
/// that wakes nobody makes this test hang).
#[test]
fn writers_blocked_by_writers_are_woken() {
    const THREADS: u64 = 6;
    const ROUNDS: u64 = 300;
    let total = with_watchdog("writers on contended cells", || {
        let cells: Gc<[GcCell<u64>; 3]> = Gc::new([GcCell::new(0), GcCell::new(0), GcCell::new(0)]);
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let cells = cells.clone();
                std::thread::spawn(move || {
                    for i in 0..ROUNDS {
                        let mut w = cells[((t + i) % 3) as usize].borrow_mut();
                        *w += 1;
                        if i % 30 == t {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        drop(w);
                        if i % 100 == 0 {
                            gc_core::collect();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        cells.iter().map(|c| *c.borrow()).sum::<u64>()
    });
    assert_eq!(total, THREADS * ROUNDS, "a write was lost");
}

/// As above, for the last read guard's release: a writer that parked behind a read guard
/// held for milliseconds is woken when it goes (a read release that wakes nobody makes
/// this test hang).
#[test]
fn writers_blocked_by_readers_are_woken() {
    const ROUNDS: u64 = 20;
    let total = with_watchdog("a writer behind readers", || {
        let cell = Gc::new(GcCell::new(0u64));
        let (held_tx, held_rx) = mpsc::channel();
        let reader = {
            let cell = cell.clone();
            std::thread::spawn(move || {
                for k in 0..ROUNDS {
                    let r = cell.borrow();
                    held_tx.send(()).unwrap();
                    std::thread::sleep(Duration::from_millis(3));
                    drop(r);
                    // Until this round's write is done (no read guard of ours meanwhile).
                    while cell.try_borrow().map_or(true, |v| *v == k) {
                        std::thread::yield_now();
                    }
                }
            })
        };
        for _ in 0..ROUNDS {
            held_rx.recv().unwrap();
            *cell.borrow_mut() += 1;
        }
        reader.join().unwrap();
        let v = *cell.borrow();
        v
    });
    assert_eq!(total, ROUNDS, "a write was lost");
}

#[test]
fn leaked_guards_panic_instead_of_hanging_until_get_mut() {
    with_watchdog(
        "leaked guards panic instead of hanging until get mut",
        || {
            let mut cell = GcCell::new(7u64);
            std::mem::forget(cell.borrow_mut());
            assert_panics_with("borrow", "already mutably borrowed", || cell.borrow());
            assert_panics_with("borrow_mut", "already borrowed", || cell.borrow_mut());
            assert_panics_with("set", "already borrowed", || cell.set(8));
            // `&mut` proves no guard is alive: the leak is forgotten.
            *cell.get_mut() += 1;
            assert_free(&cell);
            assert_eq!(*cell.borrow(), 8);

            std::mem::forget(cell.borrow());
            assert_eq!(*cell.borrow(), 8, "reads still share with a leaked reader");
            assert_panics_with("borrow_mut", "already borrowed", || cell.borrow_mut());
            assert_panics_with("take", "already borrowed", || cell.take());
            cell.get_mut();
            assert_free(&cell);

            // The leaked reader's record went with the reset: a write that has to wait for
            // another thread's reader waits (it would panic if the record were still here).
            let cell = &cell;
            std::thread::scope(|s| {
                let (held_tx, held_rx) = mpsc::channel();
                let (go_tx, go_rx) = mpsc::channel::<()>();
                s.spawn(move || {
                    let r = cell.borrow();
                    held_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                    drop(r);
                });
                held_rx
                    .recv_timeout(HANG)
                    .expect("the reader holds the cell");
                go_tx.send(()).unwrap();
                *cell.borrow_mut() = 9;
            });
            assert_eq!(*cell.borrow(), 9);
        },
    );
}

#[test]
fn read_guard_combinators() {
    with_watchdog("read guard combinators", || {
        let cell = GcCell::new((3u32, String::from("three"), Some(4u8)));
        let name: GcCellRef<'_, str> = GcCellRef::map(cell.borrow(), |v| v.1.as_str());
        assert_eq!(&*name, "three");
        assert_eq!(format!("{name}/{name:?}"), "three/\"three\"");
        let again = GcCellRef::clone(&name);
        drop(name);
        assert_eq!(
            cell.try_borrow_mut().err(),
            Some(BorrowMutError),
            "the clone holds"
        );
        drop(again);
        assert_free(&cell);

        let four = GcCellRef::filter_map(cell.borrow(), |v| v.2.as_ref()).expect("present");
        assert_eq!(*four, 4);
        drop(four);
        let none = GcCellRef::filter_map(cell.borrow(), |v| v.1.strip_prefix("x"));
        let orig = none.expect_err("absent: the original guard back");
        assert_eq!(orig.0, 3);
        drop(orig);
        assert_free(&cell);

        let (n, s) = GcCellRef::map_split(cell.borrow(), |v| (&v.0, &v.1));
        assert_eq!((*n, s.as_str()), (3, "three"));
        drop(n);
        assert!(cell.try_borrow_mut().is_err(), "the second half holds");
        drop(s);
        assert_free(&cell);
    });
}

#[test]
fn write_guard_combinators() {
    with_watchdog("write guard combinators", || {
        let cell = GcCell::new((1u32, vec![1u64, 2, 3, 4], None::<u8>));
        *GcCellRefMut::map(cell.borrow_mut(), |v| &mut v.0) += 1;
        let orig =
            GcCellRefMut::filter_map(cell.borrow_mut(), |v| v.2.as_mut()).expect_err("absent");
        drop(orig);
        cell.borrow_mut().2 = Some(5);
        *GcCellRefMut::filter_map(cell.borrow_mut(), |v| v.2.as_mut()).expect("present") += 1;

        let (mut lo, mut hi) = GcCellRefMut::map_split(cell.borrow_mut(), |v| v.1.split_at_mut(2));
        lo[0] = 10;
        hi[1] = 40;
        // Split again: all three share the one write lock.
        let (mut h0, h1) = GcCellRefMut::map_split(hi, |s| s.split_at_mut(1));
        h0[0] = 30;
        drop(lo);
        assert_eq!(
            cell.try_borrow().err(),
            Some(BorrowError),
            "two halves still hold"
        );
        drop(h0);
        assert!(cell.try_borrow().is_err(), "the last half still holds");
        let other_thread =
            std::thread::scope(|s| s.spawn(|| cell.try_borrow().is_err()).join().unwrap());
        assert!(other_thread, "locked for other threads too");
        assert_eq!(format!("{h1:?}"), "[40]");
        drop(h1);
        assert_free(&cell);
        assert_eq!(*cell.borrow(), (2, vec![10, 2, 30, 40], Some(6)));
    });
}

static LIVE_LEAVES: AtomicU64 = AtomicU64::new(0);

struct LeafCount;
impl Drop for LeafCount {
    fn drop(&mut self) {
        LIVE_LEAVES.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Trace)]
struct Leaf {
    value: u64,
    #[trace(skip)]
    _count: LeafCount,
}

fn leaf(value: u64) -> Gc<Leaf> {
    LIVE_LEAVES.fetch_add(1, Ordering::SeqCst);
    Gc::new(Leaf {
        value,
        _count: LeafCount,
    })
}

/// A number and two lists of leaves.
type Contents = (u64, Vec<Gc<Leaf>>, Vec<Gc<Leaf>>);

#[derive(Trace)]
struct Holder {
    cell: GcCell<Contents>,
}

/// Handles stored through mapped and split write guards into a heap cell stay alive
/// through collections (the guards point into rooted contents), and are freed with it.
#[test]
fn handles_through_mapped_write_guards_survive_collections() {
    let holder = Gc::new(Holder {
        cell: GcCell::new((0, Vec::new(), Vec::new())),
    });
    gc_core::collect(); // the cell is an edge cell now
    for round in 0..4u64 {
        for i in 0..100 {
            GcCellRefMut::map(holder.cell.borrow_mut(), |v| &mut v.1).push(leaf(round * 1000 + i));
        }
        let (mut a, mut b) =
            GcCellRefMut::map_split(holder.cell.borrow_mut(), |v| (&mut v.1, &mut v.2));
        // Move one handle from one half to the other, and add new ones to both.
        let moved = a.pop().expect("a leaf");
        b.push(moved);
        a.push(leaf(round * 1000 + 500));
        b.push(leaf(round * 1000 + 600));
        drop((a, b));
        gc_core::collect();
        gc_core::collect();
    }
    // Garbage of the leaves' size class, to reuse the slots of wrongly freed leaves.
    for i in 0..100_000u64 {
        std::hint::black_box(Gc::new([i; 2]));
    }
    gc_core::collect();
    let guard = holder.cell.borrow();
    assert_eq!((guard.1.len(), guard.2.len()), (400, 8));
    for (round, chunk) in guard.1.chunks(100).enumerate() {
        let round = round as u64;
        let expected = (0..99)
            .map(|i| round * 1000 + i)
            .chain([round * 1000 + 500]);
        assert!(chunk.iter().map(|l| l.value).eq(expected), "round {round}");
    }
    for (round, pair) in guard.2.chunks(2).enumerate() {
        let round = round as u64;
        assert_eq!(
            [pair[0].value, pair[1].value],
            [round * 1000 + 99, round * 1000 + 600]
        );
    }
    assert_eq!(LIVE_LEAVES.load(Ordering::SeqCst), 408, "no leaf was freed");
    drop(guard);
    drop(holder);
    common::collect_until(|| LIVE_LEAVES.load(Ordering::SeqCst) == 0);
}

#[derive(Trace)]
struct Slot {
    cell: GcCell<Vec<Gc<u64>>>,
}

/// Two threads swap the same two heap cells in opposite orders (the locks are taken in
/// address order, so this cannot deadlock) while a third reads both and collections run.
#[test]
fn swaps_in_opposite_orders_do_not_deadlock() {
    const SWAPS: usize = 20_000;
    let a = Gc::new(Slot {
        cell: GcCell::new(vec![Gc::new(1), Gc::new(2)]),
    });
    let b = Gc::new(Slot {
        cell: GcCell::new(vec![Gc::new(3)]),
    });
    gc_core::collect();
    let (x, y) = (a.clone(), b.clone());
    let totals = with_watchdog("opposite swaps", move || {
        std::thread::scope(|s| {
            s.spawn(|| (0..SWAPS).for_each(|_| x.cell.swap(&y.cell)));
            s.spawn(|| (0..SWAPS).for_each(|_| y.cell.swap(&x.cell)));
            let reader = s.spawn(|| {
                let mut seen = 0u64;
                for i in 0..SWAPS {
                    // Compare in both orders while the swaps run.
                    seen += u64::from(x.cell == y.cell) + u64::from(y.cell < x.cell);
                    if i % 5000 == 0 {
                        gc_core::collect();
                    }
                }
                seen
            });
            reader.join().unwrap();
        });
        let sum = |c: &GcCell<Vec<Gc<u64>>>| c.borrow().iter().map(|g| **g).sum::<u64>();
        (sum(&x.cell), sum(&y.cell))
    });
    // An even number of swaps in all: back where they started.
    assert_eq!(totals, (3, 3));
    assert_eq!(a.cell.borrow().len(), 2);
    gc_core::collect();
    assert_eq!(*b.cell.borrow()[0], 3);
}

#[test]
fn swap_take_replace_with() {
    with_watchdog("swap take replace with", || {
        let a = GcCell::new(vec![Gc::new(1u64)]);
        let b = GcCell::new(vec![]);
        a.swap(&b);
        assert!(a.borrow().is_empty());
        b.swap(&b); // with itself: nothing
        assert_eq!(*b.borrow()[0], 1);
        let old = b.replace_with(|v| {
            v.push(Gc::new(2));
            vec![Gc::new(3)]
        });
        assert_eq!(old.iter().map(|g| **g).collect::<Vec<_>>(), [1, 2]);
        gc_core::collect();
        assert_eq!(b.take().iter().map(|g| **g).collect::<Vec<_>>(), [3]);
        assert!(b.borrow().is_empty());
        assert_eq!(b.into_inner().len(), 0);
    });
}

fn hash_of<T: Hash + ?Sized>(v: &T) -> u64 {
    let mut h = DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

#[test]
#[allow(clippy::mutable_key_type)] // cells as set elements: nobody mutates them there
fn std_traits_go_by_contents() {
    with_watchdog("std traits go by contents", || {
        let a: GcCell<Vec<u32>> = GcCell::from(vec![1, 2]);
        let b = a.clone();
        b.borrow_mut().push(3);
        assert_eq!(*a.borrow(), [1, 2], "a clone is a new cell");
        let same = &a;
        assert!(a == *same, "a cell equals itself");
        // Each operator on its own (the traits forward every one).
        assert!(a != b);
        assert!(a < b);
        assert!(b > a);
        assert!(a <= *same);
        assert!(b >= a);
        assert_eq!(a.cmp(&b), std::cmp::Ordering::Less);
        assert_eq!(a.partial_cmp(same), Some(std::cmp::Ordering::Equal));
        assert_eq!(hash_of(&a), hash_of(&vec![1u32, 2]));
        assert_eq!(GcCell::new(vec![1u32, 2]), a);
        assert_eq!(GcCell::<Vec<u32>>::default(), GcCell::new(vec![]));
        assert_eq!(format!("{a:?}"), "GcCell { value: [1, 2] }");

        // Self-comparison runs `T`'s own comparison (NaN is not equal to itself), and holding
        // a read guard while comparing is fine.
        let nan = GcCell::new(f64::NAN);
        let same = &nan;
        let _r = nan.borrow();
        assert!(nan != *same);
        assert_eq!(nan.partial_cmp(same), None);

        // Cells as set elements and map keys.
        let set: std::collections::HashSet<GcCell<u8>> = [1, 2, 2, 3].map(GcCell::new).into();
        assert_eq!(set.len(), 3);
        let sorted: std::collections::BTreeSet<GcCell<u8>> = [3, 1, 2].map(GcCell::new).into();
        assert!(sorted.iter().map(|c| *c.borrow()).eq([1, 2, 3]));
    });
}
