//! Asymmetric fences (a child of `sync.rs`): `light_fence` on the mutator side, a compiler
//! fence only; `heavy_fence` on the collector side, Linux
//! `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, a full barrier on every thread of the
//! process; both `SeqCst` fences where membarrier is unavailable and under loom. Also
//! `seqcst_order`, the fence loom needs between two `SeqCst` accesses. Shared state: the
//! probe's result (`membarrier::STATE`), written once at load or at the first allocation.

use super::Ordering;

#[cfg(not(gc_loom))]
mod membarrier {
    use std::sync::atomic::{AtomicU8, Ordering};

    const CMD_QUERY: libc::c_long = 0;
    const CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

    /// 0 = not probed yet, 1 = membarrier works, 2 = fall back to SeqCst fences.
    static STATE: AtomicU8 = AtomicU8::new(0);

    fn syscall(cmd: libc::c_long) -> libc::c_long {
        // SAFETY: membarrier takes two integer arguments and touches no user memory.
        unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                cmd,
                0 as libc::c_long,
                0 as libc::c_long,
            )
        }
    }

    /// Probes and registers once. Must run before the first `light_fence` a thread relies
    /// on: the runtime calls it when the heap is initialised, before any mutator thread is
    /// registered.
    pub(crate) fn init() -> bool {
        // Acquire pairs with the Release store below in an earlier `init`, but only the
        // value passes (registering is a kernel effect, complete when the syscall returns,
        // and `available` loads `STATE` Relaxed). Relaxed would do.
        match STATE.load(Ordering::Acquire) {
            1 => return true,
            2 => return false,
            _ => {}
        }
        let mask = syscall(CMD_QUERY);
        let ok = mask >= 0
            && mask & CMD_PRIVATE_EXPEDITED != 0
            && syscall(CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
        // Release pairs with the Acquire load at the top of `init`; as there, only the value
        // passes. Relaxed would do.
        STATE.store(if ok { 1 } else { 2 }, Ordering::Release);
        ok
    }

    #[inline(always)]
    pub(crate) fn available() -> bool {
        STATE.load(Ordering::Relaxed) == 1
    }

    pub(crate) fn run() -> bool {
        available() && syscall(CMD_PRIVATE_EXPEDITED) == 0
    }
}

/// Probes and registers for membarrier when the program is loaded, before `main`, while
/// the process has one thread: registering then costs microseconds, against 15-17 ms once
/// a second thread exists (the kernel then waits for an RCU grace period), which the first
/// thread to allocate would spend stalled. If the linker leaves this out, or the probe
/// fails, [`init_fences`] does it at the first allocation as before.
#[cfg(all(target_os = "linux", not(gc_loom)))]
#[used]
#[link_section = ".init_array"]
static REGISTER_FENCES_AT_LOAD: extern "C" fn() = {
    extern "C" fn register() {
        membarrier::init();
    }
    register
};

/// Probes for membarrier; returns whether the cheap mutator-side fence is in use.
pub(crate) fn init_fences() -> bool {
    #[cfg(not(gc_loom))]
    return membarrier::init();
    #[cfg(gc_loom)]
    return false;
}

/// Mutator side of an asymmetric fence: orders the mutator's earlier stores before its
/// later loads *as observed by a thread that calls [`heavy_fence`]*.
#[inline(always)]
pub(crate) fn light_fence() {
    #[cfg(not(gc_loom))]
    {
        if membarrier::available() {
            std::sync::atomic::compiler_fence(Ordering::SeqCst);
        } else {
            std::sync::atomic::fence(Ordering::SeqCst);
        }
    }
    #[cfg(gc_loom)]
    loom::sync::atomic::fence(Ordering::SeqCst);
}

/// Collector side of an asymmetric fence: after it returns, every store a mutator made
/// before its `light_fence` is visible, or that mutator's loads after its `light_fence` see
/// the collector's stores made before this call.
pub(crate) fn heavy_fence() {
    #[cfg(not(gc_loom))]
    {
        if !membarrier::run() {
            std::sync::atomic::fence(Ordering::SeqCst);
        }
    }
    #[cfg(gc_loom)]
    loom::sync::atomic::fence(Ordering::SeqCst);
}

/// Between a `SeqCst` access and a later `SeqCst` access to another location (the two
/// halves of a Dekker pair, e.g. "count += 1, then read MARKING"). The C++ model already
/// orders them (`SeqCst` accesses form one total order consistent with program order), so
/// this is nothing normally. Loom models `SeqCst` accesses as only `AcqRel` (loom's README,
/// issue #180) and would report store buffering that cannot happen; under loom this is a
/// `SeqCst` fence, which loom does model, restoring the guarantee.
#[inline(always)]
pub(crate) fn seqcst_order() {
    #[cfg(gc_loom)]
    loom::sync::atomic::fence(Ordering::SeqCst);
}
