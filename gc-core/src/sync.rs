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
//!   collector side; `sync/fence.rs`). A mutator step "write X, then read FLAG" against the
//!   collector's "write FLAG, then read X" needs a total order. Mutators pay only a
//!   compiler fence; the collector calls Linux `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`,
//!   which runs a full barrier on every thread of the process. Where membarrier is
//!   unavailable both sides use a `SeqCst` fence. Under loom both are `SeqCst` fences.
//! - **Parking by address** (`park`/`unpark_all`, `sync/park.rs`) for the `GcCell` lock, on
//!   `parking_lot_core`; under loom a queue of loom threads that really block, so a lost
//!   wake-up is a deadlock the model finds (`park_timeout` yields instead: loom has no
//!   time).
//!
//! And the thread facts the runtime's own threads need (`sync/os_thread.rs`): the core
//! count (read once) and the mark workers' scheduling priorities (no-ops under loom).

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
    /// One more than the highest turn taken, `TURNS` once the turns have wrapped: every
    /// thread's shard of `n` is below `min(n, SEEN)` (`shards_in_use`).
    static SEEN: AtomicUsize = AtomicUsize::new(0);

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
                    // Relaxed, like the shards it bounds: a reader that sums them a moment
                    // before this store lands misses a count it would have raced with anyway.
                    SEEN.fetch_max(i, relaxed);
                    s.set(i);
                }
                (i - 1) % n
            })
            .unwrap_or(0)
    }

    /// How many of `n` shards any thread has used so far (`shard(n)` is below it; at least
    /// one, since a thread whose locals are gone uses shard 0 without a turn): a reader
    /// that sums a table of `n` shards can stop there. A program with a few threads reads
    /// a few cache lines instead of `n`.
    #[inline]
    pub(crate) fn shards_in_use(n: usize) -> usize {
        SEEN.load(std::sync::atomic::Ordering::Relaxed).clamp(1, n)
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

mod fence;
mod os_thread;
mod park;
pub(crate) use fence::{heavy_fence, init_fences, light_fence, seqcst_order};
pub(crate) use os_thread::{
    available_cores, can_raise_priority, idle_thread_priority, lower_thread_priority,
    normal_thread_priority, os_thread_id,
};
pub(crate) use park::{park, park_timeout, unpark_all, Backoff};

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
    fn the_shards_in_use_cover_every_thread_s_shard() {
        // A reader sums only `shards_in_use(n)` shards: each thread's shard must be below
        // it, seen from that thread and from the one that joins it, for tables of 32 (the
        // external counts) and 4, while the count stays within the table.
        let threads: Vec<_> = (0..40)
            .map(|_| {
                std::thread::spawn(|| {
                    let (wide, narrow) = (untracked::shard(32), untracked::shard(4));
                    assert!(wide < untracked::shards_in_use(32));
                    assert!(narrow < untracked::shards_in_use(4));
                    wide
                })
            })
            .collect();
        for t in threads {
            let wide = t.join().unwrap();
            assert!(wide < untracked::shards_in_use(32));
        }
        assert_eq!(untracked::shards_in_use(4), 4);
        assert!((1..=32).contains(&untracked::shards_in_use(32)));
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
