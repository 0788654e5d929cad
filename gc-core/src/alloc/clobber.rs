//! `GODEBUG=clobberfree=1`: every free slot holds a poison pattern, so use after free shows.
//!
//! The sweeper fills each object it frees with [`CLOBBER`] bytes (as Go's `clobberfree`
//! does), and new spans are filled with it too, so every free slot of the heap holds the
//! pattern. On allocation the slot is checked before the object is written: a byte that is
//! not the pattern means something wrote to a freed object, which is reported (with the
//! slot's address, size and the first bad byte) and aborts. A read after free sees `0xde`
//! bytes instead of stale data. Off by default: the flag is read once, at heap start-up,
//! into [`ON`] (one relaxed load on the allocation path). See the allocator overview (`crate::design::allocator`).

use crate::sync::{AtomicBool, Ordering};

/// The pattern written over freed objects and new spans.
pub(crate) const CLOBBER: u8 = 0xDE;

crate::sync::global! {
    /// Copied from `GODEBUG` at start-up.
    static ON: AtomicBool = AtomicBool::new(false);
}

/// Reads the flag (heap start-up, before any allocation).
pub(crate) fn init(on: bool) {
    ON.store(on, Ordering::Relaxed);
}

/// Whether `clobberfree` is on.
#[inline(always)]
pub(crate) fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Fills `[addr, addr + len)` with the pattern.
///
/// # Safety
///
/// The range is heap memory no live object uses (a freed object, a new span).
pub(crate) unsafe fn poison(addr: usize, len: usize) {
    // SAFETY: forwarded.
    unsafe { std::ptr::write_bytes(addr as *mut u8, CLOBBER, len) };
}

/// Checks that the free slot `[addr, addr + len)` about to be allocated still holds the
/// pattern; aborts with a report otherwise.
///
/// # Safety
///
/// The range is a free slot now owned by the allocating thread.
pub(crate) unsafe fn check_free(addr: usize, len: usize) {
    // SAFETY: forwarded; the slot is plain bytes until the object is written.
    let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, len) };
    if let Some(off) = bytes.iter().position(|&b| b != CLOBBER) {
        crate::fatal(&format!(
            "clobberfree: write after free: the free slot {addr:#x} ({len} bytes) was \
             modified after it was freed: byte {off} is {:#04x}, expected {CLOBBER:#04x}",
            bytes[off]
        ));
    }
}
