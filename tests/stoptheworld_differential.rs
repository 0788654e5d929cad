//! Differential test: a seeded, single-threaded graph workload (cycles, `GcCell` and
//! `AtomicGc` edges, rooted `AtomicGc`/`GcCell` slots outside the heap, `collect()` calls)
//! has an outcome that depends on the program only. The workload mirrors every mutation in
//! a plain model graph and, after every `collect()`, checks the real graph against the
//! model and prints a checkpoint: the reachable ids (count, sum, hash) and the number of live
//! tracked nodes (`allocated - dropped`), which must equal the reachable count.
//!
//! The workload runs in child processes (the environment is read once per process):
//! default settings, `GODEBUG=gcstoptheworld=1`, `GODEBUG=gcstoptheworld=1,gctrace=1`
//! (whose stderr must hold one Go-format gctrace line per cycle), `gcstoptheworld=2`, and
//! with 3 extra threads that only allocate garbage (default and `gcstoptheworld=1`), so that
//! cycles they trigger overlap the mutations. All the checkpoint outputs must be identical.
//!
//! Reproduce one child by hand:
//! `SD_CHILD=1 [SD_GARBAGE_THREADS=3] [GODEBUG=...] cargo test --test stoptheworld_differential -- --exact child_workload --nocapture`

mod common;

use common::{mix, Rng, Tracker, ALIVE, ALLOCATED, BAD_DROPS, DROPPED};
use gc_core::{AtomicGc, Gc, GcCell, Trace};
use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

const CHILD: &str = "SD_CHILD";
const GARBAGE_THREADS: &str = "SD_GARBAGE_THREADS";
/// Prefix of the lines that must be identical across runs.
const OUT: &str = "@@SD ";
/// Prefix of per-run statistics (not compared).
const STATS: &str = "@@STATS ";

const SEED: u64 = 0x5EED_D1FF_0001;
const STEPS: usize = 16_000;
const CHECKPOINT_EVERY: usize = 500;
const MAX_ROOTS: usize = 48;
const MAX_KIDS: usize = 6;
const STACK_SLOTS: usize = 4;

#[derive(Trace)]
struct Node {
    id: u64,
    check: u64,
    kids: GcCell<Vec<Gc<Node>>>,
    left: AtomicGc<Node>,
    right: AtomicGc<Node>,
    slot: GcCell<Option<Gc<Node>>>,
    #[trace(skip)]
    tracker: Tracker,
}

/// Untracked garbage with the same kinds of edges.
#[derive(Trace)]
struct Junk {
    next: AtomicGc<Junk>,
    more: GcCell<Vec<Gc<Junk>>>,
    pad: [u64; 4],
}

/// The model of one node: its out-edges by id.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
struct MNode {
    kids: Vec<u64>,
    left: Option<u64>,
    right: Option<u64>,
    slot: Option<u64>,
}

fn id_of(n: &Option<Gc<Node>>) -> Option<u64> {
    n.as_ref().map(|n| n.id)
}

struct Workload {
    rng: Rng,
    step: usize,
    next_id: u64,
    model: Vec<MNode>,
    /// Rooted handles (the model's roots are their ids, same order).
    roots: Vec<Gc<Node>>,
    /// `AtomicGc` slots outside the heap (rooted mode).
    stack_slots: Vec<AtomicGc<Node>>,
    /// A `GcCell` outside the heap (its contents stay rooted).
    stack_cell: GcCell<Vec<Gc<Node>>>,
    // Model of the two above.
    m_stack_slots: Vec<Option<u64>>,
    m_stack_cell: Vec<u64>,
    out: Vec<String>,
}

impl Workload {
    fn new() -> Workload {
        Workload {
            rng: Rng::new(SEED),
            step: 0,
            next_id: 0,
            model: Vec::new(),
            roots: Vec::new(),
            stack_slots: (0..STACK_SLOTS).map(|_| AtomicGc::new(None)).collect(),
            stack_cell: GcCell::new(Vec::new()),
            m_stack_slots: vec![None; STACK_SLOTS],
            m_stack_cell: Vec::new(),
            out: Vec::new(),
        }
    }

    fn fail(&self, msg: &str) -> ! {
        panic!("step {} (seed {SEED:#x}): {msg}", self.step)
    }

    fn expect_id(&self, got: Option<u64>, want: Option<u64>, what: &str) {
        if got != want {
            self.fail(&format!("{what}: graph has {got:?}, model has {want:?}"));
        }
    }

