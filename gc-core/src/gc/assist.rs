//! Mark assist (Go's `gcAssistAlloc`): a thread that allocates while the heap is being
//! marked pays for it in scan work, so the heap cannot outrun the marker.
//!
//! Each cache carries an assist balance in bytes (`MCache::assist_credit`, reset at mark setup).
//! Allocation during marking (a cache refill or a large object) charges the bytes it takes. A
//! thread in debt first steals scan credit that the background workers banked (`BG_CREDIT`), then
//! scans grey objects itself for `debt * work_per_byte` bytes of work plus Go's over-assist (a
//! pre-payment), inside its GC operation (so mark termination, which stops operations, never sees
//! an assist holding work). If no grey object is available and the debt itself is not paid yet, it
//! waits for the workers to bank credit or share work (Go parks the goroutine on its assist queue),
//! which is what holds the heap near its goal when allocation outruns marking. Three differences
//! from Go: the over-assist is Go's 64 KiB only up to a 16 MiB goal and shrinks to 16 KiB from a
//! 64 MiB goal up (`pacer::over_assist_work`: each assist pauses its thread), it is never waited
//! for (on a small heap the whole mark can be less work than that, and Go's goroutine then waits
//! out the mark), and below the goal the thread does not
//! wait at all but carries the unpaid debt to its next charge (the heap has runway left; the wait
//! would only idle the thread while the workers mark). It never waits for ever: the wait ends when
//! the collector starts stopping operations to finish the cycle (the rest of the debt is forgiven),
//! and while the CPU limiter is limiting, assists stand down.
//!
//! The ratio is revised about once a millisecond by the cycle (`set_ratio`); all fields are
//! atomics, except each thread's spare assist queue (a thread-local). See the collector
//! overview (`crate::design::collector`).

use super::local_queue::LocalQueue;
use super::mark::{drain, flush_local, has_visible_work, or_die, Drainer, Role, Tracer, WORK};
use super::pacer::{over_assist_work, AssistRatio, MAX_OVERSHOOT};
use super::world::Op;
use crate::alloc::heap::HEAP;
use crate::sync::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::cell::Cell;
use std::time::{Duration, Instant};

/// Most allocation credit one assist can pre-pay.
const MAX_PREPAID: i64 = 1 << 20;

crate::sync::global! {
    /// Scan work owed per allocated byte, as `f64` bits (Go: `assistWorkPerByte`).
    static WORK_PER_BYTE: AtomicU64 = AtomicU64::new(0);
}
crate::sync::global! {
    /// Bytes of allocation one unit of scan work pays for, as `f64` bits.
    static BYTES_PER_WORK: AtomicU64 = AtomicU64::new(0);
}
crate::sync::global! {
    /// Scan work done by background workers and not yet claimed by assists (Go: `bgScanCredit`).
    static BG_CREDIT: AtomicI64 = AtomicI64::new(0);
}
crate::sync::global! {
    /// Nanoseconds mutators spent scanning in assists this cycle (not waiting for credit).
    pub(crate) static ASSIST_NS: AtomicU64 = AtomicU64::new(0);
}
crate::sync::global! {
    /// Set while the CPU limiter is limiting: assists stand down.
    pub(crate) static LIMITED: AtomicBool = AtomicBool::new(false);
}

/// Mark setup: no credit banked yet, no assist time, the first ratio.
pub(crate) fn start(ratio: AssistRatio) {
    BG_CREDIT.store(0, Ordering::Relaxed);
    ASSIST_NS.store(0, Ordering::Relaxed);
    set_ratio(ratio);
}

/// Publishes a revised assist ratio.
pub(crate) fn set_ratio(r: AssistRatio) {
    WORK_PER_BYTE.store(r.work_per_byte.to_bits(), Ordering::Relaxed);
    BYTES_PER_WORK.store(r.bytes_per_work.to_bits(), Ordering::Relaxed);
}

/// Items of local queue an allocating thread keeps between assists (32 KiB).
const KEPT_QUEUE_ITEMS: usize = 4096;

