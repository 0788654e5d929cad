//! The hang watchdog of the random-graph engine (`mod.rs`, `racy_run.rs`): the pulse and
//! each thread's position (`Beat`), and the thread that, when nothing finished for
//! `Params::hang_after`, prints every thread's position and exits the process with status 3.

use super::Params;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Where a thread is, for the hang report.
#[derive(Default)]
pub(super) struct Progress {
    pub(super) op: AtomicU64,
    pub(super) what: AtomicUsize,
}

/// Names for `Progress::what` beyond the operation table.
pub(super) const WHAT_CHECKPOINT: usize = 1000;
pub(super) const WHAT_DONE: usize = 1001;

/// What the watchdog watches.
pub(super) struct Beat {
    /// Bumped by every finished operation, checkpoint and `collect()`.
    pub(super) pulse: AtomicU64,
    pub(super) checkpoints: AtomicU64,
    pub(super) progress: Vec<Progress>,
    /// The name of an operation number.
    names: fn(usize) -> &'static str,
}

impl Beat {
    pub(super) fn new(threads: usize, names: fn(usize) -> &'static str) -> Beat {
        Beat {
            pulse: AtomicU64::new(0),
            checkpoints: AtomicU64::new(0),
            progress: (0..threads).map(|_| Progress::default()).collect(),
            names,
        }
    }

    pub(super) fn name(&self, w: usize) -> &'static str {
        match w {
            WHAT_CHECKPOINT => "checkpoint",
            WHAT_DONE => "done",
            w => (self.names)(w),
        }
    }
}

/// Watches the pulse until `done_rx` is closed; exits the process on a hang.
pub(super) fn watchdog(p: &Params, beat: &Beat, done_rx: mpsc::Receiver<()>) {
    let mut last = (beat.pulse.load(Ordering::Relaxed), Instant::now());
    loop {
        match done_rx.recv_timeout(Duration::from_millis(500)) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let pulse = beat.pulse.load(Ordering::Relaxed);
        if pulse != last.0 {
            last = (pulse, Instant::now());
        } else if last.1.elapsed() >= p.hang_after {
            eprintln!(
                "HANG: no operation, checkpoint or collect() finished for {:?} (seed {}, \
                 {} checkpoints done):",
                p.hang_after,
                p.seed,
                beat.checkpoints.load(Ordering::SeqCst)
            );
            for (t, pr) in beat.progress.iter().enumerate() {
                eprintln!(
                    "  thread {t}: op {} ({})",
                    pr.op.load(Ordering::Relaxed),
                    beat.name(pr.what.load(Ordering::Relaxed))
                );
            }
            eprintln!(
                "  inspect with `gdb -p {} -batch -ex 'thread apply all bt'`",
                std::process::id()
            );
            std::process::exit(3);
        }
    }
}
