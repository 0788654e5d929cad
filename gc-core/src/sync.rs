//! The only module that names atomics, `UnsafeCell`, locks and threads. Under
//! `--cfg gc_loom` it re-exports loom's versions so the lock-free protocols can be
//! model-checked (the models are in `crate::loom_models`); everything else in the crate
//! imports from here.
//!
//! Under loom, globals are re-created for every model execution: [`global!`] declares a
//! plain const-initialised `static` normally and a `loom::lazy_static` under loom, and
//! [`const_fn!`] / [`array!`] let one constructor body serve both (loom's constructors are
//! not `const`). Thread-locals use [`thread_local!`] (loom's under loom). The runtime's own
//! threads (GC controller, sweeper, mark workers) and the one-time initialisers (`Once`,
//! `OnceLock`, `LazyLock`) stay std in both builds: models drive the protocols directly and
//! never start the whole runtime.
//!
//! `Mutex` and `Condvar` are thin wrappers (over std's or loom's) that ignore poisoning, so
//! no call site repeats `unwrap_or_else(|e| e.into_inner())`.
//!
//! It also carries the two primitives loom has no notion of:
//!
//! - **Asymmetric fences** (`light_fence` on the mutator side, `heavy_fence` on the
//!   collector side). A mutator step "write X, then read FLAG" against the collector's
//!   "write FLAG, then read X" needs a total order. Mutators pay only a compiler fence; the
//!   collector calls Linux `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, which runs a full
//!   barrier on every thread of the process. Where membarrier is unavailable both sides use a
//!   `SeqCst` fence. Under loom both are `SeqCst` fences.
//! - **Parking by address** (`park`/`unpark_all`) for the `GcCell` lock, on
//!   `parking_lot_core`; under loom a queue of loom threads that really block, so a lost
//!   wake-up is a deadlock the model finds (`park_timeout` yields instead: loom has no
//!   time).
//!
//! And the thread facts the runtime's own threads need: the core count (read once) and the
//! mark workers' scheduling priorities (no-ops under loom).

#[cfg(not(gc_loom))]
pub(crate) use std::sync::{
    atomic::{
        AtomicBool, AtomicI64, AtomicPtr, AtomicU16, AtomicU32, AtomicU64, AtomicU8, AtomicUsize,
    },
    Arc, MutexGuard,
};
#[cfg(not(gc_loom))]
use std::sync::{Condvar as RawCondvar, Mutex as RawMutex};
#[cfg(not(gc_loom))]
pub(crate) use std::{thread, thread_local};

#[cfg(gc_loom)]
pub(crate) use loom::sync::{
    atomic::{
        AtomicBool, AtomicI64, AtomicPtr, AtomicU16, AtomicU32, AtomicU64, AtomicU8, AtomicUsize,
    },
    Arc, MutexGuard,
};
#[cfg(gc_loom)]
use loom::sync::{Condvar as RawCondvar, Mutex as RawMutex};

/// A mutex that ignores poisoning. The runtime never leaves shared state half-updated
/// across a panic (user code runs outside its locks), so a lock poisoned by a panicking
/// thread holds consistent data, and a runtime that refused it would stop working for good.
pub(crate) struct Mutex<T: ?Sized>(RawMutex<T>);

impl<T> Mutex<T> {
    const_fn! {
        pub(crate) fn new(value: T) -> Mutex<T> {
            Mutex(RawMutex::new(value))
        }
    }
}

