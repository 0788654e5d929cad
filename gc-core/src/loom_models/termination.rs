//! Grey-queue termination: a mutator roots an object while marking (so it shades it into
//! the shade buffer) while the collector runs a mark round and then, with GC operations
//! stopped, asks `try_finish` whether any grey item is left. Checks Go's termination
//! property: when `try_finish` says marking is over, no grey object is left unscanned, and
//! no mark bit is set after it (a shade that loses the race to termination finds the
//! buffer closed and leaves the object alone).

use super::fixture::{drain_all, ModelSpan, Probe};
use super::model;
use super::thread;
use crate::alloc::heap::HEAP;
use crate::gc::mark;
use crate::gc::{cycle, phase::Phase, roots, world};
use crate::sync::Ordering;

#[test]
fn loom_shade_vs_mark_termination() {
    model(|| {
        let span = ModelSpan::new::<Probe>(HEAP.sweepgen());
        let (probe, traces, _) = Probe::new();
        let (idx, addr) = span.alloc(probe);
        cycle::set_phase(Phase::Mark);
        {
            let _stopped = world::stop();
            mark::start();
        }

        // The mutator: clones a handle to the object (rooting it) during the mark.
        let mutator = thread::spawn(move || roots::add_root(addr));

        // The collector: a mark round, then the termination check with operations stopped.
        drain_all();
        let finished = {
            let _stopped = world::stop();
            mark::try_finish()
        };
        mutator.join().unwrap();

        let marked = span.is_marked(idx);
        let traced = traces.load(Ordering::SeqCst);
        assert!(traced <= 1, "an object was scanned twice");
        if finished {
            assert_eq!(
                marked,
                traced == 1,
                "marking ended with a grey object unscanned (or a mark set after the end)"
            );
        } else {
            assert!(
                marked && traced == 0,
                "termination refused with no work left"
            );
        }
    });
}
