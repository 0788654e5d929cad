//! The dropper: runs the user code the collector frees memory for, outside every GC
//! operation and every runtime lock. Two kinds of work arrive here:
//!
//! - the `Drop` of swept objects whose type may run user code (`TypeInfo::user_drop`,
//!   from `Trace::drop_runs_user_code`). The sweeper *moves* each such object out of its
//!   slot into a `Moved` block (`moved.rs`: a bitwise copy, since Rust values may move and
//!   nothing can reach an unreachable object) and frees the slot at once; the `Drop` runs
//!   on the copy later. So the object's memory is never reused before its `Drop` has run,
//!   and the heap does not wait for user code to get its memory back;
//! - values aged out of a `Pool` (`crate::pool`, Go's `clearpools`), one job each.
//!
//! Who runs the jobs: dropper threads (`gc-dropper-N`), woken every [`WAKE_BATCH`] queued
//! jobs and when a sweep pass or a cycle ends (not per job: sweeps queue one per span), and
//! `collect()`, which runs every job queued up to the end of its sweep on the calling
//! thread (between the spans it sweeps, and once more before it returns), so a program
//! that calls `collect()` sees the drops of what it freed, as with rust-gc and dumpster.
//! While a `collect()` runs its cycle, dropper threads start no new job, so the jobs its
//! sweep queues are its own; jobs they started before, or that another `collect()` took
//! and is running, it waits for, but only until such a job has run for [`STUCK`].
//!
//! A `Drop` may block, allocate, panic with any payload, call any public function or never
//! return: a panic is caught and reported (a payload whose own `Drop` panics is leaked), a
//! dropper stuck in one job for more than [`STUCK`] gets replaced by another dropper thread
//! (checked when a job arrives and at the end of every cycle), up to [`MAX_DROPPERS`], and
//! no wait of the runtime's depends on a job for longer than [`STUCK`]. If no dropper
//! thread can be started, jobs run on threads that cross the GC trigger (after their
//! allocation) and in `collect()`.
//!
//! A thread running drops never runs more (`RUNNING`): a `collect()` from inside a `Drop`
//! leaves the queue to the droppers instead of recursing into it.
//!
//! Dropper threads defer what their drops free through `CountingAllocator` to the mutators'
//! next allocations (`alloc/remote_free.rs`), publishing their partial batch whenever the
//! queue runs dry.
//!
//! Shared state: the queue, the droppers' busy times, the batches callers took and are
//! running, the pause count and the number of callers waiting for droppers, under
//! `QUEUE`'s mutex; `CV` wakes droppers and those callers. See the collector overview
//! (`crate::design::collector`, "Drop").

use super::moved::Moved;
use crate::alloc::span::{Claimed, SlotSet};
use crate::alloc::{external, remote_free};
use crate::sync::{AtomicBool, Condvar, Mutex, MutexGuard, Ordering};
use std::any::Any;
use std::cell::Cell;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// A dropper thread busy with one job for longer than this counts as stuck: the next job
/// starts another dropper.
const STUCK: Duration = Duration::from_millis(100);

/// Most dropper threads (a program whose `Drop`s block for ever stops getting drops run
/// once this many are stuck, and keeps running).
const MAX_DROPPERS: usize = 16;

