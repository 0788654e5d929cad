//! Root counting vs the root scan while marking (invariant I2): a mutator adds a root to
//! an object, or moves its only root into a heap object as an edge, while the collector
//! sets `MARKING` at mark setup, scans the spans' root counters (with the span summaries
//! `maybe_roots`) and drains. Either the scan sees the root (or the edge, through the
//! holder), or the mutator sees `MARKING` and shades the object itself: it never ends
//! white.

use super::fixture::{drain_all, Holder, ModelSpan, Probe};
use super::model;
use super::thread;
use crate::alloc::heap::HEAP;
use crate::alloc::span::{RootCounter, SpanPtr};
use crate::gc::mark;
use crate::gc::{cycle, phase::Phase, roots, world};
use crate::sync::{Arc, AtomicU64, AtomicUsize, Ordering};

/// The collector: mark setup with operations stopped, then each span's root scan and a
/// drain, in the order given.
///
/// Span by span, because one drainer does every queued root job before any grey object:
/// with all the jobs queued at once, no object is traced before another span's counters
/// are read, which two mark workers can do (a holder traced before a store into it, the
/// stored object's counter read after its count became the edge). The yield after each
/// drain lets loom run a mutator there: without it, loom's search did not reach that
/// schedule at bounds 2-4 even with the rooting's shade switched off, and the models
/// passed with no barrier at all.
pub(super) fn mark(spans: &[&ModelSpan]) {
    cycle::set_phase(Phase::Mark);
    {
        let _stopped = world::stop();
        mark::start();
    }
    for s in spans {
        mark::queue_root_jobs(&[s.ptr()]);
        drain_all();
        loom::thread::yield_now();
    }
}

#[test]
fn loom_root_added_during_mark_setup() {
    model(|| {
        let span = ModelSpan::new::<Probe>(HEAP.sweepgen());
        // Reachable only through heap edges so far: no root, span summary clear.
        let (idx, addr) = span.alloc(Probe::new().0);
        let mutator = thread::spawn(move || roots::add_root(addr));
        mark(&[&span]);
        mutator.join().unwrap();
        assert!(
            span.is_marked(idx),
            "a root added during mark setup was neither scanned nor shaded"
        );
    });
}

/// A new object in `objects` and an empty holder in `holders`, each with one root (the
/// mutator's handles): (the object's slot, its address, the holder's address).
fn rooted_with_holder(objects: &ModelSpan, holders: &ModelSpan) -> (usize, usize, usize) {
    let (idx, addr) = objects.alloc(Probe::new().0);
    roots::set_new_root(objects, idx);
    let (h_idx, h_addr) = holders.alloc(Holder {
        edge: AtomicUsize::new(0),
        _pad: [0; 1000],
    });
    roots::set_new_root(holders, h_idx);
    (idx, addr, h_addr)
}

#[test]
fn loom_root_moved_into_heap_during_mark_setup() {
    model(|| {
        let sg = HEAP.sweepgen();
        let objects = ModelSpan::new::<Probe>(sg);
        let holders = ModelSpan::new::<Holder>(sg);
        let (idx, addr, h_addr) = rooted_with_holder(&objects, &holders);
        // The mutator stores its only handle into the rooted holder, which the marker may
        // already have scanned: the root becomes an edge.
        let mutator = thread::spawn(move || {
            // SAFETY: the holder lives until the model ends.
            let h = unsafe { &*(h_addr as *const Holder) };
            h.edge.store(addr, Ordering::Release);
            roots::root_to_edge(addr);
        });
        // Holders first: the holder can be black before the store, and the object's
        // counter read after the decrement.
        mark(&[&holders, &objects]);
        mutator.join().unwrap();
        assert!(
            objects.is_marked(idx),
            "a root moved into the heap during mark setup was lost"
        );
    });
}

/// A root taken by a thread with a root cache (it allocated before, so it is registered)
/// stays pending in the cache (`gc/root_cache.rs`) until a stop drains it: mark setup's
/// stop either drains it before the scan, or the mutator took it after the stop, inside an
/// operation that saw `MARKING`, and shaded.
#[test]
fn loom_cached_root_during_mark_setup() {
    model(|| {
        let span = ModelSpan::new::<Probe>(HEAP.sweepgen());
        let (idx, addr) = span.alloc(Probe::new().0);
        let mutator = thread::spawn(move || {
            world::with_op(|_| {}); // registers the thread: its roots are cached
            roots::add_root(addr);
        });
        mark(&[&span]);
        mutator.join().unwrap();
        super::wait_for_thread_exits();
        assert!(
            span.is_marked(idx),
            "a cached root taken during mark setup was neither drained nor shaded"
        );
    });
}

