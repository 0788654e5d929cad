//! The harness of the racy mix (`racy.rs`; `Mode::Racy`, used by
//! `tests/concurrent_mutation.rs`): anchors and ballast, the mutator threads (each runs
//! `ops_per_thread` operations, then goes on until `target_cycles` cycles have completed or
//! `max_time` has passed), the collector thread, the hang watchdog, and the checks after the
//! run: every thread's handles, a full walk from the anchors, live tracked nodes == reachable
//! ones after `collect()`, the ballast, and every tracked node dropped exactly once.

use super::collector::collect_loop;
use super::common::{ballast, check_ballast, Rng, ALLOCATED, DROPPED};
use super::node::{check_edge, check_node, new_node, Node};
use super::racy::{op_name, Racy, Worker};
use super::walk::walk_all;
use super::watchdog::{watchdog, Beat, WHAT_DONE};
use super::{panic_message, Params, Report};
use gc_core::Gc;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Barrier, Mutex};
use std::time::Instant;

fn live(baseline: u64) -> u64 {
    // DROPPED first: a drop between the two loads then only overstates `live`.
    let dropped = DROPPED.load(Ordering::SeqCst);
    ALLOCATED.load(Ordering::SeqCst) - dropped - baseline
}

/// Runs the racy mix once. `Err` holds the failures (with seed, thread and operation).
pub(super) fn run_racy(p: &Params) -> Result<Report, String> {
    let t0 = Instant::now();
    let before = gc_core::mem_stats();
    let baseline = ALLOCATED.load(Ordering::SeqCst) - DROPPED.load(Ordering::SeqCst);
    let allocated_before = ALLOCATED.load(Ordering::SeqCst);
    let sh = Racy {
        p,
        anchors: Vec::new(),
        next_id: AtomicU64::new(1),
        beat: Beat::new(p.threads, op_name),
    };
    let anchors: Vec<Gc<Node>> = (0..p.anchors)
        .map(|_| {
            new_node(
                sh.next_id.fetch_add(1, Ordering::Relaxed),
                vec![],
                None,
                None,
            )
        })
        .collect();
    let anchor_ids: Vec<u64> = anchors.iter().map(|a| a.id).collect();
    let sh = Racy { anchors, ..sh };
    let ballast_root = ballast(p.ballast);
    let ballast_sum = ballast_root.sum;

    let stop = AtomicBool::new(false);
    let cycles_done = AtomicU64::new(0);
    let done_ops = AtomicU64::new(0);
    let max_live = AtomicU64::new(0);
    let failures = Mutex::new(Vec::new());
    let barrier = Barrier::new(p.threads);
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let (during, collector_calls) = std::thread::scope(|s| {
        let (sh, stop, cycles_done) = (&sh, &stop, &cycles_done);
        let (done_ops, max_live, failures, barrier) = (&done_ops, &max_live, &failures, &barrier);
        let collector = s.spawn(move || {
            let gap = p
                .collector_gap_us
                .expect("the racy mix runs a collector thread");
            collect_loop(p.seed, gap, stop, &sh.beat, |_| {
                // `mem_stats` also stops allocation briefly: more interleavings.
                let done = gc_core::mem_stats().num_gc - before.num_gc;
                cycles_done.store(u64::from(done), Ordering::SeqCst);
            })
        });
        s.spawn(move || watchdog(p, &sh.beat, done_rx));
        let workers: Vec<_> = (0..p.threads)
            .map(|t| {
                s.spawn(move || {
                    let mut w = Worker {
                        sh,
                        t,
                        rng: Rng::new(p.seed.wrapping_add(t as u64)),
                        local: Vec::new(),
                        pending: Default::default(),
                        holders: Default::default(),
                        op: 0,
                        what: "start",
                        mix: super::mix(super::racy::OPS, p),
                    };
                    barrier.wait();
                    let r = catch_unwind(AssertUnwindSafe(|| {
                        while w.op < p.ops_per_thread
                            || (cycles_done.load(Ordering::SeqCst) < p.target_cycles
                                && p.max_time.is_none_or(|m| t0.elapsed() < m))
                        {
                            let live = live(baseline);
                            max_live.fetch_max(live, Ordering::Relaxed);
                            w.step(live);
                        }
                        // A final full check of what this thread still holds.
                        w.check_holders();
                        w.what = "final";
                        for e in w.local.iter().chain(&w.pending) {
                            w.ok(check_edge(e));
                        }
                    }));
                    if let Err(e) = r {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("worker {t}: {}", panic_message(&*e)));
                    }
                    done_ops.fetch_add(w.op, Ordering::SeqCst);
                    sh.beat.progress[t].what.store(WHAT_DONE, Ordering::Relaxed);
                })
            })
            .collect();
        for w in workers {
            w.join().expect("worker threads catch their panics");
        }
        let during = gc_core::mem_stats();
        stop.store(true, Ordering::SeqCst);
        let calls = collector.join().expect("the collector catches its panics");
        drop(done_tx);
        (during, calls)
    });
    let mut failures = failures.into_inner().unwrap();
    let collector_calls = collector_calls.unwrap_or_else(|e| {
        failures.push(e);
        0
    });
    if !failures.is_empty() {
        return Err(format!("workers failed:\n{}", failures.join("\n")));
    }
    let elapsed = t0.elapsed();

    // Everything the workers did is joined: a full check of the shared graph, and the live
    // tracked nodes after a collection are exactly the reachable ones.
    let fail = |e: String| format!("{e}; final walk, seed {}", p.seed);
    let reachable = walk_all(sh.anchors.clone(), usize::MAX)
        .map_err(fail)?
        .len() as u64;
    gc_core::collect();
    let live_now = live(baseline);
    if live_now != reachable {
        return Err(format!(
            "after joining and collect(): {live_now} live tracked nodes, {reachable} reachable \
             (seed {})",
            p.seed
        ));
    }
    for (a, id) in sh.anchors.iter().zip(&anchor_ids) {
        check_node(a, Some(*id)).map_err(fail)?;
    }
    if check_ballast(&ballast_root) != ballast_sum {
        return Err(format!("ballast corrupted; seed {}", p.seed));
    }
    let report = Report {
        seed: p.seed,
        threads: p.threads,
        ops: done_ops.load(Ordering::SeqCst),
        checkpoints: 0,
        cycles: u64::from(during.num_gc - before.num_gc),
        forced: u64::from(during.num_forced_gc - before.num_forced_gc),
        collector_calls,
        nodes_allocated: ALLOCATED.load(Ordering::SeqCst) - allocated_before,
        max_reachable: max_live.load(Ordering::Relaxed),
        last_reachable: reachable,
        elapsed,
        digest: Vec::new(),
        ..Report::default()
    };
    drop(ballast_root);
    drop(sh);
    super::check_all_dropped(p.seed, baseline)?;
    Ok(report)
}
