//! Mutator threads and the "stop GC operations" handshake.
//!
//! Every thread that allocates gets a `ThreadState` (its cache, its root cache and its
//! `in_op` word) in the global registry. A *GC operation* is a short, non-blocking stretch
//! of runtime code that touches a cache or span state: an allocation, a sweep. `with_op`
//! (or, without a closure, the `OpScope` guard) runs one and lends the code inside an
//! [`Op`], the token without which no cache can be reached (the stopped collector's
//! `Stopped` is the other way in). The collector never waits for a thread
//! outside an operation (invariant I4), however long that thread sleeps in user code.
//!
//! Protocol (an asymmetric Dekker pair, see `crate::sync::light_fence`):
//!
//! - mutator enter: `in_op = 1`; light fence; if `STOP` is set, `in_op = 0` and wait for the
//!   world to resume (spinning up to 50 us, then on the resume condvar), then retry. Exit:
//!   `in_op = 0` (release).
//! - collector stop: `STOP = 1`; wake the mark assists parked inside their operations
//!   (`assist.rs`), which then leave them; heavy fence (membarrier); wait until every
//!   registered thread's `in_op` is 0. From then until resume no thread can enter an
//!   operation, so the collector may touch every cache and span. Every stop first applies
//!   every thread's pending root counts (`root_cache.rs`).
//! - root operations (`with_root_cache`): like enter, but a thread that finds `STOP` set
//!   backs out at once and counts on the counter instead; they never wait.
//!
//! The registry mutex is held from stop to resume, so threads neither register nor leave
//! while the world is stopped. A thread's exit (TLS destructor) flushes its cache. A thread
//! whose TLS is already gone shares a fallback state under a mutex; `FALLBACK_OWNER` (the
//! holder's OS thread id) lets the holder nest operations (a large allocation sweeps) on
//! the state it already holds instead of locking the mutex again. See the collector
//! overview
//! (`crate::design::collector`).

use super::root_cache::RootCache;
use crate::alloc::cache::MCache;
#[cfg_attr(gc_loom, allow(unused_imports))] // `global!` drops the `LazyLock` under loom
use crate::sync::LazyLock;
use crate::sync::{
    heavy_fence, light_fence, os_thread_id, Arc, AtomicBool, AtomicU32, AtomicU64, Backoff,
    Condvar, Mutex, MutexGuard, Ordering, Padded, UnsafeCell,
};
use std::cell::{Cell, RefCell};

/// One mutator thread's runtime state. In declaration order (`repr(C)`): the allocation
/// fast path reads the cache's first fields and the root cache's tables at small offsets
/// from the state's address (when the compiler chose the order, growing the root cache
/// moved them and added an instruction to every `Gc::new`).
#[repr(C)]
pub(crate) struct ThreadState {
    /// The allocation cache: owner inside an operation, or the collector while stopped.
    mcache: UnsafeCell<MCache>,
    /// Pending root counts (`root_cache.rs`): owner inside an operation, or the collector
    /// while stopped, like `mcache`.
    roots: UnsafeCell<RootCache>,
    /// 1 while the owner is inside a GC operation (module header).
    in_op: AtomicU32,
    /// Nesting depth of operations (a `Drop` run by a sweep may allocate). Owner only.
    depth: UnsafeCell<u32>,
}

// SAFETY: `depth` and `mcache` are accessed only under the protocol in the module header:
// by the owner inside an operation, or by the collector while every owner is kept out.
unsafe impl Sync for ThreadState {}
// SAFETY: as above.
unsafe impl Send for ThreadState {}

impl ThreadState {
    fn new() -> ThreadState {
        ThreadState {
            in_op: AtomicU32::new(0),
            depth: UnsafeCell::new(0),
            mcache: UnsafeCell::new(MCache::new()),
            roots: UnsafeCell::new(RootCache::new()),
        }
    }

    /// Applies the thread's pending root counts.
    ///
    /// # Safety
    ///
    /// The caller is the owner inside an operation, or the collector while stopped (the
    /// module header's protocol), so no one else touches the root cache.
    unsafe fn drain_roots(&self) {
        // SAFETY: per the caller's contract.
        self.roots.with_mut(|rc| unsafe { (*rc).drain() });
    }

    #[inline(always)]
    fn mcache(&self) -> *mut MCache {
        self.mcache.with_mut(|p| p)
    }

