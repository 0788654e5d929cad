//! What the runtime's own threads ask of the OS (a child of `sync.rs`): the calling
//! thread's id, the mark workers' scheduling priorities (no-ops under loom and off Linux)
//! and the core count, read once.

use super::OnceLock;

/// The OS thread id of the calling thread (`gettid`), usable where thread-locals are gone
/// (a thread-local destructor). `None` under loom, whose model threads share OS threads.
pub(crate) fn os_thread_id() -> Option<u64> {
    #[cfg(not(gc_loom))]
    {
        // SAFETY: gettid takes no arguments and cannot fail.
        Some(unsafe { libc::syscall(libc::SYS_gettid) } as u64)
    }
    #[cfg(gc_loom)]
    None
}

/// Lowers the calling thread's scheduling priority (nice +10), for the fractional mark
/// worker: on a busy machine it takes the CPU a mutator leaves idle rather than preempting
/// it. Only for threads that hold no lock a mutator may wait for. Best effort.
pub(crate) fn lower_thread_priority() {
    set_thread_nice(10);
}

/// Makes the calling thread run only on CPU nobody else wants (Linux `SCHED_IDLE`; nice +19
/// where that fails), for idle mark workers. Best effort.
pub(crate) fn idle_thread_priority() {
    #[cfg(all(target_os = "linux", not(gc_loom)))]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: a plain syscall on the calling thread (pid 0) with a valid parameter block.
        if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } == 0 {
            return;
        }
    }
    set_thread_nice(19);
}

/// Gives the calling thread normal scheduling back (`SCHED_OTHER`, nice 0) after
/// [`lower_thread_priority`] or [`idle_thread_priority`], for a persistent mark worker
/// whose next assignment is a dedicated one. Returns false if the OS refused (raising a
/// priority needs `CAP_SYS_NICE` or a permissive `RLIMIT_NICE`); true where priorities are
/// not managed.
pub(crate) fn normal_thread_priority() -> bool {
    #[cfg(all(target_os = "linux", not(gc_loom)))]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: a plain syscall on the calling thread (pid 0) with a valid parameter block.
        let policy = unsafe { libc::sched_setscheduler(0, libc::SCHED_OTHER, &param) } == 0;
        policy && set_thread_nice(0)
    }
    #[cfg(not(all(target_os = "linux", not(gc_loom))))]
    true
}

/// Whether the OS would let the calling thread get normal priority back after lowering it
/// (`RLIMIT_NICE` allows nice 0, or `CAP_SYS_NICE`: the thread's nice value can go one step
/// below its current one, which is tried and undone). True where priorities are not
/// managed.
pub(crate) fn can_raise_priority() -> bool {
    #[cfg(all(target_os = "linux", not(gc_loom)))]
    // SAFETY: plain syscalls on the calling thread's own id, and `getrlimit` writes into a
    // valid local; errno is the calling thread's.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // RLIMIT_NICE's ceiling is 20 - nice: 20 allows nice 0.
        if libc::getrlimit(libc::RLIMIT_NICE, &mut lim) == 0 && lim.rlim_cur >= 20 {
            return true;
        }
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        *libc::__errno_location() = 0;
        let now = libc::getpriority(libc::PRIO_PROCESS, tid);
        if (now == -1 && *libc::__errno_location() != 0) || now <= -20 {
            return true;
        }
        let raised = libc::setpriority(libc::PRIO_PROCESS, tid, now - 1) == 0;
        if raised {
            libc::setpriority(libc::PRIO_PROCESS, tid, now);
        }
        raised
    }
    #[cfg(not(all(target_os = "linux", not(gc_loom))))]
    true
}

/// Sets the calling thread's nice value (Linux nice values are per thread); returns whether
/// the OS took it. Best effort.
fn set_thread_nice(nice: i32) -> bool {
    #[cfg(all(target_os = "linux", not(gc_loom)))]
    // SAFETY: plain syscalls on the calling thread's own id; no memory is passed.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, nice) == 0
    }
    #[cfg(not(all(target_os = "linux", not(gc_loom))))]
    {
        let _ = nice;
        true
    }
}

/// The number of cores this process may run on (`std::thread::available_parallelism`,
/// which follows CPU affinity and cgroup quotas; 1 if unknown), read once: the most mark
/// workers that can run at once, and the base of the `GOMAXPROCS` default and clamp.
pub(crate) fn available_cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
