//! Weak upgrade vs mark termination: a mutator upgrades a weak reference to an object that
//! nothing else reaches, while the collector finishes the mark (drain, list the specials'
//! candidates concurrently, then `try_finish` with GC operations stopped, looping like
//! `mark_done`) and settles the specials (`specials::settle`, which clears the weak
//! targets of unmarked candidates) before resuming.
//! Checks the property `Weak::upgrade` promises: it returns a live object or nothing,
//! never one the coming sweep frees. An upgrade that wins the race roots and shades the
//! object, so it ends marked and its target stays set; one that loses reads 0.

use super::fixture::{drain_all, ModelSpan, Probe};
use super::model;
use super::thread;
use crate::alloc::heap::HEAP;
use crate::gc::{cycle, mark, phase::Phase, specials, world};

#[test]
fn loom_weak_upgrade_vs_mark_termination() {
    model(|| {
        let span = ModelSpan::new::<Probe>(HEAP.sweepgen());
        // Unreachable: no root, no edge; only the weak reference knows it.
        let (idx, addr) = span.alloc(Probe::new().0);
        let target = specials::weak_target(addr);
        cycle::set_phase(Phase::Mark);
        {
            let _stopped = world::stop();
            mark::start();
        }

        let mutator = {
            let target = target.clone();
            thread::spawn(move || target.upgrade())
        };

        // The collector, as `Cycle::mark_done` and `mark_termination` run it: mark
        // rounds, the candidates listed concurrently, the termination check with
        // operations stopped, then, still stopped, the specials settled.
        loop {
            drain_all();
            let candidates = specials::candidates();
            let _stopped = world::stop();
            if mark::try_finish() {
                drop(specials::settle(&candidates));
                break;
            }
        }
        let upgraded = mutator.join().unwrap();

        let marked = span.is_marked(idx);
        match upgraded {
            Some(a) => {
                assert_eq!(a, addr);
                assert!(marked, "upgrade returned an object the mark left white");
                assert_eq!(target.addr(), addr, "a live object's target was cleared");
            }
            None => {
                assert_eq!(target.addr(), 0);
                assert!(!marked, "upgrade failed on an object that survived");
            }
        }
    });
}