    fn new_node(&mut self) -> Gc<Node> {
        let id = self.next_id;
        self.next_id += 1;
        self.model.push(MNode::default());
        Gc::new(Node {
            id,
            check: mix(id),
            kids: GcCell::new(Vec::new()),
            left: AtomicGc::new(None),
            right: AtomicGc::new(None),
            slot: GcCell::new(None),
            tracker: Tracker::new(id),
        })
    }

    fn add_root(&mut self, n: Gc<Node>) {
        if self.roots.len() >= MAX_ROOTS {
            let i = self.rng.below(self.roots.len());
            self.roots.swap_remove(i);
        }
        self.roots.push(n);
    }

    fn any_root(&mut self) -> Option<Gc<Node>> {
        if self.roots.is_empty() {
            None
        } else {
            Some(self.roots[self.rng.below(self.roots.len())].clone())
        }
    }

    /// `a -> b` through an edge kind chosen by the rng; the model follows.
    fn link(&mut self, a: &Gc<Node>, b: &Gc<Node>) {
        let (ai, bi) = (a.id as usize, b.id);
        match self.rng.below(6) {
            0 | 1 => {
                let mut kids = a.kids.borrow_mut();
                let m = &mut self.model[ai].kids;
                if m.len() >= MAX_KIDS {
                    let i = (self.rng.next() as usize) % m.len();
                    m.remove(i);
                    kids.remove(i);
                }
                m.push(bi);
                kids.push(b.clone());
            }
            2 => {
                a.left.store(Some(b.clone()));
                self.model[ai].left = Some(bi);
            }
            3 => {
                let old = a.right.swap(Some(b.clone()));
                let want = self.model[ai].right.replace(bi);
                self.expect_id(id_of(&old), want, "right.swap old value");
            }
            4 => {
                // compare_exchange with the model's current value: must succeed.
                let cur = a.right.load();
                self.expect_id(id_of(&cur), self.model[ai].right, "right.load");
                match a.right.compare_exchange(cur.as_ref(), Some(b.clone())) {
                    Ok(old) => self.expect_id(id_of(&old), self.model[ai].right, "cas old"),
                    Err(e) => self.fail(&format!(
                        "compare_exchange with the current value failed: current {:?}",
                        id_of(&e.current)
                    )),
                }
                self.model[ai].right = Some(bi);
                // And with a value that is not current: must fail and change nothing.
                if self.model[ai].right != Some(a.id) {
                    match a.right.compare_exchange(Some(a), None) {
                        Ok(_) => self.fail("compare_exchange with a stale value succeeded"),
                        Err(e) => {
                            self.expect_id(id_of(&e.current), Some(bi), "failed cas current");
                            if e.new.is_some() {
                                self.fail("failed compare_exchange invented a `new`");
                            }
                        }
                    }
                }
            }
            _ => {
                let old = a.slot.replace(Some(b.clone()));
                let want = self.model[ai].slot.replace(bi);
                self.expect_id(id_of(&old), want, "slot.replace old value");
            }
        }
    }

    fn op_new(&mut self) {
        let n = self.new_node();
        if let Some(r) = self.any_root() {
            if self.rng.chance(60) {
                self.link(&r, &n);
            }
            if self.rng.chance(30) {
                self.link(&n, &r); // a cycle through the root
            }
        }
        self.add_root(n);
    }

    fn op_link(&mut self) {
        if let (Some(a), Some(b)) = (self.any_root(), self.any_root()) {
            self.link(&a, &b);
        }
    }

    fn op_unlink(&mut self) {
        let Some(a) = self.any_root() else { return };
        let ai = a.id as usize;
        match self.rng.below(4) {
            0 => {
                let m = &mut self.model[ai].kids;
                if !m.is_empty() {
                    let i = (self.rng.next() as usize) % m.len();
                    m.remove(i);
                    a.kids.borrow_mut().remove(i);
                }
            }
            1 => {
                a.left.store(None);
                self.model[ai].left = None;
            }
            2 => {
                let old = a.right.swap(None);
                let want = self.model[ai].right.take();
                self.expect_id(id_of(&old), want, "right.swap(None)");
            }
            _ => {
                a.slot.set(None);
                self.model[ai].slot = None;
            }
        }
    }

