//! The persistent mark threads (`gc-mark-N`; Go starts its background mark workers once
//! per P and parks them in `gcBgMarkWorkerPool` between cycles): started the first time a
//! round needs them and parked on their own slot between rounds. `assign` hands each
//! thread a round's assignment, the highest-priority threads the most demanding modes, so
//! priorities rarely need raising; where the OS refuses a raise (no `CAP_SYS_NICE`) a
//! thread that would need one is replaced by a fresh thread. A thread that cannot be
//! started costs one warning per process, and the round runs with those that exist.
//!
//! Invariant: a thread changes its priority under its slot's job lock, in the same hold as
//! it takes its job, and `assign` reads it under that lock (`Slot::settled_priority`), so
//! it sees the priority of every job the thread will have taken.
//!
//! Shared state: a slot's job under the slot's mutex (its condvar wakes the thread), its
//! priority an atomic written by its thread between assignments (read by the next round,
//! after the round's mutex ordered it); `RAISE_REFUSED` a relaxed flag; the thread list
//! under `POOL`, used only by the coordinator (one at a time: rounds run under the cycle's
//! `GC_LOCK`). The rounds themselves: `workers.rs`. See the collector overview
//! (`crate::design::collector`).

use super::local_queue::LocalQueue;
use super::worker_mode::{Mode, Priority};
use super::workers::{lock, worker, Round};
use crate::sync::{thread, Arc, AtomicBool, AtomicU8, Condvar, Mutex, Ordering};
use crossbeam_deque::Stealer;

/// One round's work for one mark thread.
struct Assignment {
    round: Arc<Round>,
    mode: Mode,
    local: LocalQueue,
    /// The other workers' queues, to steal from.
    others: Vec<Stealer<usize>>,
}

/// What a parked mark thread is handed.
enum Job {
    Mark(Assignment),
    /// Leave: the thread runs at a priority the OS will not raise again, and a fresh
    /// thread takes its place.
    Exit,
}

/// A mark thread's mailbox.
struct Slot {
    job: Mutex<Option<Job>>,
    cv: Condvar,
    /// The thread's `Priority` (written by the thread between assignments).
    priority: AtomicU8,
}

impl Slot {
    fn give(&self, job: Job) {
        *lock(&self.job) = Some(job);
        self.cv.notify_one();
    }

    fn priority(&self) -> Priority {
        Priority::from_u8(self.priority.load(Ordering::Relaxed))
    }

    /// The thread's priority as of every job it has taken: read under the job lock, under
    /// which the thread changes it (`mark_thread`).
    fn settled_priority(&self) -> Priority {
        let _job = lock(&self.job);
        self.priority()
    }
}

/// A started mark thread.
struct MarkThread {
    slot: Arc<Slot>,
    handle: thread::JoinHandle<()>,
}

/// The process's mark threads.
struct Pool {
    threads: Vec<MarkThread>,
    /// Numbers the threads' names.
    started: usize,
    /// Whether the spawn-failure warning was printed (once per process).
    warned: bool,
}

crate::sync::global! {
    static POOL: Mutex<Pool> = Mutex::new(Pool {
        threads: Vec::new(),
        started: 0,
        warned: false,
    });
}
crate::sync::global! {
    /// Set when the OS refuses to raise a mark thread's priority back (no `CAP_SYS_NICE`;
    /// probed by every new thread, and set by a refused raise): a thread that would need
    /// a raise is then replaced by a fresh one instead.
    static RAISE_REFUSED: AtomicBool = AtomicBool::new(false);
}

/// A mark thread's life: park, run the assignment it is handed, repeat.
fn mark_thread(slot: &Slot) {
    super::cycle::mark_collector_thread();
    // Known before any thread lowers its priority, so a round never hands a thread
    // a raise it cannot make (the round's mutex orders this store before the next round).
    if !crate::sync::can_raise_priority() {
        RAISE_REFUSED.store(true, Ordering::Relaxed);
    }
    loop {
        // The priority changes under the job lock, in the same hold as the job is taken,
        // and `assign` reads it under that lock too (`Slot::settled_priority`) before it
        // hands out the next job, which replaces one not taken yet: so that read sees the
        // priority of every job this thread will have taken. Changed after the take, a
        // thread that woke late for an idle round could lower itself after the next,
        // forced round had counted it as normal, and serve that round at idle priority
        // (hostile_threads, about 1 run in 36 with three running at once).
        let a = {
            let mut j = lock(&slot.job);
            let job = loop {
                if let Some(job) = j.take() {
                    break job;
                }
                j = slot.cv.wait(j);
            };
            let Job::Mark(a) = job else { return };
            set_priority(slot, a.mode.priority());
            a
        };
        worker(&a.round, a.mode, a.local, &a.others);
    }
}

