//! Step 5 of the cycle, Go's `gcMarkTermination`, as a method of `cycle.rs`'s `Cycle`:
//! with GC operations stopped, the final mark settles weak references, cleanups and
//! ephemerons, every cache is flushed, the marked heap becomes the live heap, `sweepgen`
//! flips so that every span needs sweeping, and the pacer commits the next goal and
//! trigger; after resuming, the cycle is recorded (statistics, metrics, history, gctrace).
//!
//! Runs on the thread running the cycle, with `GC_LOCK` held (`cycle.rs`) and the stop
//! that `mark_done.rs` ended with; the heap's sweep counters and `sweepgen` are written
//! only here, inside that stop. The pacer and the limiter are reached under `CONTROL`
//! (`control.rs`). See the collector overview (`crate::design::collector`).

use super::control::{control, feed_limiter, memory_use, publish};
use super::cycle::{advance, Cycle};
use super::pacer::CycleMeasurements;
use super::phase::Event;
use super::{config, mark, stats, world};
use crate::alloc::external;
use crate::alloc::heap::HEAP;
use crate::sync::Ordering;
use std::time::Instant;

impl Cycle {
    /// Step 5, mark termination (operations stopped): flushes every cache (its black
    /// allocations and its spans, which must be swept before reuse), makes the marked heap
    /// the new live heap, flips `sweepgen` so every span needs sweeping, commits the next
    /// goal, resumes; then records the cycle (statistics, gctrace).
    pub(super) fn mark_termination(mut self, stopped: world::Stopped) {
        let t_term = Instant::now();
        // The mark is final: weak references to unmarked objects are cleared, their
        // cleanups and dead ephemerons' values leave for the dropper (after resuming).
        let cleanups = super::specials::settle(&self.specials);
        let dead_values = super::ephemeron::settle();
        stopped.flush_all_caches();
        let heap_live_end = HEAP.live_total();
        external::mark_ended();
        let marked = mark::result();
        let spans = HEAP.span_count();
        HEAP.sweep_unclaimed.store(spans, Ordering::Relaxed);
        HEAP.sweep_class.store(0, Ordering::Relaxed);
        HEAP.sweep_pending.store(spans, Ordering::Relaxed);
        crate::alloc::live_types::start(spans);
        HEAP.advance_sweepgen();
        HEAP.heap_live.store(marked.marked_bytes, Ordering::Relaxed);
        let external_base;
        let next_goal;
        {
            let mut g = control();
            let c = g.as_mut().expect("pacer initialised");
            c.pacer.set_memory_use(memory_use());
            external_base = c.pacer.external();
            let report = c.pacer.end_cycle(&CycleMeasurements {
                heap_live: heap_live_end,
                heap_marked: marked.marked_bytes,
                heap_scan_work: marked.scanned_bytes,
                root_scan_work: marked.root_bytes,
                mark_wall_ns: self.t.mark_ns,
                assist_ns: self.t.assist_ns,
                idle_mark_ns: self.t.idle_ns,
                procs: self.procs,
                sweep_done: false,
            });
            publish(&c.pacer);
            next_goal = c.pacer.heap_goal();
            feed_limiter(c, true);
            if config().debug.gcpacertrace {
                crate::report(format_args!("{report}"));
            }
        }
        // Pauses end when the world is released; how soon the OS runs the released threads
        // is scheduling latency (the latency example measures it from the mutator's side).
        let t = &mut self.t;
        t.term_ns += t_term.elapsed().as_nanos() as u64;
        let setup_to_resume = self.setup_start.elapsed().as_nanos() as u64;
        super::reroot::stop();
        drop(stopped);
        let resumed = Instant::now();
        super::dropper::defer_cleanups(cleanups);
        super::dropper::defer_boxes(dead_values, "WeakMap value");
        // The mark is over and no thread drains (`MARKING` is clear, the workers settled,
        // and the next mark starts on this thread): spare grey buffers beyond a few may be
        // freed, outside the pause.
        super::grey_list::trim();
        if self.stw {
            // One pause from mark setup to mark termination.
            t.pause_ns = setup_to_resume;
        } else {
            t.pause_ns += t.term_ns;
        }
        super::metrics::note_pause(if self.stw { t.pause_ns } else { t.term_ns });
        advance(Event::Resumed);

        let procs = self.procs as u64;
        let gc_cpu_ns = t.prepare_ns + t.worker_ns + t.assist_ns + (t.setup_ns + t.term_ns) * procs;
        super::metrics::note_cycle(&super::metrics::CycleFigures {
            marked_bytes: marked.marked_bytes,
            assist_ns: t.assist_ns,
            dedicated_ns: t.worker_ns,
            idle_ns: t.idle_ns,
            pause_cpu_ns: t.pause_ns * procs,
        });
        let pause_end = stats::cycles().record(self.forced, t.pause_ns, gc_cpu_ns);
        super::history::record(
            self.forced,
            pause_end,
            self.procs,
            &super::history::Moments {
                start: self.started,
                setup_start: self.setup_start,
                mark_start: self.mark_start,
                term_start: self.term_start,
                resumed,
            },
            t,
            super::history::Sizes {
                live_start: self.live_start_total,
                live_end: heap_live_end,
                marked: marked.marked_bytes + external_base,
                goal: self.goal,
                next_goal,
            },
            gc_cpu_ns,
        );
        super::periodic::cycle_ended();
        if config().debug.gctrace > 0 {
            super::gctrace::print_cycle(
                self.forced,
                [
                    self.live_start_total,
                    heap_live_end,
                    marked.marked_bytes + external_base,
                ],
                self.goal,
                t,
                self.procs,
            );
        }
    }
}
