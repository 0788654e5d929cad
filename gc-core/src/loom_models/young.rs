//! Young objects allocated white (`gc/young.rs`) vs the young scan: a mutator allocates an
//! object while small objects are allocated white, with its first root pending in its
//! root cache, and then either stores it into an old object the marker may already have
//! scanned (its handle dropped) or drops it; meanwhile the collector runs mark setup, the
//! first round, the young scan's stop and switch, the young spans' root jobs and the last
//! drain. A young object stored into the old one ends marked (the tagged cache entry does
//! not excuse its shade); a young object dropped before the switch ends white.

use super::fixture::{drain_all, Holder, ModelSpan, Probe};
use super::model;
use super::thread;
use crate::alloc::cache::Slot;
use crate::alloc::heap::HEAP;
use crate::alloc::sizeclass::Placement;
use crate::alloc::span::SpanPtr;
use crate::gc::mark;
use crate::gc::{cycle, phase::Phase, roots, world, young};
use crate::sync::{AtomicBool, AtomicUsize, Ordering};

/// The mutator's allocation of the object at `(idx, addr)` of `span`, inside an operation,
/// with `mallocgc`'s steps: its first root pending in this thread's cache, then coloured
/// (`roots::colour_new`: white while `ALLOC_WHITE` is set, else black). Returns whether it
/// was white.
fn allocate(span: SpanPtr, idx: usize, addr: usize) -> bool {
    world::with_op(|op| {
        let cached = roots::cache_new_root(addr);
        assert!(cached, "the model thread has a root cache");
        let slot = Slot {
            span,
            idx,
            addr,
            charged: 0,
            slow: crate::alloc::cache::SlowTime::ZERO,
        };
        roots::marking()
            && roots::colour_new(op.cache(), &slot, &Placement::Small(span.spanclass), cached)
    })
}

/// Mark setup with operations stopped, small objects allocated white.
fn mark_setup() {
    cycle::set_phase(Phase::Mark);
    let stopped = world::stop();
    mark::start();
    young::start(&stopped, true);
}

#[test]
fn loom_young_object_stored_into_a_scanned_object() {
    model(|| {
        let sg = HEAP.sweepgen();
        let holders = ModelSpan::new::<Holder>(sg);
        let objects = ModelSpan::new::<Probe>(sg);
        let (h_idx, h_addr) = holders.alloc(Holder {
            edge: AtomicUsize::new(0),
            _pad: [0; 1000],
        });
        roots::set_new_root(&holders, h_idx);
        // Built before the model's threads start (the span is no thread's), allocated by
        // the mutator below.
        let (idx, addr) = objects.alloc(Probe::new().0);
        let span = objects.ptr();
        let started = crate::sync::Arc::new(AtomicBool::new(false));
        let seen = started.clone();
        let mutator = thread::spawn(move || {
            while !seen.load(Ordering::Acquire) {
                loom::thread::yield_now();
            }
            allocate(span, idx, addr);
            // SAFETY: the holder lives until the model ends.
            let h = unsafe { &*(h_addr as *const Holder) };
            h.edge.store(addr, Ordering::Release);
            roots::root_to_edge(addr);
        });
        // The mutator allocates once marking has started (white or black depending on
        // where it falls against the switch).
        cycle_with_young_scan(&holders, &objects, &started);
        mutator.join().unwrap();
        super::wait_for_thread_exits();
        assert!(
            objects.is_marked(idx),
            "a young object stored into a scanned object was left white"
        );
    });
}

/// The collector: mark setup (white allocation on; then `go` lets the mutator start), the
/// root jobs of `old` and the first round, the young scan's stop and switch, the young
/// span's root jobs, the last drain.
fn cycle_with_young_scan(old: &ModelSpan, young_span: &ModelSpan, go: &AtomicBool) {
    mark_setup();
    go.store(true, Ordering::Release);
    mark::queue_root_jobs(&[old.ptr()]);
    drain_all();
    let spans = {
        let stopped = world::stop();
        young::switch_to_black(&stopped)
    };
    // The model's span is no cache's, so the switch did not list it: its root job is
    // queued here, as the cycle queues those of the listed spans.
    assert!(spans.is_empty());
    mark::queue_root_jobs(&[young_span.ptr()]);
    drain_all();
}

#[test]
fn loom_young_garbage_stays_white() {
    model(|| {
        let sg = HEAP.sweepgen();
        let holders = ModelSpan::new::<Holder>(sg);
        let objects = ModelSpan::new::<Probe>(sg);
        let (idx, addr) = objects.alloc(Probe::new().0);
        let span = objects.ptr();
        mark_setup();
        // Allocated white and dropped while the collector scans the old objects and
        // switches.
        let mutator = thread::spawn(move || {
            let white = allocate(span, idx, addr);
            // Inside an operation, so the drop takes its pending root back from the cache.
            // (Outside one, a drop that meets a stop owes its decrement to the counter, and
            // the object may read counted at the scan: one cycle's floating garbage.)
            world::with_op(|_| roots::drop_root(addr));
            white
        });
        mark::queue_root_jobs(&[holders.ptr()]);
        drain_all();
        let white_before_switch;
        {
            let stopped = world::stop();
            white_before_switch = young::ALLOC_WHITE.load(Ordering::Relaxed);
            young::switch_to_black(&stopped);
        }
        let white = mutator.join().unwrap();
        mark::queue_root_jobs(&[objects.ptr()]);
        drain_all();
        super::wait_for_thread_exits();
        assert!(white_before_switch);
        if white {
            assert!(!objects.is_marked(idx), "young garbage was marked");
        } else {
            assert!(
                objects.is_marked(idx),
                "an object allocated black is not marked"
            );
        }
    });
}