/// Moves the calling mark thread to priority `want`. A raise the OS refuses leaves the
/// thread where it was (it marks there this round) and is remembered.
fn set_priority(slot: &Slot, want: Priority) {
    let now = slot.priority();
    if now == want {
        return;
    }
    if want < now && !crate::sync::normal_thread_priority() {
        RAISE_REFUSED.store(true, Ordering::Relaxed);
        return;
    }
    match want {
        Priority::Normal => {}
        Priority::Lowered => crate::sync::lower_thread_priority(),
        Priority::Idle => crate::sync::idle_thread_priority(),
    }
    slot.priority.store(want as u8, Ordering::Relaxed);
}

impl Pool {
    /// Starts threads until there are `want`, stopping at the first failure (reported by
    /// `failed`, which also keeps later calls in the same round from retrying).
    fn grow(&mut self, want: usize, failed: &mut bool) {
        while self.threads.len() < want && !*failed {
            let slot = Arc::new(Slot {
                job: Mutex::new(None),
                cv: Condvar::new(),
                priority: AtomicU8::new(Priority::Normal as u8),
            });
            let s = Arc::clone(&slot);
            let spawned = thread::Builder::new()
                .name(format!("gc-mark-{}", self.started))
                .spawn(move || mark_thread(&s));
            match spawned {
                Ok(handle) => {
                    self.started += 1;
                    self.threads.push(MarkThread { slot, handle });
                }
                Err(e) => {
                    *failed = true;
                    if !self.warned {
                        self.warned = true;
                        let n = self.threads.len();
                        crate::report(format_args!(
                            "{}cannot start a mark worker thread ({e}); {}",
                            crate::env::WARNING_PREFIX,
                            if n == 0 {
                                "marking on the thread running the cycle".to_string()
                            } else {
                                format!("marking with {n} worker thread(s)")
                            }
                        ));
                    }
                }
            }
        }
    }

    /// Stops the threads at `doomed` (indices) and waits for them to leave.
    fn retire(&mut self, doomed: &[usize]) {
        for &i in doomed.iter().rev() {
            let t = self.threads.remove(i);
            t.slot.give(Job::Exit);
            // A parked thread leaves at once; a panic there has already aborted.
            let _ = t.handle.join();
        }
    }
}

/// Hands `round` its workers: one assignment per mode, as far as threads exist. Returns
/// how many were handed out (`round.state.running`).
pub(super) fn assign(round: &Arc<Round>, modes: &[Mode]) -> usize {
    let mut pool = lock(&POOL);
    let mut failed = false;
    pool.grow(modes.len(), &mut failed);
    // The highest-priority threads take the most demanding modes (`modes` is ordered
    // dedicated, fractional, idle), so priorities need raising as rarely as possible.
    pool.threads
        .sort_by_cached_key(|t| t.slot.settled_priority());
    if RAISE_REFUSED.load(Ordering::Relaxed) {
        let doomed: Vec<usize> = (0..modes.len().min(pool.threads.len()))
            .filter(|&i| modes[i].priority() < pool.threads[i].slot.settled_priority())
            .collect();
        if !doomed.is_empty() && !failed {
            pool.retire(&doomed);
            pool.grow(modes.len(), &mut failed);
            pool.threads
                .sort_by_cached_key(|t| t.slot.settled_priority());
        }
    }
    let n = modes.len().min(pool.threads.len());
    let locals: Vec<LocalQueue> = (0..n).map(|_| LocalQueue::shared()).collect();
    let stealers: Vec<Stealer<usize>> = locals.iter().map(LocalQueue::stealer).collect();
    lock(&round.queues).clone_from(&stealers);
    for (i, (local, t)) in locals.into_iter().zip(&pool.threads).enumerate() {
        // Each worker steals from every other worker's queue (crossbeam-deque's scheme).
        let others = (0..n)
            .filter(|&j| j != i)
            .map(|j| stealers[j].clone())
            .collect();
        t.slot.give(Job::Mark(Assignment {
            round: Arc::clone(round),
            mode: modes[i],
            local,
            others,
        }));
    }
    n
}