crate::sync::thread_local! {
    /// The local queue of this thread's last assist, kept for its next one: a queue made
    /// and dropped per assist was a `memalign` and two `free`s in the allocating thread,
    /// which waited (1 ms, off the CPU, on the 1 GiB latency probe) for the `malloc` arena
    /// lock that mark workers freeing the injector's blocks held. Taken out while in use,
    /// so a nested assist (a `Trace` impl that allocates) makes its own.
    static QUEUE: Cell<Option<LocalQueue>> = const { Cell::new(None) };
}

crate::sync::global! {
    /// Assists parked in [`wait_for_credit`].
    static PARKED: AtomicUsize = AtomicUsize::new(0);
}

/// The longest a parked assist sleeps before it looks for work again (the workers may have
/// shared some; only banked credit and stops wake it).
const PARK_TIMEOUT: Duration = Duration::from_micros(500);

/// Banks scan work done by a background worker for assists to steal, waking the assists
/// that wait for it.
pub(crate) fn add_background_credit(work: u64) {
    // SeqCst (with the load in `wake_waiting`): against `wait_for_credit`'s increment and
    // check, so a parking assist sees the credit or is seen and woken.
    BG_CREDIT.fetch_add(work.min(i64::MAX as u64) as i64, Ordering::SeqCst);
    wake_waiting();
}

/// Wakes the assists parked waiting for credit (banked credit, or a stop of operations,
/// which ends their wait). One load when none is parked.
pub(crate) fn wake_waiting() {
    if PARKED.load(Ordering::SeqCst) != 0 {
        crate::sync::unpark_all(park_key());
    }
}

/// The park queue's key: the bank's address.
fn park_key() -> usize {
    std::ptr::addr_of!(BG_CREDIT) as usize
}

/// Sleeps until credit is banked, operations are being stopped, the CPU limiter stands
/// assists down, or `PARK_TIMEOUT` passes (Go's `gcParkAssist`). Inside the caller's GC
/// operation: a stop wakes it at once, so it never holds a stop up for long.
fn wait_for_credit() {
    PARKED.fetch_add(1, Ordering::SeqCst);
    crate::sync::park_timeout(
        park_key(),
        || {
            BG_CREDIT.load(Ordering::SeqCst) <= 0
                && !super::world::stopping()
                && !LIMITED.load(Ordering::Relaxed)
        },
        PARK_TIMEOUT,
    );
    PARKED.fetch_sub(1, Ordering::SeqCst);
}

/// Takes up to `want` units from the bank; returns what it got.
fn steal_credit(want: i64) -> i64 {
    let mut have = BG_CREDIT.load(Ordering::Relaxed);
    loop {
        let take = have.min(want);
        if take <= 0 {
            return 0;
        }
        match BG_CREDIT.compare_exchange_weak(
            have,
            have - take,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return take,
            Err(now) => have = now,
        }
    }
}

