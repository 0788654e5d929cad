//! The operating system interface: reserve address space, return pages. Nothing else in the
//! crate calls `mmap` or `madvise`. See the allocator overview (`crate::design::allocator`).

use std::io;

/// Maps `size` bytes of zeroed, readable and writable memory aligned to `align` (a power of
/// two, at least the OS page size). The memory is reserved lazily: untouched pages cost no
/// RSS. Returns the base address.
pub(crate) fn map_aligned(size: usize, align: usize) -> io::Result<usize> {
    debug_assert!(align.is_power_of_two());
    let len = size.checked_add(align).ok_or(io::ErrorKind::OutOfMemory)?;
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches
    // no existing memory.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let start = p as usize;
    let base = (start + align - 1) & !(align - 1);
    let head = base - start;
    let tail = len - head - size;
    // SAFETY: both trimmed ranges lie inside the mapping just created and are not used.
    unsafe {
        if head > 0 {
            libc::munmap(start as *mut libc::c_void, head);
        }
        if tail > 0 {
            libc::munmap((base + size) as *mut libc::c_void, tail);
        }
    }
    Ok(base)
}

/// Tells the OS it may drop the physical pages behind `[addr, addr + len)`; they read back
/// as zeros when touched again.
///
/// # Safety
///
/// The range must be mapped by this crate and hold no live object.
pub(crate) unsafe fn release(addr: usize, len: usize) -> io::Result<()> {
    // SAFETY: the caller guarantees the range is ours and unused.
    let r = unsafe { libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// CPU time the calling thread has used (`CLOCK_THREAD_CPUTIME_ID`): what the scavenger
/// paces itself by, so time spent waiting for a CPU or a lock is not counted as work.
pub(crate) fn thread_cpu_time() -> std::time::Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec; this clock exists on every Linux.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    debug_assert_eq!(r, 0);
    std::time::Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// A stretch being timed on the wall clock and on the calling thread's CPU clock (the
/// stall tracer's stalls, the refills it asks the allocator to time): the difference is
/// time the thread spent off its core.
pub(crate) struct Stopwatch {
    wall: std::time::Instant,
    cpu: std::time::Duration,
}

impl Stopwatch {
    pub(crate) fn start() -> Stopwatch {
        Stopwatch {
            wall: std::time::Instant::now(),
            cpu: thread_cpu_time(),
        }
    }

    /// Wall time since `start`.
    pub(crate) fn wall(&self) -> std::time::Duration {
        self.wall.elapsed()
    }

    /// The calling thread's CPU time since `start` (a system call: read it when needed).
    pub(crate) fn cpu(&self) -> std::time::Duration {
        thread_cpu_time().saturating_sub(self.cpu)
    }
}
