//! Tests of the mark round (a child of `workers.rs`): what a settled round hands over and
//! that no worker drains after it (its loom model is `loom_round` in `workers.rs`).

use super::*;

/// A worker that stopped to yield kept its queue: once no worker drains, the settling
/// round hands every item in it over (to the injector, in a cycle), and no worker
/// drains again.
#[test]
#[cfg(not(gc_loom))]
fn a_settled_round_hands_over_what_a_yielded_worker_left_queued() {
    let round = Arc::new(Round::new());
    let local = LocalQueue::shared();
    *lock(&round.queues) = vec![local.stealer()];
    let worker = {
        let round = Arc::clone(&round);
        thread::spawn(move || {
            assert!(round.begin_drain());
            local.push_all(&[8, 16, 24]);
            round.end_drain();
            local
        })
    };
    let local = worker.join().unwrap();
    let mut left = Vec::new();
    round.stop_and_settle(|item| left.push(item));
    left.sort_unstable();
    assert_eq!(left, [8, 16, 24]);
    assert!(local.pop().is_none());
    assert!(
        !round.begin_drain(),
        "a worker drained after the round settled"
    );
}