    /// The operation token; called only between `enter` and `exit`, by the owner.
    #[inline(always)]
    fn op(&self) -> Op<'_> {
        Op {
            mc: self.mcache(),
            _scope: std::marker::PhantomData,
        }
    }

    #[inline(always)]
    fn enter(&self) {
        // SAFETY: `depth` is owner-only.
        let d = self.depth.with_mut(|d| unsafe { *d });
        if d > 0 {
            // SAFETY: owner-only.
            self.depth.with_mut(|p| unsafe { *p = d + 1 });
            return;
        }
        if !self.try_enter() {
            self.enter_after_stop();
        }
    }

    /// Announces the operation; false (and nothing announced) if the collector is
    /// stopping operations.
    #[inline(always)]
    fn try_enter(&self) -> bool {
        self.in_op.store(1, Ordering::Relaxed);
        light_fence();
        // Acquire pairs with the Release store in `Stopped::drop` (resume): we see what
        // the collector did to our cache while we were kept out.
        if !STOP.load(Ordering::Acquire) {
            // SAFETY: owner-only.
            self.depth.with_mut(|p| unsafe { *p = 1 });
            return true;
        }
        // Release pairs with the Acquire load of `in_op` in `stop`: the collector may read
        // this 0 instead of our last `exit`'s, so it must publish the earlier operations'
        // writes to our cache again.
        self.in_op.store(0, Ordering::Release);
        false
    }

    /// `enter` while operations are stopped: waits for the resume, then tries again. Out
    /// of line, so that every allocation's entry stays a few instructions.
    #[cold]
    #[inline(never)]
    fn enter_after_stop(&self) {
        loop {
            let t0 = super::stalls::start();
            wait_until_resumed();
            super::stalls::end(t0, super::stalls::Cause::Enter, None);
            if self.try_enter() {
                return;
            }
        }
    }

    /// Leaves an operation; returns whether an allocation asked for a collection.
    #[inline(always)]
    fn exit(&self) -> bool {
        // SAFETY: owner-only.
        let d = self.depth.with_mut(|p| unsafe {
            *p -= 1;
            *p
        });
        if d > 0 {
            return false;
        }
        // SAFETY: still inside the operation until the store below.
        let want = unsafe { std::mem::take(&mut (*self.mcache()).gc_wanted) };
        // Release pairs with the Acquire load of `in_op` in `stop`: the collector sees
        // everything this operation did to our cache and spans.
        self.in_op.store(0, Ordering::Release);
        want
    }
}

crate::sync::global! {
    /// Set while the collector keeps threads out of GC operations.
    static STOP: Padded<AtomicBool> = Padded(AtomicBool::new(false));
}
crate::sync::global! {
    static RESUMED: Mutex<()> = Mutex::new(());
}
crate::sync::global! {
    static RESUME_CV: Condvar = Condvar::new();
}
crate::sync::global! {
    static REGISTRY: Mutex<Vec<Arc<ThreadState>>> = Mutex::new(Vec::new());
}
/// The state shared by threads whose thread-locals are already destroyed.
struct Fallback {
    /// Taken for each operation on `state`; says whether `state` is registered yet.
    turn: Mutex<bool>,
    state: Arc<ThreadState>,
}

crate::sync::global! {
    static FALLBACK: LazyLock<Fallback> = LazyLock::new(|| Fallback {
        turn: Mutex::new(false),
        state: Arc::new(ThreadState::new()),
    });
}
crate::sync::global! {
    /// OS thread id of the thread holding `FALLBACK` inside an operation, or 0.
    static FALLBACK_OWNER: AtomicU64 = AtomicU64::new(0);
}

crate::sync::thread_local! {
    static CURRENT: Cell<*const ThreadState> = const { Cell::new(std::ptr::null()) };
    static EXIT: ExitGuard = const { ExitGuard(RefCell::new(None)) };
}

/// Flushes and unregisters the thread's state when the thread exits.
struct ExitGuard(RefCell<Option<Arc<ThreadState>>>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let Some(ts) = self.0.borrow_mut().take() else {
            return;
        };
        ts.enter();
        // SAFETY: we own the cache and are inside an operation.
        unsafe { (*ts.mcache()).flush() };
        // SAFETY: as above.
        unsafe { ts.drain_roots() };
        ts.exit();
        let _ = CURRENT.try_with(|c| c.set(std::ptr::null()));
        lock(&REGISTRY).retain(|t| !Arc::ptr_eq(t, &ts));
    }
}

