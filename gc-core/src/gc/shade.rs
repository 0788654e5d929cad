//! The mutator shade buffer (`SHADES`; Go's `shade`, called by its write barrier): a
//! mutator that roots or unroots an object while `MARKING` is set greys it here (invariant
//! I2), and background workers and assists take the buffer's items one work buffer
//! (`SHADE_BATCH` items) at a time (`find_task` in `drain.rs`). Mark setup opens the
//! buffer and mark termination closes it (`mark::start`, `mark::try_finish`).
//!
//! Invariants: an object is queued at most once per cycle (its mark bit is set under the
//! buffer's lock), so mutators that keep rooting cannot keep marking from terminating; and
//! no mark bit is set once mark termination has closed the buffer (`active`, cleared under
//! the same lock).
//!
//! Shared state: the buffer under its mutex (`SHADES`); `SHADES_PENDING`, whether it holds
//! items, is written only under that lock and read without it (SeqCst). See the collector
//! overview (`crate::design::collector`).

use super::roots::locate;
use crate::sync::{AtomicBool, Mutex, MutexGuard, Ordering};

/// Shades pushed by mutators while marking (rooting during marking, invariant I2).
pub(super) struct ShadeBuffer {
    pub(super) active: bool,
    pub(super) items: Vec<usize>,
    /// Bytes the shades marked, added to `WORK.marked_bytes` when the mark ends (one locked
    /// add fewer per shade).
    pub(super) marked_bytes: u64,
}

crate::sync::global! {
    static SHADES: Mutex<ShadeBuffer> = Mutex::new(ShadeBuffer {
        active: false,
        items: Vec::new(),
        marked_bytes: 0,
    });
}
crate::sync::global! {
    /// Whether `SHADES` holds items; written only under its lock, read without it.
    pub(super) static SHADES_PENDING: AtomicBool = AtomicBool::new(false);
}

pub(super) fn shades() -> MutexGuard<'static, ShadeBuffer> {
    SHADES.lock()
}

/// Called by a mutator that rooted or unrooted `addr` while `MARKING` was set: greys the
/// object (Go's `shade`). Each object is queued at most once per cycle, so mutators that
/// keep rooting cannot keep marking from terminating. Done under the buffer lock, so no
/// mark bit is set after mark termination closed the buffer.
#[cold]
pub(crate) fn shade_from_mutator(addr: usize) {
    let (s, idx) = locate(addr);
    if s.is_marked(idx) {
        return;
    }
    let mut b = shades();
    if b.active && s.mark(idx) {
        b.marked_bytes += s.elemsize as u64;
        if !s.spanclass.noscan() {
            b.items.push(s.slot_addr(idx));
            // Only lock holders write the flag: if it is set, it stays set until a taker
            // empties the buffer (and with it takes our item) and clears it under the lock.
            if !SHADES_PENDING.load(Ordering::Relaxed) {
                SHADES_PENDING.store(true, Ordering::SeqCst);
            }
        }
    }
}

/// Shade-buffer items one drainer takes at a time: one work buffer (Go's `workbuf`, 2 KiB).
/// Taking them all made an assist push the whole buffer (25,000 items on the 1 GiB latency
/// probe, whose slot writes shade young trees) into its local queue, scan a few hundred and
/// hand the rest back to the injector: 0.7 ms of queue traffic in an allocation.
pub(super) const SHADE_BATCH: usize = 256;

/// Moves up to `SHADE_BATCH` items from the shade buffer's end into `batch` (a copy under
/// the lock, no allocation); returns how many. Clears `SHADES_PENDING` only once the
/// buffer is empty.
pub(super) fn take_shades(batch: &mut [usize; SHADE_BATCH]) -> usize {
    let mut b = shades();
    let n = take_last(&mut b.items, batch);
    if b.items.is_empty() {
        SHADES_PENDING.store(false, Ordering::SeqCst);
    }
    n
}

/// Moves the last `batch.len()` items of `items` (or all, if fewer) into `batch`; returns
/// how many.
fn take_last(items: &mut Vec<usize>, batch: &mut [usize]) -> usize {
    let rest = items.len().saturating_sub(batch.len());
    let n = items.len() - rest;
    batch[..n].copy_from_slice(&items[rest..]);
    items.truncate(rest);
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drainer_takes_the_shade_buffer_one_batch_at_a_time() {
        for (len, takes) in [
            (0, vec![0]),
            (3, vec![3, 0]),
            (SHADE_BATCH, vec![SHADE_BATCH, 0]),
            (SHADE_BATCH + 1, vec![SHADE_BATCH, 1, 0]),
            (2 * SHADE_BATCH + 5, vec![SHADE_BATCH, SHADE_BATCH, 5, 0]),
        ] {
            let mut items: Vec<usize> = (1..=len).collect();
            let mut seen = Vec::new();
            for want in takes {
                let mut batch = [0usize; SHADE_BATCH];
                let n = take_last(&mut items, &mut batch);
                assert_eq!(n, want, "buffer of {len}");
                seen.extend_from_slice(&batch[..n]);
            }
            // Every item taken exactly once, none left behind.
            assert!(items.is_empty());
            seen.sort_unstable();
            assert_eq!(seen, (1..=len).collect::<Vec<_>>(), "buffer of {len}");
        }
    }
}