    /// Follows an edge from a root and roots what it finds.
    fn op_navigate(&mut self) {
        let Some(a) = self.any_root() else { return };
        let ai = a.id as usize;
        let (found, want) = match self.rng.below(4) {
            0 => {
                let m = &self.model[ai].kids;
                if m.is_empty() {
                    return;
                }
                let i = (self.rng.next() as usize) % m.len();
                let want = m[i];
                (a.kids.borrow().get(i).cloned(), Some(want))
            }
            1 => (a.left.load(), self.model[ai].left),
            2 => (a.right.load(), self.model[ai].right),
            _ => (a.slot.borrow().clone(), self.model[ai].slot),
        };
        self.expect_id(id_of(&found), want, "navigate");
        if let Some(n) = found {
            if n.check != mix(n.id) {
                self.fail(&format!("node {} payload corrupted", n.id));
            }
            self.add_root(n);
        }
    }

    /// Moves a subgraph from one node to another, through a local handle only; garbage is
    /// allocated in between so that cycles run while it is in flight.
    fn op_move(&mut self) {
        let (Some(a), Some(b)) = (self.any_root(), self.any_root()) else {
            return;
        };
        let (ai, bi) = (a.id as usize, b.id as usize);
        match self.rng.below(3) {
            0 => {
                let v = a.kids.replace(Vec::new());
                let mv = std::mem::take(&mut self.model[ai].kids);
                garbage(1000);
                if v.iter().map(|n| n.id).ne(mv.iter().copied()) {
                    self.fail("moved kids differ from the model");
                }
                let mut kids = b.kids.borrow_mut();
                let mb = &mut self.model[bi].kids;
                for (n, id) in v.into_iter().zip(mv) {
                    if mb.len() < MAX_KIDS {
                        mb.push(id);
                        kids.push(n);
                    }
                }
            }
            1 => {
                let v = a.left.swap(None);
                let mv = self.model[ai].left.take();
                self.expect_id(id_of(&v), mv, "left.swap(None)");
                garbage(1000);
                let old = b.right.swap(v);
                let want = std::mem::replace(&mut self.model[bi].right, mv);
                self.expect_id(id_of(&old), want, "moved right.swap old value");
            }
            _ => {
                let v = a.slot.replace(None);
                let mv = self.model[ai].slot.take();
                self.expect_id(id_of(&v), mv, "slot.replace(None)");
                garbage(1000);
                b.slot.set(v);
                self.model[bi].slot = mv;
            }
        }
    }

    fn op_drop_roots(&mut self) {
        if self.rng.chance(20) {
            let keep = self.rng.below(self.roots.len() + 1);
            self.roots.truncate(keep);
        } else if !self.roots.is_empty() {
            let i = self.rng.below(self.roots.len());
            self.roots.swap_remove(i);
        }
    }

    /// The rooted slots outside the heap.
    fn op_stack(&mut self) {
        let i = self.rng.below(STACK_SLOTS);
        match self.rng.below(4) {
            0 => {
                let r = self.any_root();
                let want = self.m_stack_slots[i];
                self.m_stack_slots[i] = id_of(&r);
                let old = self.stack_slots[i].swap(r);
                self.expect_id(id_of(&old), want, "stack slot swap");
            }
            1 => {
                let got = self.stack_slots[i].load();
                self.expect_id(id_of(&got), self.m_stack_slots[i], "stack slot load");
                if let Some(n) = got {
                    self.add_root(n);
                }
            }
            2 => {
                if let Some(r) = self.any_root() {
                    let mut c = self.stack_cell.borrow_mut();
                    if c.len() >= MAX_KIDS {
                        c.remove(0);
                        self.m_stack_cell.remove(0);
                    }
                    self.m_stack_cell.push(r.id);
                    c.push(r);
                }
            }
            _ => {
                let old = self.stack_cell.replace(Vec::new());
                let ids: Vec<u64> = old.iter().map(|n| n.id).collect();
                if ids != std::mem::take(&mut self.m_stack_cell) {
                    self.fail("stack cell differs from the model");
                }
            }
        }
    }

    /// Tracked garbage: an unreachable cycle.
    fn op_garbage_cycle(&mut self) {
        let k = 2 + self.rng.below(4);
        let nodes: Vec<Gc<Node>> = (0..k).map(|_| self.new_node()).collect();
        for i in 0..k {
            let (a, b) = (nodes[i].clone(), nodes[(i + 1) % k].clone());
            self.link(&a, &b);
        }
    }

