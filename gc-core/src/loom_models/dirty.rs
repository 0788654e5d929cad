//! Lazy unrooting of dirty `GcCell`s: the first write to a heap cell since the last cycle
//! roots its contents and records the cell as dirty; the next cycle's unroot pass turns
//! dirty cells nobody holds back into edges. The models:
//! - the list (a cell outside heap slots): a writer takes the cell (`borrow_mut`), then
//!   drops the last reference to it, while the pass runs. Checks that contents are never
//!   unrooted while a writer holds the cell, that root and unroot strictly alternate, and
//!   that the pass never touches a cell after it was dropped;
//! - the slot's dirty bit (a cell in a heap object): a writer dirties the cell while the
//!   pass walks the span. Checks the same alternation, and that no write is lost: a pass
//!   that starts after the writer is done always leaves the contents as edges;
//!   the same with a paced cycle's pass, which leaves the cells written in the epoch it
//!   closes rooted: a kept cell stays dirty for the next pass;
//! - two writers dirtying two slots of one span while the pass runs, sharing the span's
//!   summary: the pass, or the one after it, sees both bits;
//! - a forced cycle rooting a large cell again after its mark (`gc/reroot.rs`) while a
//!   writer takes it: the contents are rooted once, by one of them, and the cell is
//!   recorded dirty for the next pass;
//! - `Gc::new`'s move-in walk keeping a large cell rooted while the pass runs
//!   (`gc/move_in.rs`): the pass meets the cell only once the walk has left it rooted and
//!   heap-owned, and the record is not lost.

use super::fixture::{ModelSpan, Padded};
use super::model;
use super::thread;
use crate::gc::dirty;
use crate::gc::mark::Tracer;
use crate::sync::{Arc, AtomicBool, Ordering};
use crate::{GcCell, Trace};

/// Cell contents whose root state is observable.
struct Contents {
    /// Rooted (counted) rather than edges.
    rooted: Arc<AtomicBool>,
    /// A writer holds the cell.
    held: Arc<AtomicBool>,
    /// The contents were dropped (with their cell).
    dropped: Arc<AtomicBool>,
    /// The edges `trace` gives (made up: only a counting walk sees them).
    edges: usize,
}

impl Contents {
    /// Rooted contents (as in a cell on the stack) giving `edges` edges.
    fn new(edges: usize) -> (Contents, Arc<AtomicBool>, Arc<AtomicBool>) {
        let (rooted, held) = (
            Arc::new(AtomicBool::new(true)),
            Arc::new(AtomicBool::new(false)),
        );
        let c = Contents {
            rooted: rooted.clone(),
            held: held.clone(),
            dropped: Arc::new(AtomicBool::new(false)),
            edges,
        };
        (c, rooted, held)
    }
}

impl Drop for Contents {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

// SAFETY: holds no `Gc`; `root`/`unroot` only record the transition.
unsafe impl Trace for Contents {
    fn needs_trace() -> bool {
        true
    }
    fn handles_hint(&self) -> usize {
        self.edges
    }
    fn trace(&self, t: &mut Tracer) {
        for _ in 0..self.edges {
            t.edge(0);
        }
    }
    unsafe fn root(&mut self) {
        assert!(!self.dropped.load(Ordering::SeqCst), "rooted after drop");
        assert!(!self.rooted.swap(true, Ordering::SeqCst), "rooted twice");
    }
    unsafe fn unroot(&mut self) {
        assert!(!self.dropped.load(Ordering::SeqCst), "unrooted after drop");
        assert!(!self.held.load(Ordering::SeqCst), "unrooted under a writer");
        assert!(self.rooted.swap(false, Ordering::SeqCst), "unrooted twice");
    }
}

#[test]
fn loom_unroot_pass_vs_writer_and_drop() {
    model(|| {
        let rooted = Arc::new(AtomicBool::new(true));
        let held = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicBool::new(false));
        let mut cell = std::sync::Arc::new(GcCell::new(Contents {
            rooted: rooted.clone(),
            held: held.clone(),
            dropped: dropped.clone(),
            edges: 0,
        }));
        // Moved into a heap object (as `Gc::new` does): the contents become edges.
        // SAFETY: exclusive access; the cell now stands for one inside the heap.
        unsafe { std::sync::Arc::get_mut(&mut cell).unwrap().unroot() };
        assert!(!rooted.load(Ordering::SeqCst));
        // A first write since the last cycle: rooted and listed.
        drop(cell.borrow_mut());
        assert!(rooted.load(Ordering::SeqCst));
        assert_eq!(dirty::len(), 1);

        let writer = thread::spawn({
            let held = held.clone();
            move || {
                {
                    let _g = cell.borrow_mut();
                    held.store(true, Ordering::SeqCst);
                    // ... writes ...
                    held.store(false, Ordering::SeqCst);
                }
                // The last reference: the cell leaves the list and is freed.
                drop(cell);
            }
        });
        let (unrooted, _) = dirty::unroot_listed(None);
        writer.join().unwrap();

        assert!(dropped.load(Ordering::SeqCst));
        assert_eq!(dirty::len(), 0, "a dropped cell is still listed");
        // Unrooted by the pass (and rooted again by the writer if it came later), or left
        // alone because the writer held the cell or had already dropped it.
        assert!(unrooted <= 1);
    });
}