fn lock<T>(m: &'static Mutex<T>) -> MutexGuard<'static, T> {
    m.lock()
}

fn wait_until_resumed() {
    // Most stops last tens of microseconds, less than a sleep and a wake-up cost: with a
    // spare processor for the collector, spin through the first `SPIN` of the wait.
    #[cfg(not(gc_loom))]
    if super::config().gomaxprocs > 1 {
        const SPIN: std::time::Duration = std::time::Duration::from_micros(50);
        let t0 = std::time::Instant::now();
        while STOP.load(Ordering::Relaxed) {
            if t0.elapsed() >= SPIN {
                break;
            }
            for _ in 0..16 {
                std::hint::spin_loop();
            }
        }
    }
    let mut g = lock(&RESUMED);
    // Acquire pairs with the Release store in `Stopped::drop`, but only ends the wait:
    // `enter` loads `STOP` with Acquire again before it touches the cache, and `RESUMED`
    // keeps the wake-up from being lost. Relaxed would do.
    while STOP.load(Ordering::Acquire) {
        g = RESUME_CV.wait(g);
    }
}

#[cold]
fn register_current() -> *const ThreadState {
    super::init();
    let ts = Arc::new(ThreadState::new());
    let p = Arc::as_ptr(&ts);
    let registered = EXIT
        .try_with(|g| *g.0.borrow_mut() = Some(ts.clone()))
        .is_ok();
    if !registered {
        return std::ptr::null();
    }
    lock(&REGISTRY).push(ts);
    let _ = CURRENT.try_with(|c| c.set(p));
    p
}

/// A GC operation in progress on the calling thread: the capability to touch its cache and
/// span state. Only [`with_op`] makes one, and it cannot leave the closure it is lent to
/// (the lifetime), nor the thread (`!Send`).
///
/// Operations nest (a large allocation sweeps through `with_op`; a `Trace` impl that an
/// assist runs may allocate), and a nested `Op` reaches the same cache, so a borrow taken
/// with [`Op::cache`] must end before anything that may enter an operation: keep it to
/// one call of the allocator (whose methods never enter one, `crate::alloc::cache`).
pub(crate) struct Op<'a> {
    mc: *mut MCache,
    _scope: std::marker::PhantomData<&'a mut MCache>,
}

impl Op<'_> {
    /// The calling thread's allocation cache.
    #[inline(always)]
    pub(crate) fn cache(&mut self) -> &mut MCache {
        // A refill holds the cache; nothing it runs may reach it again (the header of
        // `crate::alloc::cache`). SAFETY: a read of this thread's own cache, as below.
        #[cfg(debug_assertions)]
        assert!(
            !unsafe { (*self.mc).refilling },
            "a GC operation re-entered this thread's cache during a refill"
        );
        // SAFETY: the thread is inside a GC operation on its own state (how `Op`s are
        // made), so no one else touches the cache; `&mut self` keeps this `Op`'s borrows
        // apart, and nested operations do not overlap them (type header).
        unsafe { &mut *self.mc }
    }

    /// Asks for a collection when the operation ends (an allocation crossed the trigger).
    #[inline]
    pub(crate) fn want_gc(&mut self) {
        self.cache().gc_wanted = true;
    }
}

/// Runs `f` inside a GC operation, lending it the [`Op`], then starts a collection if an
/// allocation inside asked for one.
#[inline(always)]
pub(crate) fn with_op<R>(f: impl FnOnce(&mut Op<'_>) -> R) -> R {
    match OpScope::enter() {
        Some(scope) => {
            let r = f(&mut scope.op());
            scope.finish();
            r
        }
        None => with_fallback(f),
    }
}

/// A GC operation on the calling thread's registered state, as a guard: what `with_op`
/// does, for a caller that should not hand its data to a closure (`Gc::new`: a closure
/// capturing the new value copied it to the stack, and the copy's reload stalled on store
/// forwarding). Leaving by unwinding (its `Drop`) only exits the operation. `!Send` (a raw
/// pointer): the state is its thread's.
pub(crate) struct OpScope(*const ThreadState);

impl OpScope {
    /// Enters an operation (waiting while the collector stops operations), or `None` on a
    /// thread whose state cannot be registered (its thread-locals are gone): use `with_op`,
    /// which falls back to the shared state, there.
    #[inline(always)]
    pub(crate) fn enter() -> Option<OpScope> {
        let mut ts = CURRENT.try_with(|c| c.get()).unwrap_or(std::ptr::null());
        if ts.is_null() {
            ts = register_current();
            if ts.is_null() {
                return None;
            }
        }
        Some(OpScope::entering(ts))
    }

    /// Enters an operation on `ts`: the calling thread's registered state, or the fallback
    /// state it holds.
    #[inline(always)]
    fn entering(ts: *const ThreadState) -> OpScope {
        let scope = OpScope(ts);
        scope.state().enter();
        scope
    }

    #[inline(always)]
    fn state(&self) -> &ThreadState {
        // SAFETY: a registered state stays registered (and alive, via the registry and the
        // exit guard) until its thread's exit guard runs, which cannot happen while a scope
        // of this thread is alive (it is `!Send`, and lives in a frame of the thread); the
        // fallback state lives for the whole process.
        unsafe { &*self.0 }
    }

    /// The operation token.
    #[inline(always)]
    pub(crate) fn op(&self) -> Op<'_> {
        self.state().op()
    }

    /// Leaves the operation; returns whether an allocation inside asked for a collection.
    #[inline(always)]
    fn leave(self) -> bool {
        let want = self.state().exit();
        std::mem::forget(self);
        want
    }

    /// Leaves the operation, then starts a collection if an allocation inside asked for one.
    #[inline(always)]
    pub(crate) fn finish(self) {
        if self.leave() {
            super::cycle::triggered();
        }
    }
}

