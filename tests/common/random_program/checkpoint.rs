//! Checkpoints and walks of the workload in `mod.rs`: the breakable barrier (`Gate`), the
//! checkpoint (collect twice; live == the model's reachable count; weak references and the
//! ephemeron table agree with the model (`weak_ops.rs`); a full walk from the real roots and
//! the table's values finds exactly the model's reachable set), and the walks threads run
//! between checkpoints (free, and checked against the model under the lock).

use super::common::BAD_DROPS;
use super::model::{MNode, Model};
use super::node::{id_of, Edge, Node};
use super::watchdog::WHAT_CHECKPOINT;
use super::weak_ops::prune_ephemerons;
use super::worker::Worker;
use super::SLOTS;
use gc_core::Gc;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};

/// Nodes a walk visits at most, outside and inside the lock.
const WALK_LIMIT: usize = 200;
const CHECKED_WALK_LIMIT: usize = 64;

/// A reusable barrier that a failing thread can break, so that a failure never becomes a
/// hang of the others. `wait` returns whether this thread is the leader of the round.
pub(super) struct Gate {
    n: usize,
    state: Mutex<(usize, u64)>,
    cv: Condvar,
    broken: AtomicBool,
}

pub(super) struct Broken;

impl Gate {
    pub(super) fn new(n: usize) -> Gate {
        Gate {
            n,
            state: Mutex::new((0, 0)),
            cv: Condvar::new(),
            broken: AtomicBool::new(false),
        }
    }

    fn wait(&self) -> Result<bool, Broken> {
        let mut g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if self.broken.load(Ordering::SeqCst) {
            return Err(Broken);
        }
        let generation = g.1;
        g.0 += 1;
        if g.0 == self.n {
            g.0 = 0;
            g.1 += 1;
            self.cv.notify_all();
            return Ok(true);
        }
        while g.1 == generation && !self.broken.load(Ordering::SeqCst) {
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        if g.1 == generation {
            Err(Broken)
        } else {
            Ok(false)
        }
    }

    pub(super) fn break_it(&self) {
        let _g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.broken.store(true, Ordering::SeqCst);
        self.cv.notify_all();
    }
}

/// Checkpoint scratch, written by the leader and the walkers between barriers.
#[derive(Default)]
pub(super) struct Ckpt {
    expected: HashSet<u64>,
    found: HashSet<u64>,
    live: u64,
}

impl<'s, 'p> Worker<'s, 'p> {
    /// Walks from a start outside the lock, verifying every node and cell edge it meets.
    pub(super) fn op_walk(&mut self) {
        let start = self.start();
        let limit = 1 + self.rng.below(WALK_LIMIT);
        let mut seen = HashSet::new();
        let mut stack = vec![start];
        while let Some(n) = stack.pop() {
            if seen.len() >= limit {
                break;
            }
            self.verify(&n, None);
            if !seen.insert(n.id) {
                continue;
            }
            for k in n.kids.borrow().iter() {
                self.verify_edge(k);
                if !seen.contains(&k.id) {
                    stack.push(k.to.clone());
                }
            }
            if let Some(s) = n.slot.borrow().as_ref() {
                self.verify_edge(s);
                stack.push(s.to.clone());
            }
            stack.extend(n.left.load());
            stack.extend(n.right.load());
        }
    }

    /// Under the lock: a bounded walk comparing each node's real edges with the model's.
    fn checked_walk(
        &self,
        m: &Model,
        starts: Vec<Gc<Node>>,
        limit: usize,
        found: &mut HashSet<u64>,
    ) {
        let mut stack = starts;
        while let Some(n) = stack.pop() {
            if found.len() >= limit {
                break;
            }
            self.verify(&n, None);
            let id = n.id;
            if !found.insert(id) {
                continue;
            }
            let Some(want) = m.nodes.get(&id) else {
                self.fail(&format!(
                    "node {id} at {:p} is reachable in the graph but not in the model",
                    Gc::as_ptr(&n)
                ))
            };
            let kids: Vec<Edge> = n.kids.borrow().clone();
            let slot = n.slot.borrow().clone();
            let (left, right) = (n.left.load(), n.right.load());
            let got = MNode {
                kids: kids.iter().map(|k| k.id).collect(),
                slot: id_of(&slot),
                left: id_of(&left),
                right: id_of(&right),
            };
            if &got != want {
                self.fail(&format!(
                    "node {id}: graph edges {got:?}, model edges {want:?}"
                ));
            }
            for (k, w) in kids.iter().zip(&want.kids) {
                self.verify(k, Some(*w));
                self.verify_edge(k);
            }
            if let Some(s) = &slot {
                self.verify_edge(s);
            }
            stack.extend(kids.into_iter().chain(slot).map(|e| e.to));
            stack.extend([left, right].into_iter().flatten());
        }
    }

    pub(super) fn op_checked_walk(&mut self) {
        let sh = self.sh;
        let m = sh.model();
        let start = match self.rng.below(4) {
            0 if !self.roots.is_empty() => {
                let i = self.rng.below(self.roots.len());
                self.expect_id(
                    Some(self.roots[i].id),
                    Some(m.local[self.t][i]),
                    "local root",
                );
                Some(self.roots[i].clone())
            }
            1 => {
                let i = self.rng.below(SLOTS);
                let n = sh.slots[i].load();
                self.expect_id(id_of(&n), m.slots[i], "slot load");
                n
            }
            _ => None,
        };
        let start = start.unwrap_or_else(|| sh.anchors[self.rng.below(sh.anchors.len())].clone());
        let mut found = HashSet::new();
        self.checked_walk(&m, vec![start], CHECKED_WALK_LIMIT, &mut found);
    }