/// One unit of work.
enum Job {
    Moved(Moved),
    /// A value to drop as a whole, with its type's name for reports.
    Value(Box<dyn Send>, &'static str),
    /// A cleanup (`Gc::add_cleanup`) whose object was found unreachable.
    Cleanup(super::specials::Cleanup),
}

impl Job {
    /// Runs the job's user code; never unwinds.
    fn run(self) {
        let _running = Running::enter();
        // What garbage frees outside the heap is counted as such (`alloc/external.rs`); a
        // cleanup is user code run on behalf of garbage, not the garbage's own drop.
        match self {
            Job::Moved(m) => external::while_dropping_garbage(|| drop(m)),
            Job::Value(v, name) => external::while_dropping_garbage(|| {
                guarded(move || drop(v), || format!("Drop of a {name}"))
            }),
            Job::Cleanup(f) => guarded(f, || "cleanup (Gc::add_cleanup)".to_string()),
        }
    }
}

struct State {
    jobs: VecDeque<Job>,
    /// Per dropper thread: when its current job started (`None`: waiting).
    busy: Vec<Option<Instant>>,
    /// `collect()` calls running their cycle: droppers start no job meanwhile.
    paused: usize,
    /// Jobs that callers (`collect()`, threads helping when no dropper runs) took from the
    /// queue and are still running: an id per batch and when it was taken. Another
    /// `collect()` waits for them as for the droppers' (the garbage it found may be among
    /// them).
    taken: Vec<(u64, Instant)>,
    /// The next id for `taken`.
    next_taken: u64,
    /// Threads in `wait_for_droppers`: a dropper that finishes a job wakes them only if
    /// there are any (a condvar's notify is a system call even with nobody waiting).
    waiting: usize,
}

crate::sync::global! {
    static QUEUE: Mutex<State> = Mutex::new(State {
        jobs: VecDeque::new(),
        busy: Vec::new(),
        paused: 0,
        taken: Vec::new(),
        next_taken: 0,
        waiting: 0,
    });
}
crate::sync::global! {
    static CV: Condvar = Condvar::new();
}
crate::sync::global! {
    /// No dropper thread could be started: jobs also run after allocations (module header).
    /// Written under the queue lock; read without it by the allocation path.
    static NO_THREADS: AtomicBool = AtomicBool::new(false);
}
crate::sync::thread_local! {
    /// Set while this thread runs drops (for good on dropper threads).
    static RUNNING: Cell<bool> = const { Cell::new(false) };
}

fn lock() -> MutexGuard<'static, State> {
    QUEUE.lock()
}

/// Marks the thread as running drops until dropped (restoring the previous state).
struct Running(bool);

impl Running {
    fn enter() -> Running {
        Running(RUNNING.try_with(|r| r.replace(true)).unwrap_or(true))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = RUNNING.try_with(|r| r.set(self.0));
    }
}

/// Whether the calling thread is running drops (a `Drop`, directly or not).
fn running_here() -> bool {
    RUNNING.try_with(|r| r.get()).unwrap_or(false)
}

/// Queues objects moved out by a sweep. Called inside GC operations: takes only the queue
/// lock (and may start a dropper thread).
fn defer_moved(m: Moved) {
    push(Job::Moved(m));
}

/// The allocator's `defer_drops` hook (`crate::alloc::hooks`): moves the dead objects at
/// slots `dead` of the claimed span (their drops run user code) out of their slots and
/// queues them for a dropper. (Their cells need no unlisting: cells in heap slots are
/// recorded by their slots' dirty bits, which the sweep clears, `dirty.rs`.)
pub(crate) fn defer_dead(claimed: &Claimed, dead: &SlotSet) {
    let s = claimed.span();
    let mut moved = Moved::with_capacity(dead.len(), s.elemsize);
    for idx in dead.iter() {
        let p = s.slot_addr(idx);
        // SAFETY: the object is unreachable (unmarked, no roots), in the claimed span, not
        // dropped yet; once moved, the sweep frees the slot without dropping its copy.
        unsafe { moved.push(p, s.type_of(idx)) };
    }
    defer_moved(moved);
}

/// Queues cleanups whose objects were found unreachable (after mark termination resumed
/// operations: queueing may start a dropper thread).
pub(crate) fn defer_cleanups(cleanups: Vec<super::specials::Cleanup>) {
    push_all(cleanups.into_iter().map(Job::Cleanup));
}

/// Queues boxed values of type `name` for the dropper (dead `WeakMap` entries' values).
pub(crate) fn defer_boxes(values: Vec<Box<dyn Send>>, name: &'static str) {
    push_all(values.into_iter().map(|v| Job::Value(v, name)));
}

fn push_all(jobs: impl ExactSizeIterator<Item = Job>) {
    if jobs.len() == 0 {
        return;
    }
    let mut st = lock();
    st.jobs.extend(jobs);
    replace_stuck(&mut st);
    drop(st);
    CV.notify_all();
}

/// Queues a value to be dropped by the dropper (a pool's aged value).
pub(crate) fn defer_value<V: Send + 'static>(v: V) {
    if std::mem::needs_drop::<V>() {
        push(Job::Value(Box::new(v), std::any::type_name::<V>()));
    }
}