/// A heap object holding one cell (padded so its span has few slots).
type Holder = Padded<GcCell<Contents>>;

#[test]
fn loom_unroot_pass_vs_writer_in_a_heap_object() {
    pass_vs_writer_in_a_heap_object(false);
}

/// The same with a paced cycle's pass, which leaves rooted the cells written in the epoch
/// it closes: a cell it keeps stays dirty, so the next pass still finds it.
#[test]
fn loom_a_pass_that_keeps_written_cells_vs_a_writer() {
    pass_vs_writer_in_a_heap_object(true);
}

fn pass_vs_writer_in_a_heap_object(keep_written: bool) {
    model(move || {
        let rooted = Arc::new(AtomicBool::new(true));
        let held = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicBool::new(false));
        let span = std::sync::Arc::new(ModelSpan::new::<Holder>(0));
        let (_, addr) = span.alloc(Holder::new(GcCell::new(Contents {
            rooted: rooted.clone(),
            held: held.clone(),
            dropped,
            edges: 0,
        })));
        // Moved into the heap (as `Gc::new` does): the contents become edges.
        // SAFETY: the object was just allocated and nothing else refers to it yet.
        unsafe { (*(addr as *mut Holder)).unroot() };
        assert!(!rooted.load(Ordering::SeqCst));
        // The writes below record the current epoch: the one a paced pass would close.
        let keep = keep_written.then(dirty::write_epoch);

        let writer = thread::spawn({
            let span = span.clone();
            let held = held.clone();
            move || {
                // SAFETY: the object lives as long as the span, which this thread holds.
                let h = unsafe { span.get::<Holder>(addr) };
                for _ in 0..if keep_written { 2 } else { 1 } {
                    let _g = h.field.borrow_mut();
                    held.store(true, Ordering::SeqCst);
                    // ... writes ...
                    held.store(false, Ordering::SeqCst);
                }
            }
        });
        // The writer rooted the contents and dirtied the slot, before or after the pass
        // took the bit (and the pass kept it rooted, or not).
        pass_beside(&span, keep, writer, &rooted, "a write's dirty bit was lost");
    });
}

/// Runs a pass (keeping the cells written in epoch `keep`) beside `other`, a thread that
/// roots the cell of `span` and records it dirty; then, `other` done, a pass that keeps
/// nothing, which must find the cell and unroot it (`lost` if not).
fn pass_beside(
    span: &ModelSpan,
    keep: Option<u8>,
    other: loom::thread::JoinHandle<()>,
    rooted: &AtomicBool,
    lost: &str,
) {
    dirty::unroot_span(span.ptr(), keep);
    other.join().unwrap();
    dirty::unroot_span(span.ptr(), None);
    assert!(!rooted.load(Ordering::SeqCst), "{lost}");
}