    fn step(&mut self) {
        match self.rng.below(100) {
            0..=19 => self.op_new(),
            20..=39 => self.op_link(),
            40..=51 => self.op_unlink(),
            52..=66 => self.op_navigate(),
            67..=74 => self.op_move(),
            75..=84 => self.op_drop_roots(),
            85..=91 => self.op_stack(),
            92..=96 => self.op_garbage_cycle(),
            _ => garbage(5000),
        }
    }

    /// Model ids of everything the program holds directly.
    fn model_roots(&self) -> Vec<u64> {
        let mut r: Vec<u64> = self.roots.iter().map(|n| n.id).collect();
        r.extend(self.m_stack_slots.iter().flatten());
        r.extend(&self.m_stack_cell);
        r
    }

    /// After a `collect()`: checks the graph against the model and records a checkpoint.
    fn checkpoint(&mut self, label: &str) {
        // Traverse the real graph, comparing every reached node with its model.
        let mut starts: Vec<Gc<Node>> = self.roots.clone();
        starts.extend(self.stack_slots.iter().filter_map(AtomicGc::load));
        starts.extend(self.stack_cell.borrow().iter().cloned());
        let mut seen: HashSet<u64> = HashSet::new();
        let mut stack = starts;
        while let Some(n) = stack.pop() {
            if !seen.insert(n.id) {
                continue;
            }
            if n.check != mix(n.id) || n.tracker.id != n.id {
                self.fail(&format!("node {} at {:p} corrupted", n.id, Gc::as_ptr(&n)));
            }
            if n.tracker.state.load(Ordering::SeqCst) != ALIVE ^ n.id {
                self.fail(&format!(
                    "node {} at {:p} is reachable but was dropped",
                    n.id,
                    Gc::as_ptr(&n)
                ));
            }
            let kids: Vec<Gc<Node>> = n.kids.borrow().clone();
            let (left, right, slot) = (n.left.load(), n.right.load(), n.slot.borrow().clone());
            let got = MNode {
                kids: kids.iter().map(|k| k.id).collect(),
                left: id_of(&left),
                right: id_of(&right),
                slot: id_of(&slot),
            };
            if got != self.model[n.id as usize] {
                self.fail(&format!(
                    "node {}: graph {got:?}, model {:?}",
                    n.id, self.model[n.id as usize]
                ));
            }
            stack.extend(kids);
            stack.extend([left, right, slot].into_iter().flatten());
        }
        // The model's reachable set.
        let mut m_seen: HashSet<u64> = HashSet::new();
        let mut m_stack = self.model_roots();
        while let Some(i) = m_stack.pop() {
            if m_seen.insert(i) {
                let m = &self.model[i as usize];
                m_stack.extend(&m.kids);
                m_stack.extend([m.left, m.right, m.slot].into_iter().flatten());
            }
        }
        if seen != m_seen {
            self.fail(&format!(
                "reachable sets differ: {} in the graph, {} in the model",
                seen.len(),
                m_seen.len()
            ));
        }
        let live = ALLOCATED.load(Ordering::SeqCst) - DROPPED.load(Ordering::SeqCst);
        if live != seen.len() as u64 {
            self.fail(&format!(
                "after collect(): {live} live tracked nodes but {} reachable",
                seen.len()
            ));
        }
        let mut ids: Vec<u64> = seen.into_iter().collect();
        ids.sort_unstable();
        let hash = ids.iter().fold(0xCBF2_9CE4_8422_2325u64, |h, &i| {
            (h ^ i).wrapping_mul(0x0100_0000_01B3)
        });
        let mut root_ids = self.model_roots();
        root_ids.sort_unstable();
        let root_hash = root_ids.iter().fold(7u64, |h, &i| mix(h ^ i));
        self.out.push(format!(
            "{label} step {} allocated {} roots {} roothash {root_hash:016x} reach {} idsum {} idhash {hash:016x} live {live}",
            self.step,
            self.next_id,
            root_ids.len(),
            ids.len(),
            ids.iter().sum::<u64>(),
        ));
    }
}