impl Drop for OpScope {
    /// Unwinding out of the operation: leave it, so the collector is not left waiting for a
    /// thread that will never come back (no collection is started from a panic).
    fn drop(&mut self) {
        self.state().exit();
    }
}

/// Runs `f` on the calling thread's root cache inside a GC operation, or returns `None`
/// without running it if the thread has no registered state (it never allocated, or its
/// thread-locals are gone) or the collector is stopping operations: never waits. `f` must
/// not enter an operation, nor run user code.
#[inline(always)]
pub(crate) fn with_root_cache<R>(f: impl FnOnce(&mut RootCache) -> R) -> Option<R> {
    let ts = CURRENT.try_with(|c| c.get()).unwrap_or(std::ptr::null());
    if ts.is_null() {
        return None;
    }
    // SAFETY: the state stays registered (and alive) until this thread's exit guard runs,
    // which cannot happen during this call.
    let ts = unsafe { &*ts };
    // SAFETY: `depth` is owner-only.
    if ts.depth.with_mut(|d| unsafe { *d }) > 0 {
        // Already inside an operation: the root cache is ours.
        // SAFETY: inside an operation, owner only; `f` enters none, so nothing else
        // reaches the cache while it runs.
        return Some(ts.roots.with_mut(|rc| f(unsafe { &mut *rc })));
    }
    // `enter` without its wait: a thread that finds the world stopping counts its root on
    // the counter instead (the caller's fallback).
    ts.in_op.store(1, Ordering::Relaxed);
    light_fence();
    let out = LeaveRootOp(ts);
    // Acquire pairs with the Release store in `Stopped::drop`: we see the collector's
    // drain of our cache.
    if STOP.load(Ordering::Acquire) {
        return None;
    }
    // SAFETY: inside an operation (the protocol in the module header), owner only, and
    // `f` enters none.
    let r = ts.roots.with_mut(|rc| f(unsafe { &mut *rc }));
    drop(out);
    Some(r)
}

/// Ends `with_root_cache`'s operation, also when unwinding.
struct LeaveRootOp<'a>(&'a ThreadState);

impl Drop for LeaveRootOp<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        // Release pairs with the Acquire load of `in_op` in `stop`: the collector sees
        // what we did to the root cache.
        self.0.in_op.store(0, Ordering::Release);
    }
}

/// Whether the collector is stopping (or has stopped) GC operations: long work inside an
/// operation (a mark assist) should end early.
#[inline]
pub(crate) fn stopping() -> bool {
    // SeqCst: an assist about to park checks it after announcing itself, while `stop`
    // sets it before looking for parked assists (`assist.rs`), so one of them sees the
    // other.
    STOP.load(Ordering::SeqCst)
}

/// Whether the calling thread is inside a GC operation (then it must not wait for a cycle:
/// the cycle waits for it).
pub(crate) fn inside_op() -> bool {
    let ts = CURRENT.try_with(|c| c.get()).unwrap_or(std::ptr::null());
    if ts.is_null() {
        return holds_fallback();
    }
    // SAFETY: a registered state lives as long as its thread; `depth` is owner-only.
    unsafe { (*ts).depth.with_mut(|d| *d) > 0 }
}

