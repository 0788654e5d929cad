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