/// Untracked garbage, with cells and atomic edges, so automatic cycles run.
fn garbage(n: usize) {
    let mut prev: Option<Gc<Junk>> = None;
    for i in 0..n {
        if i % 8 == 0 {
            let j = Gc::new(Junk {
                next: AtomicGc::new(prev.take()),
                more: GcCell::new(Vec::new()),
                pad: [i as u64; 4],
            });
            // A self cycle. `borrow_mut` on a heap cell lists it for the next unroot pass
            // (a global lock), so only sometimes; `set` leaves it an edge cell.
            if i % 64 == 0 {
                j.more.borrow_mut().push(j.clone());
            } else {
                j.more.set(vec![j.clone()]);
            }
            prev = Some(j);
        } else {
            std::hint::black_box(Gc::new([i as u64; 6]));
        }
    }
}

/// Runs the workload; returns the lines that must be identical across runs.
fn run_workload() -> Vec<String> {
    let mut w = Workload::new();
    for s in 0..STEPS {
        w.step = s;
        w.step();
        if (s + 1) % CHECKPOINT_EVERY == 0 {
            gc_core::collect();
            w.checkpoint("ckpt");
        }
    }
    w.step = STEPS;
    gc_core::collect();
    w.checkpoint("end");
    // Drop everything the program holds: every tracked node must go, exactly once.
    w.roots.clear();
    for s in &w.stack_slots {
        s.store(None);
    }
    w.m_stack_slots.iter_mut().for_each(|s| *s = None);
    w.stack_cell.set(Vec::new());
    w.m_stack_cell.clear();
    gc_core::collect();
    w.checkpoint("empty");
    let bad = BAD_DROPS.load(Ordering::SeqCst);
    w.out.push(format!(
        "final allocated {} dropped {} bad_drops {bad}",
        ALLOCATED.load(Ordering::SeqCst),
        DROPPED.load(Ordering::SeqCst)
    ));
    w.out
}

#[test]
fn child_workload() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let threads: usize = std::env::var(GARBAGE_THREADS)
        .ok()
        .map_or(0, |v| v.parse().expect("SD_GARBAGE_THREADS"));
    let stop = Arc::new(AtomicBool::new(false));
    let garbage_threads: Vec<_> = (0..threads)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut rounds = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    garbage(300);
                    rounds += 1;
                    // Leave the workload thread a fair share of the CPU.
                    std::thread::sleep(Duration::from_micros(100));
                }
                rounds
            })
        })
        .collect();
    let t0 = std::time::Instant::now();
    let out = run_workload();
    stop.store(true, Ordering::Relaxed);
    let rounds: u64 = garbage_threads.into_iter().map(|t| t.join().unwrap()).sum();
    let elapsed = t0.elapsed();
    // Nothing allocates from here on, so no cycle starts after these figures are read.
    let s = gc_core::mem_stats();
    println!();
    for l in &out {
        println!("{OUT}{l}");
    }
    println!(
        "{STATS}num_gc={} num_forced_gc={} garbage_rounds={rounds} ms={}",
        s.num_gc,
        s.num_forced_gc,
        elapsed.as_millis()
    );
}

struct Run {
    name: String,
    lines: Vec<String>,
    stderr: String,
    num_gc: u64,
    num_forced_gc: u64,
    ms: u64,
}

fn stat(stdout: &str, key: &str) -> u64 {
    stdout
        .lines()
        .filter_map(|l| l.split_once(STATS).map(|(_, s)| s))
        .flat_map(str::split_whitespace)
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("{key} missing in child output:\n{stdout}"))
        .parse()
        .unwrap()
}