#[test]
fn loom_two_writers_share_a_spans_summary_against_the_pass() {
    model(|| {
        let span = std::sync::Arc::new(ModelSpan::new::<Holder>(0));
        let mut cells = Vec::new();
        for _ in 0..2 {
            let rooted = Arc::new(AtomicBool::new(true));
            let (_, addr) = span.alloc(Holder::new(GcCell::new(Contents {
                rooted: rooted.clone(),
                held: Arc::new(AtomicBool::new(false)),
                dropped: Arc::new(AtomicBool::new(false)),
                edges: 0,
            })));
            // SAFETY: just allocated, nothing else refers to it yet.
            unsafe { (*(addr as *mut Holder)).unroot() };
            cells.push((addr, rooted));
        }
        let writers: Vec<_> = cells
            .iter()
            .map(|&(addr, _)| {
                let span = span.clone();
                thread::spawn(move || {
                    // SAFETY: the object lives as long as the span, which this thread holds.
                    let h = unsafe { span.get::<Holder>(addr) };
                    drop(h.field.borrow_mut());
                })
            })
            .collect();
        dirty::unroot_span(span.ptr(), None);
        for w in writers {
            w.join().unwrap();
        }
        // Each write's bit was taken by the pass above (after the write) or is still
        // summarised for this one.
        dirty::unroot_span(span.ptr(), None);
        for (i, (_, rooted)) in cells.iter().enumerate() {
            assert!(
                !rooted.load(Ordering::SeqCst),
                "write {i}'s dirty bit was lost"
            );
        }
    });
}

/// `Gc::new`'s move-in walk meets a large cell (its contents give `LARGE_HANDLES` edges)
/// and leaves it rooted, recording its slot dirty once the walk is done, while a pass that
/// keeps nothing runs: the pass unroots it or misses it, and a pass from then on finds it.
#[test]
fn loom_a_large_cell_kept_by_its_move_in_vs_the_pass() {
    model(|| {
        let (contents, rooted, _) = Contents::new(crate::object::cell::LARGE_HANDLES);
        let span = std::sync::Arc::new(ModelSpan::new::<Holder>(0));
        let (_, addr) = span.alloc(Holder::new(GcCell::new(contents)));
        let mover = thread::spawn({
            let span = span.clone();
            move || {
                let _alive = &span;
                let move_in = crate::gc::MoveIn::begin();
                // SAFETY: the object was just allocated and nothing else refers to it yet
                // (the pass meets it only through the dirty bit the walk sets at its end).
                unsafe { (*(addr as *mut Holder)).unroot() };
                move_in.end();
            }
        });
        // Kept rooted by the walk (never unrooted there) and recorded at its end.
        pass_beside(
            &span,
            None,
            mover,
            &rooted,
            "a kept cell's dirty bit was lost",
        );
    });
}

/// A forced cycle roots a large edge cell again (`gc/reroot.rs`) while a writer takes it:
/// one of them roots the contents (`Contents::root` fails if both do), and whichever did
/// recorded the cell dirty, so the next pass unroots it.
#[test]
fn loom_a_forced_cycles_reroot_vs_a_writer() {
    model(|| {
        let (contents, rooted, held) = Contents::new(0);
        let span = std::sync::Arc::new(ModelSpan::new::<Holder>(0));
        let (_, addr) = span.alloc(Holder::new(GcCell::new(contents)));
        // Moved into the heap (as `Gc::new` does): the contents become edges.
        // SAFETY: the object was just allocated and nothing else refers to it yet.
        unsafe { (*(addr as *mut Holder)).unroot() };
        assert!(!rooted.load(Ordering::SeqCst));
        let writer = thread::spawn({
            let span = span.clone();
            move || {
                // SAFETY: the object lives as long as the span, which this thread holds.
                let h = unsafe { span.get::<Holder>(addr) };
                let _g = h.field.borrow_mut();
                held.store(true, Ordering::SeqCst);
                // ... writes ...
                held.store(false, Ordering::SeqCst);
            }
        });
        {
            let _suspended = dirty::suspend_biases();
            // SAFETY: the object lives as long as the span, which this thread holds.
            let cell = unsafe { &span.get::<Holder>(addr).field } as *const _ as usize;
            // SAFETY: a live cell directly in a heap object, alive until the span drops.
            unsafe { crate::object::cell::reroot_erased::<Contents>(cell) };
        }
        writer.join().unwrap();
        assert!(rooted.load(Ordering::SeqCst), "neither rooted the contents");
        dirty::unroot_span(span.ptr(), None);
        assert!(
            !rooted.load(Ordering::SeqCst),
            "the cell rooted again was not recorded dirty"
        );
    });
}