    /// All threads meet; returns whether the run stops here.
    pub(super) fn checkpoint(&mut self) -> Result<bool, Broken> {
        let sh = self.sh;
        self.what = "flush_pending";
        while !self.pending.is_empty() {
            self.flush_pending();
        }
        self.holders.clear();
        self.what = "checkpoint";
        sh.beat.progress[self.t]
            .what
            .store(WHAT_CHECKPOINT, Ordering::Relaxed);
        // 1. Every thread is between operations: it holds only its modelled roots.
        if sh.gate.wait()? {
            gc_core::collect();
            gc_core::collect();
            let expected_len = sh.model().reachable().len() as u64;
            // The `Drop` of a freed node (its tracker) runs on a dropper thread or in
            // `collect()`, which waits at most 100 ms for a dropper's job: on a saturated
            // machine a preempted dropper can still hold one span's worth of drops. Give
            // it more cycles (a hang detector's deadline, not a speed limit); a node the
            // collector failed to free stays counted and still fails.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            let mut live = sh.live();
            while live > expected_len && std::time::Instant::now() < deadline {
                gc_core::collect();
                std::thread::yield_now();
                live = sh.live();
            }
            let mut m = sh.model();
            let expected = m.reachable();
            if live != expected.len() as u64 {
                self.fail(&format!(
                    "after collect() twice at a checkpoint: {live} live tracked nodes, but {} \
                     reachable in the model",
                    expected.len()
                ));
            }
            let bad = BAD_DROPS.load(Ordering::SeqCst);
            if bad != 0 {
                self.fail(&format!("{bad} tracked nodes dropped twice or clobbered"));
            }
            prune_ephemerons(&mut m, &expected, &sh.weak);
            let mut c = sh.ckpt.lock().unwrap();
            c.expected = expected;
            c.found.clear();
            c.live = live;
        }
        sh.gate.wait()?;
        // 2. Each thread's weak references upgrade iff the model reaches their node. A full
        // walk from the real roots, checked against the model: each thread walks from its own
        // roots, thread 0 also from the shared ones and the values of the ephemeron table.
        let reach: Vec<bool> = {
            let c = sh.ckpt.lock().unwrap();
            self.weaks
                .iter()
                .map(|w| c.expected.contains(&w.1))
                .collect()
        };
        self.check_weaks(&reach);
        let mut found = HashSet::new();
        {
            let m = sh.model();
            let ids: Vec<u64> = self.roots.iter().map(|n| n.id).collect();
            if ids != m.local[self.t] {
                self.fail(&format!(
                    "local roots {ids:?}, model has {:?}",
                    m.local[self.t]
                ));
            }
            let mut starts = self.roots.clone();
            if self.t == 0 {
                starts.extend(sh.anchors.iter().cloned());
                for (i, s) in sh.slots.iter().enumerate() {
                    let n = s.load();
                    self.expect_id(id_of(&n), m.slots[i], "anchor slot");
                    starts.extend(n);
                }
                let shelf = sh.shelf.borrow().clone();
                self.check_kids(&shelf, &m.shelf, u64::MAX);
                starts.extend(shelf.into_iter().map(|e| e.to));
                starts.extend(self.check_ephemerons(&m));
            }
            self.checked_walk(&m, starts, usize::MAX, &mut found);
        }
        sh.ckpt.lock().unwrap().found.extend(found);
        // 3. The union of the walks is exactly the model's reachable set.
        if sh.gate.wait()? {
            let mut c = sh.ckpt.lock().unwrap();
            if c.found != c.expected {
                let mut missing: Vec<u64> = c.expected.difference(&c.found).copied().collect();
                let mut extra: Vec<u64> = c.found.difference(&c.expected).copied().collect();
                missing.sort_unstable();
                extra.sort_unstable();
                missing.truncate(20);
                extra.truncate(20);
                self.fail(&format!(
                    "the real walk found {} nodes, the model has {} reachable; missing (first \
                     20) {missing:?}, extra {extra:?}",
                    c.found.len(),
                    c.expected.len()
                ));
            }
            let expected = std::mem::take(&mut c.expected);
            c.found.clear();
            let live = c.live;
            drop(c);
            let mut m = sh.model();
            m.nodes.retain(|id, _| expected.contains(id));
            let model_nodes = m.nodes.len();
            let n = sh.beat.checkpoints.fetch_add(1, Ordering::SeqCst) + 1;
            if sh.p.digest {
                let line = format!(
                    "ckpt {n} allocated {} {} live {live}",
                    sh.next_id.load(Ordering::Relaxed),
                    m.digest(&expected)
                );
                sh.digest.lock().unwrap().push(line);
            }
            drop(m);
            let reach = expected.len() as u64;
            sh.max_reachable.fetch_max(reach, Ordering::Relaxed);
            sh.last_reachable.store(reach, Ordering::Relaxed);
            let ops_each = n * sh.p.checkpoint_every;
            let stop = ops_each >= sh.p.ops_per_thread
                || sh.p.max_time.is_some_and(|t| sh.t0.elapsed() >= t);
            if sh.p.verbose {
                let cycles = gc_core::mem_stats().num_gc - sh.num_gc_before;
                println!(
                    "RD_CKPT n={n} ops={} live={live} reachable={reach} model_nodes={model_nodes} \
                     cycles={cycles}{}",
                    ops_each * sh.p.threads as u64,
                    if stop { " last" } else { "" }
                );
            }
            sh.stop.store(stop, Ordering::SeqCst);
            sh.beat.pulse.fetch_add(1, Ordering::Relaxed);
        }
        sh.gate.wait()?;
        Ok(sh.stop.load(Ordering::SeqCst))
    }
}