/// A child that has not finished after this long is taken to hang.
const CHILD_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs the children, as many at a time as there are cores (oversubscribing a small
/// machine only makes every child slower).
fn run_children(configs: &[(&str, Option<&str>, usize)]) -> Vec<Run> {
    let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut runs = Vec::new();
    for batch in configs.chunks(parallel) {
        let pending: Vec<_> = batch
            .iter()
            .map(|&(name, godebug, threads)| {
                let mut cmd = Command::new(std::env::current_exe().unwrap());
                cmd.args([
                    "--exact",
                    "child_workload",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD, "1")
                .env(GARBAGE_THREADS, threads.to_string())
                .env_remove("GODEBUG")
                .env_remove("GOGC")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
                if let Some(g) = godebug {
                    cmd.env("GODEBUG", g);
                }
                let child = cmd.spawn().unwrap();
                let pid = child.id();
                let (tx, rx) = mpsc::channel();
                std::thread::spawn(move || {
                    let _ = tx.send(child.wait_with_output());
                });
                (name, godebug, threads, pid, rx)
            })
            .collect();
        for (name, godebug, threads, pid, rx) in pending {
            let out = match rx.recv_timeout(CHILD_TIMEOUT) {
                Ok(out) => out.unwrap(),
                Err(_) => panic!(
                    "child `{name}` (pid {pid}) still running after {CHILD_TIMEOUT:?}: a hang? \
                     Inspect it with `gdb -p {pid} -batch -ex 'thread apply all bt'`; reproduce \
                     with `SD_CHILD=1 SD_GARBAGE_THREADS={threads} GODEBUG={} cargo test --test \
                     stoptheworld_differential -- --exact child_workload --nocapture`",
                    godebug.unwrap_or("")
                ),
            };
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(
                out.status.success(),
                "child {name} failed ({:?}):\n{stdout}\n{stderr}",
                out.status
            );
            let lines: Vec<String> = stdout
                .lines()
                .filter_map(|l| l.split_once(OUT).map(|(_, s)| s.to_string()))
                .collect();
            runs.push(Run {
                name: name.to_string(),
                num_gc: stat(&stdout, "num_gc"),
                num_forced_gc: stat(&stdout, "num_forced_gc"),
                ms: stat(&stdout, "ms"),
                lines,
                stderr,
            });
        }
    }
    runs
}

/// Parses a decimal figure as gctrace prints it ("12", "0.54").
fn ms_figure(s: &str, line: &str) -> f64 {
    assert!(
        !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.'),
        "bad figure {s:?} in gctrace line: {line}"
    );
    s.parse()
        .unwrap_or_else(|_| panic!("bad figure {s:?} in: {line}"))
}

fn int_figure(s: &str, line: &str) -> u64 {
    s.parse()
        .unwrap_or_else(|_| panic!("bad integer {s:?} in gctrace line: {line}"))
}

fn bad_line<T>(line: &str) -> T {
    panic!("gctrace line not in Go's format: {line:?}")
}

/// Checks one line against Go's format and returns (cycle number, forced):
/// `gc N @T.TTTs P%: A+B+C ms clock, a+b/c/d+e ms cpu, H0->H1->H2 MB, G MB goal, 0 MB stacks, 0 MB globals, N P[ (forced)]`
fn parse_gctrace(line: &str) -> (u64, bool) {
    let rest = line.strip_prefix("gc ").unwrap_or_else(|| bad_line(line));
    let (num, rest) = rest.split_once(' ').unwrap_or_else(|| bad_line(line));
    let num = int_figure(num, line);
    let (at, rest) = rest.split_once(' ').unwrap_or_else(|| bad_line(line));
    let at = at
        .strip_prefix('@')
        .and_then(|t| t.strip_suffix('s'))
        .unwrap_or_else(|| bad_line(line));
    assert_eq!(
        at.split_once('.').map(|(_, f)| f.len()),
        Some(3),
        "@T has 3 decimals: {line}"
    );
    ms_figure(at, line);
    let (pct, rest) = rest.split_once("%: ").unwrap_or_else(|| bad_line(line));
    int_figure(pct, line);
    let parts: Vec<&str> = rest.split(", ").collect();
    assert_eq!(parts.len(), 7, "seven comma-separated parts: {line}");
    let clock = parts[0]
        .strip_suffix(" ms clock")
        .unwrap_or_else(|| bad_line(line));
    let clock: Vec<&str> = clock.split('+').collect();
    assert_eq!(clock.len(), 3, "A+B+C ms clock: {line}");
    clock.iter().for_each(|f| {
        ms_figure(f, line);
    });
    let cpu = parts[1]
        .strip_suffix(" ms cpu")
        .unwrap_or_else(|| bad_line(line));
    let cpu: Vec<&str> = cpu.split('+').collect();
    assert_eq!(cpu.len(), 3, "a+b/c/d+e ms cpu: {line}");
    let mid: Vec<&str> = cpu[1].split('/').collect();
    assert_eq!(mid.len(), 3, "a+b/c/d+e ms cpu: {line}");
    for f in [cpu[0], mid[0], mid[1], mid[2], cpu[2]] {
        ms_figure(f, line);
    }
    let heap = parts[2]
        .strip_suffix(" MB")
        .unwrap_or_else(|| bad_line(line));
    let heap: Vec<&str> = heap.split("->").collect();
    assert_eq!(heap.len(), 3, "H0->H1->H2 MB: {line}");
    heap.iter().for_each(|h| {
        int_figure(h, line);
    });
    let goal = parts[3]
        .strip_suffix(" MB goal")
        .unwrap_or_else(|| bad_line(line));
    assert!(int_figure(goal, line) >= 4, "goal at least 4 MB: {line}");
    assert_eq!(parts[4], "0 MB stacks", "{line}");
    assert_eq!(parts[5], "0 MB globals", "{line}");
    let (procs, forced) = match parts[6].strip_suffix(" (forced)") {
        Some(p) => (p, true),
        None => (parts[6], false),
    };
    let procs = procs.strip_suffix(" P").unwrap_or_else(|| bad_line(line));
    assert!(int_figure(procs, line) >= 1, "{line}");
    (num, forced)
}

#[test]
fn stoptheworld_and_concurrent_runs_agree() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let runs = run_children(&[
        ("default", None, 0),
        ("gcstoptheworld=1", Some("gcstoptheworld=1"), 0),
        (
            "gcstoptheworld=1,gctrace=1",
            Some("gcstoptheworld=1,gctrace=1"),
            0,
        ),
        ("gcstoptheworld=2", Some("gcstoptheworld=2"), 0),
        ("default + 3 garbage threads", None, 3),
        (
            "gcstoptheworld=1 + 3 garbage threads",
            Some("gcstoptheworld=1"),
            3,
        ),
    ]);
    let checkpoints = STEPS / CHECKPOINT_EVERY;
    for r in &runs {
        eprintln!(
            "{}: {} ms, {} cycles ({} forced)",
            r.name, r.ms, r.num_gc, r.num_forced_gc
        );
        assert_eq!(
            r.lines.len(),
            checkpoints + 3,
            "{}: every checkpoint printed:\n{}",
            r.name,
            r.lines.join("\n")
        );
        // live == reachable is checked inside the child at every checkpoint; check the
        // printed figures too.
        for l in &r.lines {
            let f: Vec<&str> = l.split_whitespace().collect();
            if let Some(i) = f.iter().position(|&w| w == "reach") {
                let live = f.iter().position(|&w| w == "live").unwrap();
                assert_eq!(f[i + 1], f[live + 1], "{}: live != reachable: {l}", r.name);
            }
        }
        let last = r.lines.last().unwrap();
        let f: Vec<&str> = last.split_whitespace().collect();
        assert_eq!(f[2], f[4], "{}: allocated == dropped: {last}", r.name);
        assert_eq!(f[6], "0", "{}: no node dropped twice: {last}", r.name);
        assert!(
            r.num_forced_gc >= checkpoints as u64 + 2,
            "{}: every collect() ran a cycle",
            r.name
        );
        assert!(
            r.num_gc > r.num_forced_gc,
            "{}: automatic cycles ran during the workload ({} cycles, {} forced)",
            r.name,
            r.num_gc,
            r.num_forced_gc
        );
    }
    let base = &runs[0];
    for r in &runs[1..] {
        for (i, (a, b)) in base.lines.iter().zip(&r.lines).enumerate() {
            assert_eq!(
                a, b,
                "line {i} differs between `{}` and `{}`",
                base.name, r.name
            );
        }
    }

    // gctrace: one line per cycle, numbered from 1, in Go's format; forced cycles marked.
    let traced = runs.iter().find(|r| r.name.contains("gctrace")).unwrap();
    let lines: Vec<&str> = traced
        .stderr
        .lines()
        .filter(|l| l.starts_with("gc "))
        .collect();
    assert_eq!(
        lines.len() as u64,
        traced.num_gc,
        "one gctrace line per cycle; stderr:\n{}",
        traced.stderr
    );
    let mut forced = 0;
    for (i, l) in lines.iter().enumerate() {
        let (num, f) = parse_gctrace(l);
        assert_eq!(num, i as u64 + 1, "cycles numbered from 1: {l}");
        forced += u64::from(f);
    }
    assert_eq!(
        forced, traced.num_forced_gc,
        "forced cycles marked (forced)"
    );
    for r in &runs {
        if r.name != traced.name {
            assert!(
                !r.stderr.lines().any(|l| l.starts_with("gc ")),
                "{}: no gctrace lines without gctrace=1",
                r.name
            );
        }
        assert!(
            !r.stderr.contains("GODEBUG"),
            "{}: no warning about GODEBUG: {}",
            r.name,
            r.stderr
        );
    }
}
