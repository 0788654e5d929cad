//! Sweeping: spans claimed by `sweepgen` CAS out of the central span sets, by the
//! background sweeper (`sweep_one`) racing sweep termination (`finish`). Checks that each
//! span is swept exactly once (each dead object dropped once), that `finish` returns only
//! once every span is swept, and that every span ends in its class's swept set exactly
//! once. Loom also checks that a span's allocation state (an `UnsafeCell`) passes between
//! the two threads only through the claim or the set's lock.

use super::fixture::{ModelSpan, Probe};
use super::model;
use super::thread;
use crate::alloc::heap::HEAP;
use crate::gc::sweep;
use crate::sync::Ordering;

#[test]
fn loom_sweepers_claim_each_span_once() {
    model(|| {
        let sg = HEAP.sweepgen();
        let mut spans = Vec::new();
        let mut drops = Vec::new();
        for _ in 0..2 {
            // Last cycle's span: two objects, one marked (live), one dead.
            let s = ModelSpan::new::<Probe>(sg - 2);
            let (live, _, _) = Probe::new();
            let (dead, _, dead_drops) = Probe::new();
            let (i, _) = s.alloc(live);
            s.alloc(dead);
            s.mark(i);
            drops.push(dead_drops);
            HEAP.centrals[s.spanclass.index()].push_swept(s.ptr(), sg - 2, false);
            spans.push(s);
        }
        HEAP.sweep_unclaimed.store(2, Ordering::Relaxed);
        HEAP.sweep_pending.store(2, Ordering::Relaxed);

        let background = thread::spawn(|| {
            sweep::sweep_one();
        });
        sweep::finish();
        // Sweep termination has waited for the background sweeper's span too.
        for (s, d) in spans.iter().zip(&drops) {
            assert_eq!(
                s.sweepgen.load(Ordering::Acquire),
                sg,
                "finish left a span unswept"
            );
            assert_eq!(
                d.load(Ordering::SeqCst),
                1,
                "dead object not dropped exactly once"
            );
        }
        background.join().unwrap();
        assert_eq!(HEAP.sweep_pending.load(Ordering::Relaxed), 0);
        let central = &HEAP.centrals[spans[0].spanclass.index()];
        assert_eq!(central.swept_len(sg), 2, "a span lost or listed twice");
        assert!(central.claim_unswept(sg).is_none());
        for s in spans.iter() {
            // SAFETY: the sweepers are done; the model owns the spans again.
            assert_eq!(unsafe { s.alloc_count() }, 1);
        }
    });
}