/// A handle whose root is pending in one thread's cache is dropped on another thread,
/// where the counter reads 0, while the collector stops (draining caches and paying owed
/// decrements). The counter never underflows, and once everything is drained and paid it
/// holds the true count: 0.
#[test]
fn loom_cached_root_dropped_on_another_thread() {
    model(|| {
        let span = ModelSpan::new::<Probe>(HEAP.sweepgen());
        let (idx, addr) = span.alloc(Probe::new().0);
        world::with_op(|_| {}); // registers this thread
        roots::add_root(addr); // pending here
        let other = thread::spawn(move || roots::drop_root(addr));
        let collector = thread::spawn(|| drop(world::stop()));
        other.join().unwrap();
        collector.join().unwrap();
        drop(world::stop()); // the next stop drains this thread's cache and pays
        assert_eq!(
            roots::count(span.root_count(idx)),
            0,
            "a count was leaked or went below zero"
        );
    });
}

/// Four-bit counters at the spill boundary: an increment that spills into the table races
/// a decrement that keeps the count in the counter, and another increment, while a
/// neighbour in the same word is counted up too; no count is lost or doubled, the
/// neighbour keeps its own, and the table is left empty once the counts fall back below
/// the boundary.
#[test]
fn loom_root_count_spill_boundary() {
    model(|| {
        let word = crate::sync::Arc::new(crate::sync::AtomicU64::new(0));
        let c = || RootCounter::new(&word, 0);
        c().set_from_zero(roots::INLINE_MAX, Ordering::SeqCst);
        let up = thread::spawn({
            let word = word.clone();
            move || {
                roots::inc(RootCounter::new(&word, 0), Ordering::SeqCst);
                roots::inc(RootCounter::new(&word, 1), Ordering::SeqCst);
            }
        });
        let down = thread::spawn({
            let word = word.clone();
            move || roots::dec(RootCounter::new(&word, 0))
        });
        roots::inc(c(), Ordering::SeqCst);
        up.join().unwrap();
        down.join().unwrap();
        let n = roots::INLINE_MAX as u64 + 1;
        assert_eq!(roots::count(c()), n);
        assert_eq!(
            roots::count(RootCounter::new(&word, 1)),
            1,
            "the neighbour's count"
        );
        roots::dec(c());
        roots::dec(c());
        assert_eq!(roots::count(c()), n - 2);
        assert_eq!(
            c().load(Ordering::SeqCst),
            roots::INLINE_MAX - 1,
            "not back in the counter"
        );
    });
}

/// The two word-batch models' shared race: counters `a` and `b` of one word start at
/// `a0` and `b0`; one thread applies `batch` with one count for each (increments or
/// decrements), another increments `a`, and this one decrements `a`. Returns the span and
/// the two slots once all three are done, for the model's checks.
fn word_batch_race(
    a0: u8,
    b0: u8,
    batch: fn(SpanPtr, &AtomicU64, u64),
) -> (Arc<ModelSpan>, usize, usize) {
    let span = Arc::new(ModelSpan::new::<Probe>(HEAP.sweepgen()));
    let (a, _) = span.alloc(Probe::new().0);
    let (b, _) = span.alloc(Probe::new().0);
    let c = |i| span.root_count(i);
    assert!(std::ptr::eq(c(a).word(), c(b).word()), "one word");
    c(a).set_from_zero(a0, Ordering::SeqCst);
    for _ in 0..b0 {
        roots::inc(c(b), Ordering::SeqCst);
    }
    let batcher = thread::spawn({
        let span = span.clone();
        move || {
            let (ca, cb) = (span.root_count(a), span.root_count(b));
            batch(span.ptr(), ca.word(), ca.delta(1) + cb.delta(1));
        }
    });
    let up = thread::spawn({
        let span = span.clone();
        move || roots::inc(span.root_count(a), Ordering::SeqCst)
    });
    assert!(roots::dec(c(a)), "a has counts throughout");
    batcher.join().unwrap();
    up.join().unwrap();
    (span, a, b)
}

/// The root cache's batched increments (`gc/root_cache.rs`, `Pending`: a list's handles
/// rooted in bulk are applied a counter word at a time): increments for two counters of
/// one word, applied with one compare-and-swap, race an increment that takes one of them
/// to the spill boundary first (the batch must then go counter by counter and spill) and a
/// decrement of it. No count is lost or doubled, the other counter keeps its own, and the
/// spill table is empty again once the count is back in the counter.
#[test]
fn loom_word_batch_against_counter_changes() {
    model(|| {
        let (span, a, b) = word_batch_race(roots::INLINE_MAX - 1, 0, roots::count_roots_in_word);
        let c = |i| span.root_count(i);
        assert_eq!(roots::count(c(a)), roots::INLINE_MAX as u64);
        assert_eq!(roots::count(c(b)), 1, "the other counter's own count");
        assert!(roots::dec(c(a)));
        assert_eq!(
            c(a).load(Ordering::SeqCst),
            roots::INLINE_MAX - 1,
            "not back in the counter"
        );
    });
}

/// A run of roots (`roots::root_run`: a list's handles rooted in one root operation, their
/// counts kept by counter word and applied when the run ends) by a registered mutator,
/// against mark setup and the root scan: the stop either comes before the run (which then
/// sees `MARKING` and shades both objects), or after it (its counts are on the counters
/// for the scan), or finds the run's operation and waits for it to end. Both objects end
/// marked, and once everything is drained each counter holds exactly its count.
#[test]
fn loom_root_run_during_mark_setup() {
    run_of_two_during_mark_setup(false);
}

