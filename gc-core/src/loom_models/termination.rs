//! Grey-queue termination: a mutator roots an object while marking (so it shades it into
//! the shade buffer) while the collector runs a mark round and then, with GC operations
//! stopped, asks `try_finish` whether any grey item is left. Checks Go's termination
//! property: when `try_finish` says marking is over, no grey object is left unscanned, and
//! no mark bit is set after it (a shade that loses the race to termination finds the
//! buffer closed and leaves the object alone). The second model's mutator has a root cache,
//! so its shade waits in its own buffer until a stop's drain hands it over.

use super::fixture::{drain_all, ModelSpan, Probe};
use super::model;
use super::thread;
use crate::alloc::heap::HEAP;
use crate::gc::mark;
use crate::gc::{cycle, phase::Phase, roots, world};
use crate::sync::{Arc, AtomicUsize, Ordering};

/// An object (a probe counting its scans) in a span, and a mark set up: (span, slot index,
/// address, the probe's scan count).
fn object_in_a_mark() -> (ModelSpan, usize, usize, Arc<AtomicUsize>) {
    let span = ModelSpan::new::<Probe>(HEAP.sweepgen());
    let (probe, traces, _) = Probe::new();
    let (idx, addr) = span.alloc(probe);
    cycle::set_phase(Phase::Mark);
    {
        let _stopped = world::stop();
        mark::start();
    }
    (span, idx, addr, traces)
}

/// Once marking is over: the object was scanned at most once, and it is marked exactly
/// when it was scanned (no grey object left unscanned, no mark set after the end).
fn assert_marked_iff_scanned(span: &ModelSpan, idx: usize, traces: &AtomicUsize) {
    let traced = traces.load(Ordering::SeqCst);
    assert!(traced <= 1, "an object was scanned twice");
    assert_eq!(
        span.is_marked(idx),
        traced == 1,
        "marking ended with a grey object unscanned (or a mark set after the end)"
    );
}

#[test]
fn loom_shade_vs_mark_termination() {
    model(|| {
        let (span, idx, addr, traces) = object_in_a_mark();

        // The mutator: clones a handle to the object (rooting it) during the mark.
        let mutator = thread::spawn(move || roots::add_root(addr));

        // The collector: a mark round, then the termination check with operations stopped.
        drain_all();
        let finished = {
            let _stopped = world::stop();
            mark::try_finish()
        };
        mutator.join().unwrap();

        if finished {
            assert_marked_iff_scanned(&span, idx, &traces);
        } else {
            assert!(
                span.is_marked(idx) && traces.load(Ordering::SeqCst) == 0,
                "termination refused with no work left"
            );
        }
    });
}

/// A mutator with a root cache (it allocated before, so it is registered) roots an object
/// while marking: the shade marks it and waits in the thread's own buffer (`shade.rs`),
/// invisible to the workers, until a flush. The collector runs rounds and termination
/// attempts until one succeeds, as `mark_done` does. Whenever the root came (before a
/// round, between a round and the stop, or after termination), the object ends either
/// marked and scanned once, or, rooted after the mark, unmarked and unscanned; never
/// marked and left unscanned.
#[test]
fn loom_own_shade_buffer_vs_mark_termination() {
    model(|| {
        let (span, idx, addr, traces) = object_in_a_mark();

        let mutator = thread::spawn(move || {
            world::with_op(|_| {}); // registers the thread: its shades go to its buffer
            roots::add_root(addr);
        });

        let mut attempts = 0;
        loop {
            drain_all();
            let _stopped = world::stop();
            attempts += 1;
            if mark::try_finish() {
                break;
            }
            assert_eq!(attempts, 1, "termination refused twice for one shade");
        }
        mutator.join().unwrap();
        super::wait_for_thread_exits();
        assert_marked_iff_scanned(&span, idx, &traces);
    });
}
