//! Leaked `GcCell` guards never stall the collector (issue 11, defect 8).
//!
//! - A write guard leaked (`mem::forget(cell.borrow_mut())`) on a cell outside the heap,
//!   which then moves into the heap (`Gc::new(Holder { cell })`): the move unrooted the
//!   cell through `&mut`, leaving an *edge* cell whose lock said "a writer holds it" for
//!   ever, and the marker (which waits out writers on edge cells) spun in `GcCell::trace`:
//!   `collect()` and every allocation past the goal hung. `&mut` proves that no guard is
//!   alive, so every `&mut self` path of `GcCell` now resets the lock.
//! - A write guard leaked on a cell already in the heap: its `borrow_mut` rooted the
//!   contents, the unroot pass finds the cell busy and leaves it rooted, and the marker
//!   skips it: collections complete and the contents stay alive (until the holder dies).
//! - Read guards leaked up to the user cap (`__private::GCCELL_MAX_READERS`, 2^27; the
//!   debug-only `__private::leak_cell_read_guards` counts them without 2^27 real borrows):
//!   the marker reads above the cap, so collections complete and trace the contents; one
//!   more user `borrow()` panics ("GcCell reader count overflow", like std's `RwLock`)
//!   where it would have taken the last readers the field has and left the marker failing.
//!
//! Each case runs in a child process (`tests/common/child.rs`), so a hang is a failure (the
//! child is killed after 120 s) instead of a stuck test run. By hand:
//!
//! ```sh
//! GC_CORE_TEST_CHILD=1 target/debug/deps/hostile_cells-<hash> \
//!     --exact child_leaked_writer_moved_into_heap --nocapture --test-threads=1
//! ```

#![cfg(debug_assertions)] // the test hooks exist in debug builds only

mod common;

use common::child::{automatic_cycles, is_child, run, MIB};
use gc_core::__private::{leak_cell_read_guards, GCCELL_MAX_READERS};
use gc_core::{mem_stats, Gc, GcCell, Trace};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

/// Objects the contents hold.
const K: u64 = 100;

/// Objects of the contents' size class (32 bytes): garbage of this size reuses the slots
/// of freed contents, so a wrongly freed object would be overwritten.
type Obj = [u64; 4];

#[derive(Trace)]
struct Holder {
    cell: GcCell<Vec<Gc<Obj>>>,
}

fn contents() -> Vec<Gc<Obj>> {
    (0..K).map(|i| Gc::new([i; 4])).collect()
}

fn intact(v: &[Gc<Obj>]) -> bool {
    v.len() as u64 == K && v.iter().enumerate().all(|(i, o)| **o == [i as u64; 4])
}

/// Collects `n` times, then allocates 32-byte garbage until `n` automatic cycles ran.
fn collect_and_churn(n: u32) {
    for _ in 0..n {
        gc_core::collect();
    }
    let before = automatic_cycles(&mem_stats());
    let mut spent = 0;
    while automatic_cycles(&mem_stats()) < before + n && spent < 1024 * MIB {
        for i in 0..(64u64 << 10) / 32 {
            black_box(Gc::<Obj>::new([0xDEAD_0000 + i; 4]));
        }
        spent += 64 << 10;
    }
    assert!(
        automatic_cycles(&mem_stats()) >= before + n,
        "no automatic cycles"
    );
}

#[test]
fn child_leaked_writer_moved_into_heap() {
    if !is_child() {
        return;
    }
    let cell = GcCell::new(contents());
    std::mem::forget(cell.borrow_mut());
    assert!(
        cell.try_borrow().is_err(),
        "the leaked guard holds the cell"
    );
    let holder = Gc::new(Holder { cell });
    collect_and_churn(3);
    assert!(intact(&holder.cell.borrow()), "contents survived");
    holder.cell.borrow_mut().push(Gc::new([K; 4]));
    collect_and_churn(2);
    let v = holder.cell.borrow();
    assert!(intact(&v[..K as usize]) && *v[K as usize] == [K; 4]);
    println!("PROBE_OK");
}

static DROPS: AtomicU64 = AtomicU64::new(0);

/// Counts its drops: the contents' objects must not be freed while the cell is alive.
#[derive(Trace)]
#[trace(unsafe_drop)]
struct Counted(u64);

impl Drop for Counted {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Trace)]
struct CountedHolder {
    cell: GcCell<Vec<Gc<Counted>>>,
}

fn counted_holder() -> Gc<CountedHolder> {
    let v: Vec<Gc<Counted>> = (0..K).map(|i| Gc::new(Counted(i))).collect();
    Gc::new(CountedHolder {
        cell: GcCell::new(v),
    })
}

#[test]
fn child_leaked_writer_in_heap() {
    if !is_child() {
        return;
    }
    let holder = counted_holder();
    gc_core::collect();
    std::mem::forget(holder.cell.borrow_mut());
    collect_and_churn(3);
    assert_eq!(DROPS.load(Ordering::SeqCst), 0, "the contents stay rooted");
    assert!(
        holder.cell.try_borrow().is_err(),
        "still held by the leaked guard"
    );
    // The holder's death frees everything, guard or not.
    drop(holder);
    for _ in 0..4 {
        gc_core::collect();
    }
    assert_eq!(DROPS.load(Ordering::SeqCst), K, "freed with their holder");
    println!("PROBE_OK");
}

#[test]
fn child_leaked_readers() {
    if !is_child() {
        return;
    }
    let holder = counted_holder();
    gc_core::collect();
    // Up to the cap: all but the last two counted by the hook, those two for real.
    leak_cell_read_guards(&holder.cell, GCCELL_MAX_READERS - 2);
    std::mem::forget(holder.cell.borrow());
    std::mem::forget(holder.cell.borrow());
    assert!(
        holder.cell.try_borrow().is_err(),
        "no user reader past the cap"
    );
    assert!(holder.cell.try_borrow_mut().is_err());
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(holder.cell.borrow())))
        .expect_err("a borrow past the cap panics");
    std::panic::set_hook(hook);
    let msg = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    assert!(msg.contains("GcCell reader count overflow"), "{msg:?}");
    // The marker still reads the cell (an edge cell: its contents are reachable only
    // through it), so collections complete and keep the contents.
    collect_and_churn(3);
    assert_eq!(DROPS.load(Ordering::SeqCst), 0, "the contents were traced");
    println!("PROBE_OK");
}

#[test]
fn leaked_write_guard_on_a_cell_moved_into_the_heap() {
    if is_child() {
        return;
    }
    run("child_leaked_writer_moved_into_heap", &[], &[]).assert_ok("writer moved into heap");
}

#[test]
fn leaked_write_guard_on_a_heap_cell() {
    if is_child() {
        return;
    }
    run("child_leaked_writer_in_heap", &[], &[]).assert_ok("writer in heap");
}

#[test]
fn leaked_read_guards_up_to_the_cap() {
    if is_child() {
        return;
    }
    run("child_leaked_readers", &[], &[]).assert_ok("leaked readers");
}