impl<T: ?Sized> Mutex<T> {
    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// [`lock`](Self::lock) for a lock held for microseconds at a time by threads that do
    /// not sleep while holding it (the heap's page lock, the central span lists, the spare
    /// span blocks): a taker that finds it held tries again for up to `SPIN_FOR` (pause
    /// instructions, then yields, which let a preempted holder on the same CPU finish)
    /// before it sleeps. A sleep costs the sleeper a wake-up (about 1 ms when the
    /// CPU it left went idle on a virtualised machine) that such a wait never needed, and
    /// the holder may take the lock again before the sleeper runs. Bounded by time, so a
    /// holder that stays (preempted, or waiting for memory) only makes it sleep later.
    #[inline]
    pub(crate) fn lock_spinning(&self) -> MutexGuard<'_, T> {
        #[cfg(not(gc_loom))]
        if let Some(g) = self.try_lock().or_else(|| self.spin_for_lock()) {
            return g;
        }
        self.lock()
    }

    /// The lock if it is free, ignoring poisoning.
    #[cfg(not(gc_loom))]
    #[inline]
    fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        match self.0.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// The retries of [`lock_spinning`](Self::lock_spinning): `None` after `SPIN_FOR`.
    #[cfg(not(gc_loom))]
    #[cold]
    fn spin_for_lock(&self) -> Option<MutexGuard<'_, T>> {
        let start = std::time::Instant::now();
        let mut backoff = Backoff::default();
        loop {
            if !backoff.spin() {
                std::thread::yield_now();
            }
            if let Some(g) = self.try_lock() {
                return Some(g);
            }
            if start.elapsed() >= SPIN_FOR {
                return None;
            }
        }
    }
}

/// How long [`Mutex::lock_spinning`] retries before it sleeps.
#[cfg(not(gc_loom))]
const SPIN_FOR: std::time::Duration = std::time::Duration::from_micros(100);

/// A condition variable for [`Mutex`], ignoring poisoning like it.
pub(crate) struct Condvar(RawCondvar);

impl Condvar {
    const_fn! {
        pub(crate) fn new() -> Condvar {
            Condvar(RawCondvar::new())
        }
    }

    pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.0.wait(guard).unwrap_or_else(|e| e.into_inner())
    }

    /// Waits at most `timeout`; returns the guard (whether it timed out is not needed).
    pub(crate) fn wait_timeout<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: std::time::Duration,
    ) -> MutexGuard<'a, T> {
        match self.0.wait_timeout(guard, timeout) {
            Ok((g, _)) => g,
            Err(e) => e.into_inner().0,
        }
    }

    pub(crate) fn notify_one(&self) {
        self.0.notify_one();
    }

    pub(crate) fn notify_all(&self) {
        self.0.notify_all();
    }
}

