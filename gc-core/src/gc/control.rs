//! The GC control state (the owner of Go's `gcControllerState`) and its knobs: the pacer
//! and the CPU limiter (pure values, `pacer.rs`, `cpu_limiter.rs`) under one lock, the
//! copies of the pacer's decisions the allocation path reads, and `set_gc_percent` /
//! `set_memory_limit` (Go's `debug.SetGCPercent`, `debug.SetMemoryLimit`).
//!
//! `CONTROL` (a mutex, taken briefly and never while waiting for anything) protects both
//! values; `control()` is the only way in. Every change to the pacer's trigger or goal is
//! followed by `publish`, which copies them into `HEAP.trigger` and `HEAP.goal` (relaxed
//! atomics the allocation path reads without the lock) and passes the goals to the
//! scavenger. The cycle's steps (`cycle.rs`, `mark_done.rs`, `mark_termination.rs`) take
//! the lock to start and end the pacer's cycle and to feed the limiter; the knobs may be
//! turned from any thread at any time. See the collector overview
//! (`crate::design::collector`).

use super::cpu_limiter::CpuLimiter;
use super::cycle::{triggered, IN_CYCLE};
use super::pacer::{MemoryUse, Pacer};
use super::{config, stats};
use crate::alloc::heap::HEAP;
use crate::sync::{Mutex, MutexGuard, Ordering};
use std::time::Instant;

/// The pacer and the CPU limiter (pure values, `pacer.rs`, `cpu_limiter.rs`).
pub(super) struct Control {
    pub(super) pacer: Pacer,
    limiter: CpuLimiter,
    /// When the limiter was last fed.
    pub(super) limiter_at: Instant,
    /// `assist::ASSIST_NS` when the limiter was last fed (it counts for the whole cycle).
    pub(super) assist_seen: u64,
}

crate::sync::global! {
    static CONTROL: Mutex<Option<Control>> = Mutex::new(None);
}

pub(super) fn control() -> MutexGuard<'static, Option<Control>> {
    CONTROL.lock()
}

/// Runs `f` on the pacer.
pub(super) fn with_pacer<R>(f: impl FnOnce(&mut Pacer) -> R) -> R {
    f(&mut control().as_mut().expect("pacer initialised").pacer)
}

/// Creates the pacer from the environment. Called once from `gc::init`.
pub(crate) fn init_pacer() {
    let c = config();
    let p = Pacer::new(c.gogc.percent(), c.memory_limit.max(0) as u64);
    publish(&p);
    *control() = Some(Control {
        pacer: p,
        limiter: CpuLimiter::new(procs()),
        limiter_at: Instant::now(),
        assist_seen: 0,
    });
    stats::cycles().start = Some(Instant::now());
}

pub(super) fn procs() -> usize {
    config().gomaxprocs.max(1)
}

/// Copies the pacer's trigger where allocation reads it: the mark starts there, early
/// enough to finish by the goal at 25% CPU.
pub(super) fn publish(p: &Pacer) {
    HEAP.trigger.store(p.trigger(), Ordering::Relaxed);
    HEAP.goal.store(p.heap_goal(), Ordering::Relaxed);
    let limit = p.memory_limit();
    super::scavenger::set_goals(
        p.gogc().map(|_| p.heap_goal()),
        (limit < super::pacer::NO_MEMORY_LIMIT).then_some(limit),
    );
}

/// Recomputes the memory-limit goal from the memory the heap holds now (which it lowers
/// as the heap grows and raises as the scavenger releases pages; Go recomputes it at every
/// trigger test). Called outside any GC operation.
pub(crate) fn refresh_memory_goal() {
    if IN_CYCLE.with(|c| c.get()) {
        return;
    }
    with_pacer(|p| {
        if p.memory_limit() < super::pacer::NO_MEMORY_LIMIT {
            p.set_memory_use(memory_use());
            publish(p);
        }
    });
}

/// The current heap goal.
pub(crate) fn heap_goal() -> u64 {
    control()
        .as_ref()
        .map_or(super::pacer::HEAP_MINIMUM, |c| c.pacer.heap_goal())
}

/// The heap goal, `GOGC` (`None` = off) and the memory limit, under one hold of the
/// pacer's lock (`gc_core::metrics`).
pub(crate) fn pacer_settings() -> (u64, Option<u32>, u64) {
    match control().as_ref() {
        Some(c) => (c.pacer.heap_goal(), c.pacer.gogc(), c.pacer.memory_limit()),
        None => (
            super::pacer::HEAP_MINIMUM,
            config().gogc.percent(),
            config().memory_limit.max(0) as u64,
        ),
    }
}

/// Feeds the CPU limiter the time since its last update (`marking` says whether the
/// background workers were running) and publishes whether assists must stand down.
pub(super) fn feed_limiter(c: &mut Control, marking: bool) {
    let now = Instant::now();
    let wall = now.duration_since(c.limiter_at).as_nanos() as u64;
    c.limiter_at = now;
    let total = super::assist::ASSIST_NS.load(Ordering::Relaxed);
    let assist = if marking {
        total.saturating_sub(c.assist_seen)
    } else {
        0
    };
    c.assist_seen = total;
    let was_limiting = c.limiter.limiting();
    c.limiter.account_window(wall, assist, 0, marking);
    if c.limiter.limiting() && !was_limiting {
        super::metrics::note_limiter_enabled();
    }
    super::assist::LIMITED.store(c.limiter.limiting(), Ordering::Relaxed);
}

/// `crate::api::set_gc_percent`.
pub(crate) fn set_gc_percent(percent: i32) -> i32 {
    super::init();
    let new = if percent < 0 {
        None
    } else {
        Some(percent as u32)
    };
    let old = with_pacer(|p| {
        let old = p.set_gogc(new);
        publish(p);
        old
    });
    old.map_or(-1, |v| v.min(i32::MAX as u32) as i32)
}

/// `crate::api::set_memory_limit`.
pub(crate) fn set_memory_limit(bytes: i64) -> i64 {
    super::init();
    let old = with_pacer(|p| {
        if bytes < 0 {
            return p.memory_limit();
        }
        p.set_memory_use(memory_use());
        let old = p.set_memory_limit(bytes as u64);
        publish(p);
        old
    });
    let old = old.min(i64::MAX as u64) as i64;
    if bytes >= 0 && HEAP.live_total() >= HEAP.trigger.load(Ordering::Relaxed) {
        triggered();
    }
    old
}

/// What the memory-limit goal needs to know (Go's `mappedReady`, `heapFree`, `heapAlloc`):
/// everything mapped (heap and metadata), the free pages, and the in-use spans (objects
/// and their unswept garbage, at span granularity).
pub(super) fn memory_use() -> MemoryUse {
    let m = HEAP.memory();
    MemoryUse {
        // Released pages cost no memory (Go's `mappedReady` excludes them).
        mapped_ready: m.sys - m.released + m.metadata,
        heap_free: m.sys - m.inuse - m.released,
        heap_alloc: m.inuse,
    }
}