fn push(job: Job) {
    let mut st = lock();
    st.jobs.push_back(job);
    replace_stuck(&mut st);
    // Sweeps queue a job per span: waking a dropper for each would switch threads for
    // each. Every `WAKE_BATCH` jobs wakes one; the rest wait for `wake` (the end of a sweep
    // pass or of a cycle).
    let now = st.jobs.len() % WAKE_BATCH == 0;
    drop(st);
    if now {
        // All: the condvar also has `collect()` calls waiting for droppers on it, and one
        // of them could take a single wake-up meant for a dropper.
        CV.notify_all();
    }
}

/// Jobs queued by sweeps between two wake-ups of a dropper (at most; `wake` comes sooner).
const WAKE_BATCH: usize = 16;

/// Wakes a dropper if jobs are waiting: the collector calls it when a sweep pass or a
/// cycle ends, so queued drops run within a cycle whatever their number.
pub(crate) fn wake() {
    wake_if_queued(lock());
}

/// Wakes the droppers if `st` has jobs queued (after releasing the lock).
fn wake_if_queued(st: MutexGuard<'static, State>) {
    let queued = !st.jobs.is_empty();
    drop(st);
    if queued {
        CV.notify_all();
    }
}

/// Starts a dropper thread if jobs are waiting and every dropper is stuck in a job (or
/// none exists yet).
fn replace_stuck(st: &mut State) {
    let now = Instant::now();
    let stuck = |b: &Option<Instant>| b.is_some_and(|t| now.duration_since(t) > STUCK);
    if !st.jobs.is_empty()
        && !NO_THREADS.load(Ordering::Relaxed)
        && st.busy.iter().all(stuck)
        && st.busy.len() < MAX_DROPPERS
    {
        start_dropper(st);
    }
}

/// Called once per collection cycle: jobs queued behind a dropper stuck in a `Drop` get a
/// new dropper even when no new job arrives, and queued jobs wake one.
pub(crate) fn check_stuck() {
    let mut st = lock();
    replace_stuck(&mut st);
    wake_if_queued(st);
}

/// Starts dropper thread number `st.busy.len()`.
fn start_dropper(st: &mut State) {
    let i = st.busy.len();
    let spawned = crate::sync::thread::Builder::new()
        .name(format!("gc-dropper-{i}"))
        .spawn(move || dropper(i));
    match spawned {
        Ok(_) => st.busy.push(None),
        Err(e) => {
            if st.busy.is_empty() {
                NO_THREADS.store(true, Ordering::Relaxed);
                crate::report(format_args!(
                    "gc_core: cannot start a dropper thread ({e}); Drop code of swept objects runs after allocations and in collect()"
                ));
            }
        }
    }
}

/// A dropper thread's loop.
fn dropper(i: usize) {
    let _running = Running::enter();
    // What the drops free goes back through the mutators (`alloc/remote_free.rs`).
    remote_free::defer_here();
    loop {
        let job = {
            let mut st = lock();
            loop {
                if st.paused == 0 {
                    if let Some(job) = st.jobs.pop_front() {
                        st.busy[i] = Some(Instant::now());
                        break job;
                    }
                }
                st = CV.wait(st);
            }
        };
        job.run();
        let (idle, waiting) = {
            let mut st = lock();
            st.busy[i] = None;
            (st.jobs.is_empty(), st.waiting != 0)
        };
        if waiting {
            // `Pause::take` or `settle` waits for this job.
            CV.notify_all();
        }
        if idle {
            // The end of a run of jobs: hand this thread's queued frees to the mutators.
            remote_free::flush();
        }
    }
}

/// Held by `collect()` while it runs its cycle: dropper threads start no new job, so the
/// jobs its sweep queues wait for [`Pause::take`].
pub(crate) struct Pause {
    active: bool,
}

/// Pauses the dropper threads (see [`Pause`]).
pub(crate) fn pause() -> Pause {
    lock().paused += 1;
    Pause { active: true }
}

impl Pause {
    /// Runs the jobs queued so far on the calling thread, keeping the pause (none if the
    /// caller is itself running drops). `collect()` calls it between the spans it sweeps, so
    /// the objects its cycle moves out of the heap wait for their `Drop` for one span, not
    /// for the whole sweep: the moved copies never add up to the whole garbage.
    pub(crate) fn run_queued(&self) {
        // The guard is dropped before the jobs run (they may queue more).
        let jobs = take_queued(&mut lock());
        jobs.run();
    }