/// Under loom: loom's `thread_local!` (per model thread, dropped when it ends), accepting
/// std's `const { .. }` initialiser form.
#[cfg(gc_loom)]
macro_rules! loom_thread_local {
    () => {};
    ($(#[$m:meta])* $vis:vis static $name:ident: $t:ty = const { $init:expr }; $($rest:tt)*) => {
        loom::thread_local!($(#[$m])* $vis static $name: $t = $init;);
        crate::sync::thread_local!($($rest)*);
    };
    ($(#[$m:meta])* $vis:vis static $name:ident: $t:ty = $init:expr; $($rest:tt)*) => {
        loom::thread_local!($(#[$m])* $vis static $name: $t = $init;);
        crate::sync::thread_local!($($rest)*);
    };
}
#[cfg(gc_loom)]
pub(crate) use loom_thread_local as thread_local;

/// Threads: std's, except that under loom yielding is loom's (a spin loop in a model must
/// let the other model threads run). The runtime's own threads stay std (module header).
#[cfg(gc_loom)]
pub(crate) mod thread {
    pub(crate) use loom::thread::yield_now;
    pub(crate) use std::thread::*;
}

/// A lock loom does not see, for model scaffolding only (the arena index under loom,
/// `alloc/arena_loom.rs`): it adds no interleavings to explore.
#[cfg(gc_loom)]
pub(crate) use std::sync::Mutex as UntrackedMutex;

/// Counters and a thread-local index for the global allocator (`CountingAllocator`,
/// `alloc/external.rs`): it runs for every allocation of the process, inside and outside
/// loom models, so it must use std's primitives in both builds. Nothing loom models reads
/// them.
pub(crate) mod untracked {
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize};

    std::thread_local! {
        /// This thread's turn for shards, plus one (0: not taken yet). Const-initialised
        /// without a destructor: reading it never allocates, so the global allocator may.
        static SHARD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
        /// Whether this thread is dropping objects the collector found dead (same kind of
        /// thread-local as `SHARD`).
        static DROPPING_GARBAGE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        /// Whether frees on this thread are queued for mutators (`alloc/remote_free.rs`;
        /// same kind of thread-local as `SHARD`).
        static DEFER_FREES: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        /// This thread's current batch of queued frees (null: none), owned by
        /// `alloc/remote_free.rs` (same kind of thread-local as `SHARD`).
        static FREE_BATCH: std::cell::Cell<*mut u8> = const { std::cell::Cell::new(std::ptr::null_mut()) };
    }

    /// Marks this thread as one whose frees are queued for mutators (for good).
    pub(crate) fn set_defer_frees(on: bool) {
        let _ = DEFER_FREES.try_with(|d| d.set(on));
    }

    /// Whether this thread's frees are queued for mutators.
    #[inline]
    pub(crate) fn defer_frees() -> bool {
        DEFER_FREES.try_with(|d| d.get()).unwrap_or(false)
    }

    /// This thread's current batch of queued frees (null: none).
    #[inline]
    pub(crate) fn free_batch() -> *mut u8 {
        FREE_BATCH
            .try_with(|b| b.get())
            .unwrap_or(std::ptr::null_mut())
    }

    /// Sets this thread's current batch of queued frees.
    #[inline]
    pub(crate) fn set_free_batch(batch: *mut u8) {
        let _ = FREE_BATCH.try_with(|b| b.set(batch));
    }

    /// Runs `f` with [`dropping_garbage`] true on this thread (restored afterwards, also
    /// when `f` unwinds).
    pub(crate) fn while_dropping_garbage<R>(f: impl FnOnce() -> R) -> R {
        struct Restore(bool);
        impl Drop for Restore {
            fn drop(&mut self) {
                let _ = DROPPING_GARBAGE.try_with(|d| d.set(self.0));
            }
        }
        let old = DROPPING_GARBAGE
            .try_with(|d| d.replace(true))
            .unwrap_or(false);
        let _restore = Restore(old);
        f()
    }

    /// Whether this thread is inside [`while_dropping_garbage`].
    #[inline]
    pub(crate) fn dropping_garbage() -> bool {
        DROPPING_GARBAGE.try_with(|d| d.get()).unwrap_or(false)
    }

    /// Threads' turns: the next thread to ask for a shard takes this one.
    static TURN: AtomicUsize = AtomicUsize::new(0);
    /// Turns wrap here, a power of two, so that `turn % n` stays spread for every
    /// power-of-two `n` (and the counter never overflows).
    const TURNS: usize = 1 << 16;

    /// A shard index below `n` for the calling thread, the same on every call with the
    /// same `n` (every thread takes a turn once; its shard of `n` is its turn modulo `n`,
    /// so tables of different sizes can share the thread's turn).
    #[inline]
    pub(crate) fn shard(n: usize) -> usize {
        SHARD
            .try_with(|s| {
                let mut i = s.get();
                if i == 0 {
                    let relaxed = std::sync::atomic::Ordering::Relaxed;
                    let turn = TURN.fetch_update(relaxed, relaxed, |t| Some((t + 1) % TURNS));
                    i = turn.unwrap_or(0) + 1;
                    s.set(i);
                }
                (i - 1) % n
            })
            .unwrap_or(0)
    }
}

#[cfg(not(gc_loom))]
pub(crate) use std::sync::Once;
/// One-time initialisation: std's. `OnceLock` holds only plain data (the environment), so
/// it may outlive a loom execution; `Once` and `LazyLock` guard loom objects under loom and
/// are re-created per execution there (see [`Once`] below and [`global!`]).
pub(crate) use std::sync::{LazyLock, OnceLock};

/// Under loom: `Once` as a loom mutex around a flag, so a model explores the threads that
/// race to initialise and every execution starts uninitialised (declare it in a
/// [`global!`]).
#[cfg(gc_loom)]
pub(crate) struct Once(Mutex<bool>);

#[cfg(gc_loom)]
impl Once {
    pub(crate) fn new() -> Once {
        Once(Mutex::new(false))
    }

    pub(crate) fn call_once(&self, f: impl FnOnce()) {
        let mut done = self.0.lock();
        if !*done {
            f();
            *done = true;
        }
    }
}

/// Declares a global: a const-initialised `static` normally, a `loom::lazy_static` (fresh
/// for every model execution) under loom. Use sites are the same: both deref to the value.
/// A `LazyLock<T>` global becomes a lazy `T` under loom.
#[cfg(not(gc_loom))]
macro_rules! global {
    ($(#[$m:meta])* $(pub($($vis:tt)+))? static $name:ident: $t:ty = $init:expr;) => {
        $(#[$m])* $(pub($($vis)+))? static $name: $t = $init;
    };
}
#[cfg(gc_loom)]
macro_rules! global {
    ($(#[$m:meta])* $(pub($($vis:tt)+))? static $name:ident: LazyLock<$t:ty> = LazyLock::new($init:expr);) => {
        loom::lazy_static! { $(#[$m])* $(pub($($vis)+))? static ref $name: $t = ($init)(); }
    };
    ($(#[$m:meta])* $(pub($($vis:tt)+))? static $name:ident: $t:ty = $init:expr;) => {
        loom::lazy_static! { $(#[$m])* $(pub($($vis)+))? static ref $name: $t = $init; }
    };
}
pub(crate) use global;

/// A `const fn` normally, a plain `fn` under loom (whose atomics and locks have no `const`
/// constructors). For the constructors of types that live in [`global!`]s.
#[cfg(not(gc_loom))]
macro_rules! const_fn {
    ($(#[$m:meta])* $vis:vis fn $($rest:tt)*) => { $(#[$m])* $vis const fn $($rest)* };
}
#[cfg(gc_loom)]
macro_rules! const_fn {
    ($(#[$m:meta])* $vis:vis fn $($rest:tt)*) => { $(#[$m])* $vis fn $($rest)* };
}
pub(crate) use const_fn;

/// `[expr; N]` for a non-`Copy` `expr` (an atomic, a lock) that works in const contexts
/// normally and with loom's non-const constructors under loom.
#[cfg(not(gc_loom))]
macro_rules! array {
    ($e:expr; $n:expr) => {
        [const { $e }; $n]
    };
}
#[cfg(gc_loom)]
macro_rules! array {
    ($e:expr; $n:expr) => {
        std::array::from_fn(|_| $e)
    };
}
pub(crate) use array;

pub(crate) use std::sync::atomic::Ordering;

/// `UnsafeCell` with loom's closure API, so call sites are the same in both builds.
#[derive(Debug)]
pub(crate) struct UnsafeCell<T: ?Sized>(
    #[cfg(not(gc_loom))] std::cell::UnsafeCell<T>,
    #[cfg(gc_loom)] loom::cell::UnsafeCell<T>,
);

impl<T> UnsafeCell<T> {
    pub(crate) fn new(v: T) -> Self {
        #[cfg(not(gc_loom))]
        return UnsafeCell(std::cell::UnsafeCell::new(v));
        #[cfg(gc_loom)]
        return UnsafeCell(loom::cell::UnsafeCell::new(v));
    }

    pub(crate) fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

impl<T: ?Sized> UnsafeCell<T> {
    /// Runs `f` with a shared raw pointer to the contents.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        #[cfg(not(gc_loom))]
        return f(self.0.get());
        #[cfg(gc_loom)]
        return self.0.with(f);
    }

    /// Runs `f` with a mutable raw pointer to the contents.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        #[cfg(not(gc_loom))]
        return f(self.0.get());
        #[cfg(gc_loom)]
        return self.0.with_mut(f);
    }

    /// Exclusive access through `&mut self` (no synchronisation needed).
    #[inline(always)]
    pub(crate) fn get_mut(&mut self) -> &mut T {
        #[cfg(not(gc_loom))]
        return self.0.get_mut();
        #[cfg(gc_loom)]
        // SAFETY: `&mut self` proves no other access exists.
        return self.0.with_mut(|p| unsafe { &mut *p });
    }
}

// ---------------------------------------------------------------------------------------
// Asymmetric fences.

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

/// Which of `buckets` (a power of two, at least 2) `key` falls in, by Fibonacci hashing (its
/// top bits after a multiplication): neighbouring keys, such as the addresses of adjacent
/// objects, land in different buckets. For the tables that spread contended state over
/// shards or cache entries by address.
#[inline(always)]
pub(crate) fn bucket_of(key: usize, buckets: usize) -> usize {
    debug_assert!(buckets.is_power_of_two() && buckets > 1);
    ((key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - buckets.trailing_zeros())) as usize
}

/// Asks the CPU to start loading the cache line at `addr` (a hint: no fault, no effect on
/// the program's meaning, even for an address that is not mapped). The marker issues it a
/// few objects ahead of scanning them. Nothing on other architectures and under loom.
#[inline(always)]
pub(crate) fn prefetch_read(addr: usize) {
    #[cfg(all(target_arch = "x86_64", not(gc_loom)))]
    // SAFETY: `prefetcht0` reads nothing architecturally and cannot fault, whatever the
    // address (Intel SDM, PREFETCHh); SSE is baseline on x86-64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(addr as *const i8)
    };
    #[cfg(not(all(target_arch = "x86_64", not(gc_loom))))]
    let _ = addr;
}

// ---------------------------------------------------------------------------------------
// Parking by address.

/// Parks the current thread on `key` if `still_blocked()` returns true once the park queue
/// is locked (so a wake-up between the check and the sleep is never lost). Under loom the
/// thread really blocks until an [`unpark_all`] on `key`, so a lost wake-up is a deadlock
/// the model reports.
pub(crate) fn park(key: usize, still_blocked: impl Fn() -> bool) {
    #[cfg(not(gc_loom))]
    park_until(key, still_blocked, None);
    #[cfg(gc_loom)]
    loom_park::park(key, still_blocked);
}

/// Loom's park queue: the threads parked by [`park`], by key.
#[cfg(gc_loom)]
mod loom_park {
    use loom::sync::Mutex;
    use loom::thread::{self, Thread};

    loom::lazy_static! {
        static ref QUEUE: Mutex<Vec<(usize, Thread)>> = Mutex::new(Vec::new());
    }

    pub(super) fn park(key: usize, still_blocked: impl Fn() -> bool) {
        {
            let mut q = QUEUE.lock().unwrap();
            if !still_blocked() {
                return;
            }
            q.push((key, thread::current()));
        }
        // An unpark between the unlock above and this call is kept as a token (as std's).
        thread::park();
    }

    pub(super) fn unpark_all(key: usize) {
        QUEUE.lock().unwrap().retain(|(k, t)| {
            if *k == key {
                t.unpark();
            }
            *k != key
        });
    }
}

/// As [`park`], but wakes after `timeout` at the latest.
pub(crate) fn park_timeout(
    key: usize,
    still_blocked: impl Fn() -> bool,
    timeout: std::time::Duration,
) {
    park_until(
        key,
        still_blocked,
        std::time::Instant::now().checked_add(timeout),
    );
}

fn park_until(key: usize, still_blocked: impl Fn() -> bool, deadline: Option<std::time::Instant>) {
    #[cfg(not(gc_loom))]
    // SAFETY: `still_blocked` neither panics into parking_lot_core nor parks recursively;
    // the other callbacks are no-ops. `key` is an address the caller owns (a lock word, a
    // static), a unique key while it exists.
    unsafe {
        parking_lot_core::park(
            key,
            still_blocked,
            || {},
            |_, _| {},
            parking_lot_core::DEFAULT_PARK_TOKEN,
            deadline,
        );
    }
    #[cfg(gc_loom)]
    {
        let _ = (key, still_blocked, deadline);
        loom::thread::yield_now();
    }
}

/// Wakes every thread parked on `key`.
pub(crate) fn unpark_all(key: usize) {
    #[cfg(not(gc_loom))]
    // SAFETY: `key` is a plain address used as a queue key; no callbacks.
    unsafe {
        parking_lot_core::unpark_all(key, parking_lot_core::DEFAULT_UNPARK_TOKEN);
    }
    #[cfg(gc_loom)]
    loom_park::unpark_all(key);
}

/// Spin-wait helper: a few pause instructions, then yields to the scheduler.
#[derive(Default)]
pub(crate) struct Backoff(u32);

impl Backoff {
    /// Waits a little: pause instructions (doubling) for the first rounds, then yields,
    /// then 50 us sleeps.
    pub(crate) fn snooze(&mut self) {
        if !self.spin() {
            #[cfg(not(gc_loom))]
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
    }

    /// The waits of [`snooze`](Self::snooze) that keep the thread runnable: pause
    /// instructions, then yields. Returns false, having waited not at all, once those
    /// rounds are used up (the caller then sleeps or parks in its own way).
    pub(crate) fn spin(&mut self) -> bool {
        let round = self.0;
        self.0 = self.0.saturating_add(1);
        #[cfg(not(gc_loom))]
        {
            if round < 6 {
                for _ in 0..(1 << round) {
                    std::hint::spin_loop();
                }
            } else if round < 12 {
                std::thread::yield_now();
            } else {
                return false;
            }
        }
        #[cfg(gc_loom)]
        {
            let _ = round;
            loom::thread::yield_now();
        }
        true
    }
}

/// Keeps a hot, mostly-read global on a cache line of its own (128 bytes: the prefetcher
/// pairs 64-byte lines), so writes to its neighbours do not slow every reader down.
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
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

#[cfg(all(test, not(gc_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_thread_s_shard_fits_every_table_whichever_it_asked_for_first() {
        // Tables of 32, 8 and 4 shards share the thread's turn: a thread that first asked
        // for one of 32 used to keep that index for the table of 8 too (out of bounds from
        // the ninth thread on). Forty threads ask for 32 first, then for the others.
        let threads: Vec<_> = (0..40)
            .map(|_| {
                std::thread::spawn(|| {
                    let wide = untracked::shard(32);
                    (
                        wide,
                        untracked::shard(8),
                        untracked::shard(4),
                        untracked::shard(32),
                    )
                })
            })
            .collect();
        let mut seen = std::collections::HashSet::new();
        for t in threads {
            let (wide, eight, four, again) = t.join().unwrap();
            assert!(wide < 32 && eight < 8 && four < 4);
            assert_eq!((eight, four, again), (wide % 8, wide % 4, wide));
            seen.insert(wide);
        }
        assert!(seen.len() > 8, "threads spread over the shards: {seen:?}");
    }

    #[test]
    fn lock_spinning_excludes_and_waits_out_a_holder() {
        // Four threads add under the lock, each holding it across a read and a write: a
        // lost update would show in the total.
        let m = Arc::new(Mutex::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        let mut g = m.lock_spinning();
                        let v = *g;
                        std::hint::black_box(&mut *g);
                        *g = v + 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*m.lock(), 80_000);
    }

    #[test]
    fn lock_spinning_takes_a_poisoned_lock() {
        let m = Arc::new(Mutex::new(1));
        let m2 = Arc::clone(&m);
        let r = std::thread::spawn(move || {
            let _g = m2.lock();
            panic!("poisons the lock (on purpose)");
        })
        .join();
        assert!(r.is_err());
        assert_eq!(*m.lock_spinning(), 1);
    }
}