/// A run of two roots by a registered mutator, inside a bulk walk if `bulk`, against mark
/// setup and the root scan (the two models' shared body): both objects end marked, and
/// once everything is drained each counter holds exactly its count.
fn run_of_two_during_mark_setup(bulk: bool) {
    model(move || {
        let span = ModelSpan::new::<Probe>(HEAP.sweepgen());
        let (a, addr_a) = span.alloc(Probe::new().0);
        let (b, addr_b) = span.alloc(Probe::new().0);
        let mutator = thread::spawn(move || {
            world::with_op(|_| {}); // registers the thread: it has a root cache
            let run = || {
                let ran = roots::root_run(|run| {
                    run.add(addr_a);
                    run.add(addr_b);
                });
                if ran.is_none() {
                    // The world was stopping: handle by handle, as `Trace::root_slice` does.
                    roots::add_root(addr_a);
                    roots::add_root(addr_b);
                }
            };
            if bulk {
                roots::bulk_rooting(run);
            } else {
                run();
            }
        });
        mark(&[&span]);
        mutator.join().unwrap();
        super::wait_for_thread_exits();
        assert!(
            span.is_marked(a) && span.is_marked(b),
            "a root of a run (in a bulk walk: {bulk}) was neither scanned nor shaded"
        );
        drop(world::stop()); // drains anything still pending
        assert_eq!(roots::count(span.root_count(a)), 1);
        assert_eq!(roots::count(span.root_count(b)), 1);
    });
}

/// A run of rooted handles made edges (`roots::unroot_run`: a list moved into a new
/// object, its decrements kept by counter word and applied before the run's operation
/// ends) by a registered mutator, against mark setup and the root scan: each handle is
/// stored into a holder that the marker may already have scanned, then its root given up
/// in the run. The scan either reads a count not yet given back, or the run saw `MARKING`
/// and shaded, or the stop came first and the holders are traced after the stores: both
/// objects end marked, and once everything is drained their counters are 0.
#[test]
fn loom_unroot_run_during_mark_setup() {
    model(|| {
        let sg = HEAP.sweepgen();
        let objects = ModelSpan::new::<Probe>(sg);
        let holders = ModelSpan::new::<Holder>(sg);
        let mut addrs = [0; 2];
        let mut idxs = [0; 2];
        let mut holder_addrs = [0; 2];
        for k in 0..2 {
            (idxs[k], addrs[k], holder_addrs[k]) = rooted_with_holder(&objects, &holders);
        }
        let mutator = thread::spawn(move || {
            world::with_op(|_| {}); // registers the thread: it has a root cache
            for k in 0..2 {
                // SAFETY: the holders live until the model ends.
                let h = unsafe { &*(holder_addrs[k] as *const Holder) };
                h.edge.store(addrs[k], Ordering::Release);
            }
            let ran = roots::unroot_run(|run| {
                run.remove(addrs[0]);
                run.remove(addrs[1]);
            });
            if ran.is_none() {
                // The world was stopping: handle by handle, as `Trace::unroot_slice` does.
                roots::root_to_edge(addrs[0]);
                roots::root_to_edge(addrs[1]);
            }
        });
        // Holders first: a holder can be black before its store, and the object's counter
        // read after the decrement.
        mark(&[&holders, &objects]);
        mutator.join().unwrap();
        super::wait_for_thread_exits();
        assert!(
            objects.is_marked(idxs[0]) && objects.is_marked(idxs[1]),
            "a root made an edge by a run during mark setup was lost"
        );
        drop(world::stop()); // drains anything still pending
        assert_eq!(roots::count(objects.root_count(idxs[0])), 0);
        assert_eq!(roots::count(objects.root_count(idxs[1])), 0);
    });
}

/// Decrements for two counters of one word, applied with one compare-and-swap
/// (`roots::uncount_roots_in_word`, a run's pending decrements), race an increment that
/// takes one of them past the spill boundary (the batch must then go counter by counter
/// and take from the spill table) and a decrement of it. No count is lost or doubled, and
/// the other counter gives exactly its own.
#[test]
fn loom_word_debit_against_counter_changes() {
    model(|| {
        let (span, a, b) = word_batch_race(roots::INLINE_MAX, 1, roots::uncount_roots_in_word);
        let c = |i| span.root_count(i);
        assert_eq!(roots::count(c(a)), roots::INLINE_MAX as u64 - 1);
        assert_eq!(roots::count(c(b)), 0, "the other counter gave its own");
    });
}

/// A run of roots inside a bulk walk (a write guard rooting a large list: the run's counts
/// stay in the pending words until the walk ends) by a thread whose table is idle, against
/// mark setup's stop, which drains that thread's cache: whether the stop comes before the
/// run, between the run and the walk's end, or after, the scan sees both counts or the
/// run shaded, so both objects end marked, and once everything is drained each counter
/// holds exactly its count. (The drain once skipped an idle table's pending words, and a
/// stop between the run and the walk's end left the counts out of the scan.)
#[test]
fn loom_bulk_walk_run_during_mark_setup() {
    run_of_two_during_mark_setup(true);
}
