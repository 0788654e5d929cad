//! A global allocator for examples that run both ways: `gc_core::CountingAllocator` over
//! `System` (what interpreters install), or `System` alone, chosen once, at the program's
//! first allocation, by whether an environment variable is set. One binary then measures or
//! soaks both. The switch is the examples', not the library's.
//!
//! The variable is read with `getenv`, which does not allocate and so may run inside the
//! allocator; the choice is stored before the first block is handed out, so every block is
//! allocated and freed (counted or not) by the same allocator.

use gc_core::CountingAllocator;
use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::CStr;
use std::sync::atomic::{AtomicU8, Ordering};

static COUNTING: CountingAllocator = CountingAllocator::system();

/// `CountingAllocator`, or `System` alone, by an environment variable (module header).
pub struct Switch {
    var: &'static CStr,
    /// Whether a set `var` means counting (else it means `System` alone).
    counting_if_set: bool,
    /// 0: not decided yet; 1: counting; 2: `System` alone.
    mode: AtomicU8,
}

impl Switch {
    /// Counts when `var` is set, if `counting_if_set`; when it is not set otherwise.
    pub const fn new(var: &'static CStr, counting_if_set: bool) -> Switch {
        Switch {
            var,
            counting_if_set,
            mode: AtomicU8::new(0),
        }
    }

    /// Whether blocks go through `CountingAllocator`.
    pub fn counting(&self) -> bool {
        let mut m = self.mode.load(Ordering::Relaxed);
        if m == 0 {
            // SAFETY: a NUL-terminated name; the examples set no environment variables.
            let set = unsafe { !libc::getenv(self.var.as_ptr()).is_null() };
            m = if set == self.counting_if_set { 1 } else { 2 };
            self.mode.store(m, Ordering::Relaxed);
        }
        m == 1
    }
}

// SAFETY: both allocators serve from `System`; the switch only decides whether the bytes
// are counted, and it is decided once, before the first block, so an allocation and its
// free are counted alike.
unsafe impl GlobalAlloc for Switch {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe {
            if self.counting() {
                COUNTING.alloc(l)
            } else {
                System.alloc(l)
            }
        }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: forwarded; `p` came from the same allocator (the choice never changes).
        unsafe {
            if self.counting() {
                COUNTING.dealloc(p, l)
            } else {
                System.dealloc(p, l)
            }
        }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        // SAFETY: as in `dealloc`.
        unsafe {
            if self.counting() {
                COUNTING.realloc(p, l, n)
            } else {
                System.realloc(p, l, n)
            }
        }
    }
}