    /// Before `collect()`'s cycle: finishes the drops of earlier cycles' garbage (waits for
    /// the droppers' jobs as [`take`](Pause::take) does, runs the queued ones here). A
    /// `Drop` may release the last root of other objects (the contents of a written
    /// `GcCell`), which the coming cycle should then find unreachable.
    pub(crate) fn settle(&self) {
        if running_here() {
            return;
        }
        let jobs = take_queued(&mut wait_for_droppers(lock()));
        jobs.run();
    }

    /// Ends the pause and takes every queued job for the caller to [`run`](Jobs::run) (none if the
    /// caller is itself running drops: those stay queued for the droppers).
    pub(crate) fn take(mut self) -> Jobs {
        let mut st = lock();
        if !running_here() {
            st = wait_for_droppers(st);
        }
        st.paused -= 1;
        self.active = false;
        let jobs = take_queued(&mut st);
        drop(st);
        CV.notify_all();
        jobs
    }
}

/// Takes every queued job for the caller to run, or none if the caller is itself running
/// drops (they stay queued for the droppers: no recursion into the queue).
fn take_queued(st: &mut State) -> Jobs {
    if running_here() || st.jobs.is_empty() {
        return Jobs(VecDeque::new(), None);
    }
    let id = st.next_taken;
    st.next_taken += 1;
    st.taken.push((id, Instant::now()));
    Jobs(std::mem::take(&mut st.jobs), Some(id))
}

/// Whether no job is queued and no dropper runs one that started less than `STUCK` ago.
pub(crate) fn settled() -> bool {
    let st = lock();
    let now = Instant::now();
    st.jobs.is_empty()
        && st
            .busy
            .iter()
            .flatten()
            .all(|&t| now.duration_since(t) > STUCK)
}

/// Waits (with the queue lock released meanwhile) for the jobs dropper threads are running,
/// but never longer than `STUCK` after a job started, so a `Drop` that blocks cannot hold
/// `collect()`.
fn wait_for_droppers(mut st: MutexGuard<'static, State>) -> MutexGuard<'static, State> {
    loop {
        let now = Instant::now();
        let left = st
            .busy
            .iter()
            .flatten()
            .chain(st.taken.iter().map(|(_, t)| t))
            .filter_map(|&t| STUCK.checked_sub(now.duration_since(t)))
            .max();
        let Some(left) = left else { return st };
        st.waiting += 1;
        st = CV.wait_timeout(st, left);
        st.waiting -= 1;
    }
}

impl Drop for Pause {
    fn drop(&mut self) {
        if self.active {
            lock().paused -= 1;
            CV.notify_all();
        }
    }
}

/// Jobs taken from the queue by [`Pause::take`] (and the id under which the queue knows
/// they are running, if any).
pub(crate) struct Jobs(VecDeque<Job>, Option<u64>);

impl Jobs {
    /// Runs the jobs on the calling thread, outside every GC operation.
    pub(crate) fn run(mut self) {
        for job in std::mem::take(&mut self.0) {
            job.run();
        }
    }
}

impl Drop for Jobs {
    /// The batch is done (or dropped unrun): the queue stops waiting for it.
    fn drop(&mut self) {
        if let Some(id) = self.1 {
            lock().taken.retain(|&(i, _)| i != id);
            CV.notify_all();
        }
    }
}

/// Called outside any GC operation after an allocation crossed the trigger: if no dropper
/// thread could be started, runs the queued jobs here.
pub(crate) fn help_if_no_threads() {
    if !NO_THREADS.load(Ordering::Relaxed) {
        return;
    }
    let jobs = take_queued(&mut lock());
    jobs.run();
}

/// Runs `f` (user code); a panic is reported on stderr and swallowed. A payload whose own
/// `Drop` panics is leaked rather than allowed to unwind into the runtime.
pub(super) fn guarded(f: impl FnOnce(), what: impl FnOnce() -> String) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        crate::report(format_args!(
            "gc_core: {} panicked ({}); continuing",
            what(),
            panic_message(&*payload)
        ));
        if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            std::mem::forget(again);
        }
    }
}

/// The message of a panic payload, if it is a string.
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a non-string payload")
}