/// Whether the calling thread is inside an operation on the fallback state.
fn holds_fallback() -> bool {
    os_thread_id().is_some_and(|id| FALLBACK_OWNER.load(Ordering::Relaxed) == id)
}

#[cold]
fn with_fallback<R>(f: impl FnOnce(&mut Op<'_>) -> R) -> R {
    let fb = &*FALLBACK;
    if holds_fallback() {
        // Nested inside our own operation on the fallback state (a large allocation
        // sweeping): the state is ours until the outer call ends, and `enter` nests.
        let scope = OpScope::entering(&*fb.state);
        let r = f(&mut scope.op());
        scope.leave();
        return r;
    }
    let mut registered = lock(&fb.turn);
    if !*registered {
        lock(&REGISTRY).push(fb.state.clone());
        *registered = true;
    }
    FALLBACK_OWNER.store(os_thread_id().unwrap_or(0), Ordering::Relaxed);
    let owner = DisownOnDrop;
    let scope = OpScope::entering(&*fb.state);
    let r = f(&mut scope.op());
    let want = scope.leave();
    drop(owner);
    drop(registered);
    if want {
        super::cycle::triggered();
    }
    r
}

/// Clears `FALLBACK_OWNER` (also when unwinding) before the fallback mutex is released.
struct DisownOnDrop;

impl Drop for DisownOnDrop {
    fn drop(&mut self) {
        FALLBACK_OWNER.store(0, Ordering::Relaxed);
    }
}

/// Threads with a registered state (the loom models wait for exiting threads with it:
/// loom's `join` returns before the thread's thread-locals are destroyed).
#[cfg(all(test, gc_loom))]
pub(crate) fn registered() -> usize {
    lock(&REGISTRY).len()
}

/// Proof that the world is stopped for GC operations; resumes it when dropped.
pub(crate) struct Stopped {
    registry: MutexGuard<'static, Vec<Arc<ThreadState>>>,
    began: std::time::Instant,
}

/// Stops the world for GC operations: returns once no thread is inside one and none can
/// enter. Waits only for threads inside an operation (which never block on users).
pub(crate) fn stop() -> Stopped {
    let registry = lock(&REGISTRY);
    let began = std::time::Instant::now();
    STOP.store(true, Ordering::SeqCst);
    // An assist waiting for credit inside its operation gives up its wait at a stop.
    super::assist::wake_waiting();
    heavy_fence();
    for ts in registry.iter() {
        let mut backoff = Backoff::default();
        // Acquire pairs with the Release stores of `in_op` in `ThreadState::exit` (and
        // `enter`'s back-out): we see what the thread did to its cache and spans.
        while ts.in_op.load(Ordering::Acquire) != 0 {
            backoff.snooze();
        }
    }
    // Pending root counts reach the counters before anything reads them, then the
    // decrements owed to them are paid (`root_cache.rs`).
    for ts in registry.iter() {
        // SAFETY: every owner is kept out of operations from here to resume.
        unsafe { ts.drain_roots() };
    }
    super::root_cache::settle_debts();
    Stopped { registry, began }
}

impl Stopped {
    /// When this stop began: once it held the registry. A wait for another stop still in
    /// progress (`mem_stats`, a heap snapshot: the world was already stopped by it) is not
    /// part of this one's pause; Go's pause clock likewise starts once `worldsema` is held.
    pub(crate) fn began(&self) -> std::time::Instant {
        self.began
    }

    /// Returns every thread's cached spans to the central lists (Go's `forEachP` flush).
    pub(crate) fn flush_all_caches(&self) {
        for ts in self.registry.iter() {
            // SAFETY: the world is stopped, so no owner touches its cache.
            unsafe { (*ts.mcache()).flush() };
        }
    }

    /// Resets every thread's mark-assist balance (mark setup).
    pub(crate) fn reset_assist_credit(&self) {
        self.for_each_cache(|c| c.assist_credit = 0);
    }

    /// Runs `f` on every thread's cache.
    pub(crate) fn for_each_cache(&self, mut f: impl FnMut(&mut MCache)) {
        for ts in self.registry.iter() {
            // SAFETY: the world is stopped, so no owner touches its cache.
            f(unsafe { &mut *ts.mcache() });
        }
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        // Release pairs with the Acquire loads of `STOP` in `ThreadState::enter` (and
        // `wait_until_resumed`): a thread that enters sees what we did to its cache.
        STOP.store(false, Ordering::Release);
        let _g = lock(&RESUMED);
        RESUME_CV.notify_all();
    }
}
