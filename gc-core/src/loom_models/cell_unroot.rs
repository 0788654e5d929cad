//! The unroot pass's turning of a large list back into edges a chunk at a time
//! (`GcCell::unroot_in_chunks`, object `cell_collector.rs`): it clears `ROOTED` first,
//! makes one chunk edges under its exclusive hold, lets go of the cell, and takes it again
//! for the next chunk if the readers that got in leave soon, else leaves the rest rooted
//! for the next pass (`unroot_for_pass` finishes a large edge list). Each handle keeps its
//! own root flag. Under loom a chunk is one handle (`CHUNK_EDGES`), so a list of two takes
//! three holds, a list of one two. The models, each followed by a pass with nobody else
//! about:
//! - a writer takes the list's first handle out (`borrow_mut`, `remove(0)`) while the pass
//!   runs: whatever the interleaving, the handle it took holds its count (a writer that
//!   came between two chunks found the cell not `ROOTED` and rooted the edges again), and
//!   once the last pass is over the handle left in the list is an edge (no count lost or
//!   left behind);
//! - a reader reads a list of one while the pass runs, as the list's first reader (under
//!   a bias, which the pass suspends): loom checks that the pass never writes the handle
//!   while the reader reads it (the contents' `UnsafeCell`), and after the last pass the
//!   handle is an edge, even when the reader made the first pass give up before its
//!   second hold.

use super::fixture::{ListInHeap, ListObject, ModelSpan, Probe};
use super::model;
use super::thread;
use crate::gc::{dirty, roots, world};

/// `N` objects and a list object holding a rooted handle to each in a dirty heap cell
/// marked `LARGE` (as a write guard leaves a list of thousands).
fn large_written_list<const N: usize>() -> ListInHeap<N> {
    let l = ListInHeap::<N>::new();
    // A write: the handles rooted again, the slot dirty.
    drop(l.get().field.borrow_mut());
    l.get().field.set_large_for_model();
    l
}

/// A forced cycle's pass over the lists' span (keeps nothing), biases suspended as the
/// real pass suspends them (a list's first reader reads it under a bias).
fn pass(lists: &ModelSpan) {
    let _suspended = dirty::suspend_biases();
    dirty::unroot_span(lists.ptr(), None);
}

/// The root count of slot `idx`, every pending count applied first.
fn count(span: &ModelSpan, idx: usize) -> u64 {
    drop(world::stop()); // drains anything still pending
    roots::count(span.root_count(idx))
}

/// A list of `N` made as `large_written_list` makes it; `other` run on another thread on
/// the list object while a forced cycle's pass runs here; then, `other` done, a pass with
/// nobody else about. Returns the list and what `other` returned.
fn beside_a_pass<const N: usize, R: Send + 'static>(
    other: impl FnOnce(&ListObject) -> R + Send + 'static,
) -> (ListInHeap<N>, R) {
    let l = large_written_list::<N>();
    let other = thread::spawn({
        let (lists, list) = (l.lists.clone(), l.list);
        // SAFETY: the list lives as long as its span, which this thread holds.
        move || other(unsafe { lists.get::<ListObject>(list) })
    });
    pass(&l.lists);
    let r = other.join().unwrap();
    super::wait_for_thread_exits();
    pass(&l.lists);
    (l, r)
}

#[test]
fn loom_chunked_unroot_vs_a_writer() {
    model(|| {
        let (l, taken) = beside_a_pass::<2, _>(|list| {
            let taken = list.field.borrow_mut().remove(0);
            let addr = &*taken as *const Probe as usize;
            // Its count stays on the object until the model's end.
            std::mem::forget(taken);
            addr
        });
        assert_eq!(taken, l.objs[0].1, "the writer took the first handle");
        let counts = l.objs.map(|(idx, _)| count(&l.objects, idx));
        assert_eq!(counts[0], 1, "the handle taken out lost its count");
        assert_eq!(counts[1], 0, "the list's handle was left a root");
    });
}

#[test]
fn loom_chunked_unroot_vs_a_reader() {
    model(|| {
        // One handle (two holds): the model of two took minutes.
        let (l, read) = beside_a_pass::<1, _>(|list| {
            let g = list.field.borrow();
            &*g[0] as *const Probe as usize
        });
        assert_eq!(read, l.objs[0].1);
        assert_eq!(
            count(&l.objects, l.objs[0].0),
            0,
            "the handle was left a root"
        );
    });
}
