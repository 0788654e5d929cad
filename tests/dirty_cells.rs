//! Cells written inside heap objects are recorded as dirty (their slot's bit, or the list
//! for cells outside heap slots) and turned back into edges by the next cycle: cycles made
//! through any kind of cell are freed, and objects that die while dirty are freed with no
//! unlisting.

mod common;

use gc_core::{Gc, GcCell, Trace};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::Counted;

/// A cell nested inline in another cell's contents (both in the object's slot).
#[derive(Trace)]
struct Inner {
    next: GcCell<Option<Gc<Outer>>>,
    tag: u8,
}

#[derive(Trace)]
struct Outer {
    cell: GcCell<Inner>,
    #[trace(skip)]
    _c: Counted,
}

fn outer(drops: &Arc<AtomicUsize>) -> Gc<Outer> {
    Gc::new(Outer {
        cell: GcCell::new(Inner {
            next: GcCell::new(None),
            tag: 1,
        }),
        _c: Counted(drops.clone()),
    })
}

#[test]
fn cycle_through_a_cell_nested_inline_is_freed() {
    let drops = Arc::new(AtomicUsize::new(0));
    let a = outer(&drops);
    let b = outer(&drops);
    // Only the inner cells are written: the outer ones stay edge cells, so the pass must
    // look inside them to find the rooted inner ones.
    *a.cell.borrow().next.borrow_mut() = Some(b.clone());
    *b.cell.borrow().next.borrow_mut() = Some(a.clone());
    assert_eq!(a.cell.borrow().tag + b.cell.borrow().tag, 2);
    drop((a, b));
    gc_core::collect();
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[test]
fn cycle_through_inner_then_outer_writes_is_freed() {
    let drops = Arc::new(AtomicUsize::new(0));
    let a = outer(&drops);
    let b = outer(&drops);
    *a.cell.borrow().next.borrow_mut() = Some(b.clone());
    // Writing the outer cell roots its contents, the inner cell with them.
    a.cell.borrow_mut().tag = 2;
    *b.cell.borrow_mut().next.get_mut() = Some(a.clone());
    drop((a, b));
    gc_core::collect();
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[derive(Trace)]
struct Env {
    slots: GcCell<Vec<Option<Gc<Env>>>>,
    #[trace(skip)]
    _c: Counted,
}

/// Many short-lived objects written once each (an interpreter's call environments): they
/// die dirty, their slots are reused by new dirty objects, and every one is dropped once.
#[test]
fn objects_dying_dirty_are_freed_and_their_slots_reused() {
    common::with_watchdog("dying dirty objects", || {
        let drops = Arc::new(AtomicUsize::new(0));
        let keep = Gc::new(Env {
            slots: GcCell::new(vec![None]),
            _c: Counted(drops.clone()),
        });
        const N: usize = 200_000;
        for i in 0..N {
            let e = Gc::new(Env {
                slots: GcCell::new(Vec::with_capacity(2)),
                _c: Counted(drops.clone()),
            });
            e.slots.borrow_mut().push(Some(keep.clone()));
            // A self-cycle through the written cell: only unrooting frees it.
            e.slots.borrow_mut().push(Some(e.clone()));
            if i % 1000 == 0 {
                keep.slots.borrow_mut()[0] = Some(e.clone());
            }
        }
        keep.slots.borrow_mut()[0] = None;
        gc_core::collect();
        gc_core::collect();
        assert_eq!(
            drops.load(Ordering::SeqCst),
            N,
            "every environment freed once"
        );
        assert!(keep.slots.borrow()[0].is_none());
    });
}

/// Edges only: garbage of this type in a clean slot is freed without its drop glue.
#[derive(Trace)]
struct Holder {
    cell: GcCell<Option<Gc<Target>>>,
}

#[derive(Trace)]
struct Target {
    #[trace(skip)]
    _c: Counted,
}

#[test]
fn a_dead_object_whose_cell_stays_rooted_releases_its_handles() {
    common::with_watchdog("dead object with a rooted cell", || {
        let drops = Arc::new(AtomicUsize::new(0));
        let holder = Gc::new(Holder {
            cell: GcCell::new(None),
        });
        let mut w = holder.cell.borrow_mut();
        *w = Some(Gc::new(Target {
            _c: Counted(drops.clone()),
        }));
        // The leaked guard keeps the cell rooted (each unroot pass finds it busy). Its
        // write was the cell's first of the cycle, which records nothing (its release
        // would have made the cell an edge cell again); the marker, meeting the rooted
        // cell, marks the holder's slot dirty, and the handle inside keeps its count.
        std::mem::forget(w);
        gc_core::collect();
        assert_eq!(drops.load(Ordering::SeqCst), 0, "the target is held");
        drop(holder);
        // The holder dies dirty: its sweep must run the cell's drop, which releases the
        // target's count (skipping it, as for clean garbage of its type, would leak the
        // target for ever); the next cycle frees the target.
        gc_core::collect();
        gc_core::collect();
        assert_eq!(drops.load(Ordering::SeqCst), 1, "the target was freed");
    });
}

#[test]
fn clean_garbage_with_cells_is_freed_without_its_drop() {
    common::with_watchdog("clean garbage with cells", || {
        let drops = Arc::new(AtomicUsize::new(0));
        const N: usize = 10_000;
        for _ in 0..N {
            let h = Gc::new(Holder {
                cell: GcCell::new(None),
            });
            // `set` keeps a heap cell an edge cell (no root walk, no dirty bit): the holder
            // dies clean, is freed without its glue, and the target dies with it.
            h.cell.set(Some(Gc::new(Target {
                _c: Counted(drops.clone()),
            })));
        }
        gc_core::collect();
        gc_core::collect();
        assert_eq!(drops.load(Ordering::SeqCst), N, "every target freed once");
    });
}
