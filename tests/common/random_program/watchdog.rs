//! The hang watchdog of the workload in `mod.rs`: each thread's position (`Progress`) and
//! the thread that, when nothing finished for `Params::hang_after`, prints every thread's
//! position and exits the process with status 3.

use super::worker::{OPS, OP_PRUNE};
use super::{Params, Shared};
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

pub(super) fn what_name(w: usize) -> &'static str {
    match w {
        WHAT_CHECKPOINT => "checkpoint",
        WHAT_DONE => "done",
        OP_PRUNE => "prune",
        w => OPS.get(w).map_or("?", |o| o.1),
    }
}

/// Watches the pulse until `done_rx` is closed; exits the process on a hang.
pub(super) fn watchdog(p: &Params, sh: &Shared<'_>, done_rx: mpsc::Receiver<()>) {
    let mut last = (sh.pulse.load(Ordering::Relaxed), Instant::now());
    loop {
        match done_rx.recv_timeout(Duration::from_millis(500)) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let pulse = sh.pulse.load(Ordering::Relaxed);
        if pulse != last.0 {
            last = (pulse, Instant::now());
        } else if last.1.elapsed() >= p.hang_after {
            eprintln!(
                "HANG: no operation, checkpoint or collect() finished for {:?} (seed {}, \
                 {} checkpoints done):",
                p.hang_after,
                p.seed,
                sh.checkpoints.load(Ordering::SeqCst)
            );
            for (t, pr) in sh.progress.iter().enumerate() {
                eprintln!(
                    "  thread {t}: op {} ({})",
                    pr.op.load(Ordering::Relaxed),
                    what_name(pr.what.load(Ordering::Relaxed))
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