/// Charges `bytes` of allocation during marking to the calling thread's assist balance,
/// assisting if it goes into debt (`mallocgc`'s step 7). Returns the time spent scanning.
#[cold]
pub(crate) fn charge(op: &mut Op<'_>, bytes: u64) -> Duration {
    let credit = &mut op.cache().assist_credit;
    *credit = credit.saturating_sub(bytes.min(i64::MAX as u64) as i64);
    if *credit >= 0 || LIMITED.load(Ordering::Relaxed) {
        return Duration::ZERO;
    }
    let per_byte = f64::from_bits(WORK_PER_BYTE.load(Ordering::Relaxed));
    let per_work = f64::from_bits(BYTES_PER_WORK.load(Ordering::Relaxed));
    let debt = -*credit;
    // Past the goal plus Go's 10% overshoot, owe everything: the thread helps or waits
    // until the cycle ends. The ratio is revised by the GC thread's tick, which a busy
    // machine may delay; this check reads the live heap itself (Go revises the ratio on
    // every heap_live update, and past that point its ratio leaves one byte of runway).
    let hard = (HEAP.goal.load(Ordering::Relaxed) as f64 * MAX_OVERSHOOT) as u64;
    // `needed` pays the debt; the rest of `owed` is Go's over-assist, a pre-payment that
    // batches assists. Unlike Go, which parks the goroutine until all of it is paid, the
    // thread only waits for `needed`: on a small heap the whole cycle's work can be less
    // than the over-assist, and a thread waiting for it would wait out the whole mark.
    let needed = if HEAP.live_total() >= hard {
        i64::MAX / 2
    } else {
        (debt as f64 * per_byte).min(i64::MAX as f64 / 4.0) as i64
    };
    let owed = needed + over_assist_work(HEAP.goal.load(Ordering::Relaxed)) as i64;
    let mut paid_work = 0i64;
    // Time spent scanning (Go's `gcAssistTime`): the waits for credit are not GC CPU.
    let mut scanning = Duration::ZERO;
    // `try_with`: a thread-local destructor may allocate after `QUEUE` is gone.
    let local = QUEUE
        .try_with(Cell::take)
        .ok()
        .flatten()
        .unwrap_or_else(LocalQueue::private);
    let mut tracer = Tracer::new(&local);
    let drainer = Drainer {
        local: &local,
        role: Role::Assist,
        stealers: &[],
    };
    let mut backoff = crate::sync::Backoff::default();
    // Snoozes (spins, then yields) before an assist parks.
    const SPINS: u32 = 10;
    let mut spins = 0;
    let mut carried = false;
    loop {
        let stolen = steal_credit(owed - paid_work);
        paid_work += stolen;
        if paid_work >= owed {
            break;
        }
        // Only claim to be busy when there is work to take: waiting assists that kept
        // toggling `busy` would hide the end of marking from the workers.
        if has_visible_work(Role::Assist) {
            let t0 = Instant::now();
            WORK.busy.fetch_add(1, Ordering::SeqCst);
            // Stop early if the collector is stopping operations: it waits for this one.
            or_die(|| {
                drain(&drainer, &mut tracer, |t| {
                    paid_work + t.work() as i64 >= owed || super::world::stopping()
                })
            });
            flush_local(&local);
            WORK.busy.fetch_sub(1, Ordering::SeqCst);
            paid_work += tracer.flush() as i64;
            scanning += t0.elapsed();
        }
        let idle = !has_visible_work(Role::Assist);
        if paid_work >= owed
            || (paid_work >= needed && idle)
            || super::world::stopping()
            || LIMITED.load(Ordering::Relaxed)
        {
            break;
        }
        // No grey object to take, no credit banked, still in debt, and the heap below its
        // goal: the workers hold all the work there is, and waiting would only stop this
        // thread from allocating into runway the pacer left. The debt carries over to the
        // thread's next charge instead; from the goal on, the thread waits.
        if idle && HEAP.live_total() < HEAP.goal.load(Ordering::Relaxed) {
            carried = true;
            break;
        }
        // No grey object to take and still in debt: the heap is outrunning the marker.
        // Wait for the workers to bank credit or share work (Go parks the goroutine on
        // the assist queue), spinning briefly, then parked; the wait ends at the latest
        // when the collector stops operations to finish the cycle.
        spins += 1;
        if spins <= SPINS {
            backoff.snooze();
        } else {
            wait_for_credit();
        }
    }
    ASSIST_NS.fetch_add(scanning.as_nanos() as u64, Ordering::Relaxed);
    let paid_bytes = if paid_work >= owed {
        (paid_work as f64 * per_work).min(i64::MAX as f64 / 2.0) as i64
    } else if carried && paid_work < needed {
        // What the work paid for; the rest of the debt stays.
        (paid_work as f64 * per_work).min(debt as f64) as i64
    } else {
        // The debt is paid but not the over-assist (no work left to take), or the cycle is
        // ending (or the CPU limiter intervened): clear the debt, pre-pay nothing. Only a
        // whole over-assist pre-pays: a cold-start ratio would otherwise turn a little work
        // into a lot of credit.
        debt
    };
    // Empty (every drain above ended in `flush_local`): kept for the thread's next assist.
    drop(tracer);
    debug_assert!(local.is_empty());
    local.shrink_to(KEPT_QUEUE_ITEMS);
    let _ = QUEUE.try_with(|q| q.set(Some(local)));
    // The drain (which may run `Trace` impls, and so nested operations) is over: a fresh
    // borrow of the cache.
    let credit = &mut op.cache().assist_credit;
    // Over-assisting pre-pays future allocation, but never more than `MAX_PREPAID`: a ratio
    // taken before the first revision (tiny, from a cold start) would otherwise turn an
    // over-assist into hundreds of MiB of credit.
    *credit = credit.saturating_add(paid_bytes).min(MAX_PREPAID);
    scanning
}
