//! The mutator shade buffers (Go's `shade` and `wbBuf`, called by its write barrier): a
//! mutator that roots or unroots an object while `MARKING` is set greys it (invariant
//! I2), and background workers and assists take the grey items from the shared buffer
//! (`SHADES`) one work buffer (`SHADE_BATCH` items) at a time (`find_task` in `drain.rs`).
//! Mark setup opens the shared buffer and mark termination closes it (`mark::start`,
//! `mark::try_finish`).
//!
//! Two ways in:
//! - **A thread's own buffer** ([`LocalShades`], kept in its root cache, `root_cache.rs`):
//!   a shade taken inside a root operation marks the object at once (an atomic OR of its
//!   mark bit, no lock) and keeps its address there; the buffer goes to `SHADES` under one
//!   hold of the lock when it is full, when the thread takes a span while marking (its
//!   allocation slow path, `malloc.rs`), and at every stop, whose drain of the root caches
//!   flushes it (`RootCache::drain`) before mark termination's check looks at `SHADES`.
//!   So a grey object in a thread's buffer is invisible to the workers for a while, and a
//!   round may end with one there: the termination attempt that follows finds it in
//!   `SHADES` and marking goes on (Go's `gcMarkDone` flushes its write-barrier buffers the
//!   same way). Go gives each P such a buffer so that its barrier takes no lock per
//!   pointer; here the shared lock was taken once per shaded object, by every thread.
//! - **The shared buffer directly** ([`shade_from_mutator`]): a thread without a root
//!   cache, or whose root operation found the world stopping, marks and queues under the
//!   lock.
//!
//! Invariants: an object is queued at most once per cycle (only the thread whose OR set
//! its mark bit queues it), so mutators that keep rooting cannot keep marking from
//! terminating; and no mark bit is set once mark termination has closed `SHADES`
//! (`active`, cleared under its lock): the shared path marks under that lock, and a
//! thread's own buffer marks only inside a root operation that saw `MARKING`, which no
//! stop overlaps, so before the stop that closes it.
//!
//! Shared state: `SHADES` under its mutex; `SHADES_PENDING`, whether it holds items, is
//! written only under that lock and read without it (SeqCst); a thread's buffer is its
//! root cache's (owner inside an operation, or the collector while stopped). See the
//! collector overview (`crate::design::collector`).

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

impl ShadeBuffer {
    /// Queues grey objects for the drainers and says so in `SHADES_PENDING`. Only lock
    /// holders write the flag: if it is set, it stays set until a taker empties the buffer
    /// (and with it takes these items) and clears it under the lock.
    fn queue(&mut self, grey: &[usize]) {
        self.items.extend_from_slice(grey);
        if !SHADES_PENDING.load(Ordering::Relaxed) {
            SHADES_PENDING.store(true, Ordering::SeqCst);
        }
    }
}

/// Called by a mutator that rooted or unrooted `addr` while `MARKING` was set, outside a
/// root operation (module header): greys the object (Go's `shade`). Each object is queued
/// at most once per cycle, so mutators that keep rooting cannot keep marking from
/// terminating. Done under the buffer lock, so no mark bit is set after mark termination
/// closed the buffer.
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
            b.queue(&[s.slot_addr(idx)]);
        }
    }
}

/// Most addresses a thread's own buffer holds (Go's `wbBuf` holds 512 pointers).
const LOCAL_SHADES: usize = 256;

/// One thread's grey objects not yet in `SHADES` (module header), and the bytes it
/// marked. Lives in the thread's root cache, under that cache's protocol.
pub(crate) struct LocalShades {
    items: [usize; LOCAL_SHADES],
    len: usize,
    marked_bytes: u64,
}

impl LocalShades {
    pub(crate) const fn new() -> LocalShades {
        LocalShades {
            items: [0; LOCAL_SHADES],
            len: 0,
            marked_bytes: 0,
        }
    }

    /// Greys the object at `addr`: marks it, and keeps its address if it has anything to
    /// scan. Called by the owner inside a root operation that saw `MARKING` set (so
    /// before the stop that ends the mark, module header).
    #[cold]
    #[inline(never)]
    pub(crate) fn shade(&mut self, addr: usize) {
        let (s, idx) = locate(addr);
        if !s.mark(idx) {
            return;
        }
        self.marked_bytes += s.elemsize as u64;
        if !s.spanclass.noscan() {
            self.items[self.len] = s.slot_addr(idx);
            self.len += 1;
            if self.len == LOCAL_SHADES {
                self.flush();
            }
        }
    }

    /// Hands the grey objects and the marked bytes to `SHADES`, under one hold of its
    /// lock.
    #[inline]
    pub(crate) fn flush(&mut self) {
        if self.marked_bytes != 0 {
            self.flush_now();
        }
    }

    #[cold]
    #[inline(never)]
    fn flush_now(&mut self) {
        let mut b = shades();
        // Every shade here was taken inside a root operation that saw `MARKING`, and
        // every flush happens inside an operation or at a stop's drain, which comes
        // before mark termination's check: the buffer is still open.
        debug_assert!(b.active, "a thread's shades outlived their mark");
        b.marked_bytes += std::mem::take(&mut self.marked_bytes);
        if self.len != 0 {
            b.queue(&self.items[..self.len]);
            self.len = 0;
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
