//! Step 4 of the cycle, Go's `gcMarkDone` loop, as methods of `cycle.rs`'s `Cycle`:
//! rounds of background marking (with assists and the pacer's assist ratio refreshed at
//! each tick), the young scan (`young.rs`) after the first round, the ephemeron rounds, and
//! the termination attempts, each under a stop of GC operations, until `mark::try_finish`
//! finds no grey object left; then `GODEBUG=gccheckmark`'s re-mark.
//!
//! Runs on the thread running the cycle, with `GC_LOCK` held (`cycle.rs`); the pacer and
//! the limiter are reached under `CONTROL` (`control.rs`), the marking state through
//! `mark.rs`'s atomics. A pause begun here either ends here (`resume`, counted in the
//! cycle's pause time) or is handed on, still held, to mark termination
//! (`mark_termination.rs`). See the collector overview (`crate::design::collector`).

use super::control::{control, feed_limiter, memory_use};
use super::cycle::{advance, Cycle};
use super::pacer::WorkerPlan;
use super::phase::Event;
use super::{mark, workers, world};
use crate::alloc::heap::HEAP;
use crate::sync::Ordering;
use std::time::Instant;

impl Cycle {
    /// Step 4, the `gcMarkDone` loop: background workers mark (with assists from
    /// allocating threads) until marking looks finished; then, with operations stopped,
    /// `mark::try_finish` checks that no grey object is left, or marking goes on. Returns
    /// the stop that mark termination runs under (after `gccheckmark`'s re-mark, if on).
    pub(super) fn mark_done(
        &mut self,
        mut held: Option<world::Stopped>,
        plan: WorkerPlan,
    ) -> world::Stopped {
        let t_mark = Instant::now();
        self.mark_start = t_mark;
        let heap_live_start = self.heap_live_start;
        let tick = || {
            let live = HEAP.live_total();
            let work = mark::WORK.scan_work.load(Ordering::Relaxed)
                + mark::WORK.root_work.load(Ordering::Relaxed);
            let mut g = control();
            let c = g.as_mut().expect("pacer initialised");
            super::assist::set_ratio(c.pacer.assist_ratio(live, heap_live_start, work));
            if c.limiter_at.elapsed().as_nanos() as u64
                >= super::cpu_limiter::LIMITER_UPDATE_PERIOD_NS
            {
                feed_limiter(c, true);
                c.pacer.set_memory_use(memory_use());
            }
        };
        #[cfg(debug_assertions)]
        let mut first_round = true;
        let stopped = loop {
            let idle_allowed =
                !self.stw && !self.forced && !super::assist::LIMITED.load(Ordering::Relaxed);
            let times = workers::run_round(plan, self.procs, idle_allowed, tick);
            self.t.worker_ns += times.background_ns;
            self.t.idle_ns += times.idle_ns;
            // The first round is over: the young scan (`young.rs`), then more marking.
            #[cfg(debug_assertions)]
            if std::mem::take(&mut first_round) {
                super::test_gate::YOUNG_SCAN.pass();
            }
            if super::young::ALLOC_WHITE.load(Ordering::Relaxed) {
                self.young_scan();
                continue;
            }
            // Before stopping: ephemeron values whose key is now marked are more marking
            // (concurrently, so the pause's check finds little), and the specials that may
            // die are listed (`specials::candidates`).
            if mark::ephemeron_round() {
                continue;
            }
            self.specials = super::specials::candidates();
            let (stopped, t_term) = match held.take() {
                Some(held) => (held, Instant::now()),
                None => {
                    let stopped = world::stop();
                    let began = stopped.began();
                    (stopped, began)
                }
            };
            if mark::try_finish() {
                self.t.term_ns = t_term.elapsed().as_nanos() as u64;
                self.term_start = t_term;
                break stopped;
            }
            if self.stw {
                held = Some(stopped);
            } else {
                self.resume(stopped, t_term);
            }
        };
        // GODEBUG=gccheckmark=1: re-mark from the roots and abort if the mark missed
        // anything (operations still stopped, nothing swept yet).
        if super::config().debug.gccheckmark {
            super::checkmark::verify();
        }
        self.t.mark_ns = t_mark.elapsed().as_nanos() as u64;
        self.t.assist_ns = super::assist::ASSIST_NS.load(Ordering::Relaxed);
        advance(Event::MarkDone);
        stopped
    }

    /// Step 4's young scan (`young.rs`): with operations stopped, allocation turns black and
    /// the young spans are taken; after resuming, a root job per young span shades the
    /// young objects that are counted.
    fn young_scan(&mut self) {
        let stopped = world::stop();
        let began = stopped.began();
        let spans = super::young::switch_to_black(&stopped);
        self.resume(stopped, began);
        mark::queue_root_jobs(&spans);
    }

    /// Ends a pause of the mark phase that began at `began` (the young scan, a termination
    /// attempt that found more to mark): counts it and resumes.
    fn resume(&mut self, stopped: world::Stopped, began: Instant) {
        let pause_ns = began.elapsed().as_nanos() as u64;
        self.t.pause_ns += pause_ns;
        super::metrics::note_pause(pause_ns);
        drop(stopped);
    }
}
