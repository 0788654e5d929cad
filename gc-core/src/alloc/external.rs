//! External memory: bytes that live outside the collected heap but that the pacer counts as
//! if they were in it, because heap objects own them (a `Gc<String>`'s buffer, a `Vec`
//! inside a node). Go has no such bytes (everything is in its heap); V8 calls them external
//! memory. They are counted by the opt-in global allocator `crate::CountingAllocator`,
//! which calls [`note_alloc`] and [`note_free`] for every allocation of the process.
//!
//! The counts are sharded (threads take shards in turn) so that threads allocating at once
//! do not fight over one cache line; reading sums the shards that threads have taken so
//! far (`untracked::shards_in_use`: a few lines in a small program, not all 32). A thread
//! counts by itself (plain thread-local adds) until it has `FLUSH` bytes allocated or
//! freed, then adds them to its shard with one locked add, and again when it exits (glibc
//! targets; elsewhere each allocation and each free is one locked add). Every [`QUANTUM`]
//! bytes allocated through a shard, the allocator checks the pacer's trigger against the
//! heap plus the external bytes and, past it, sets [`due`]: the next GC allocation's
//! slow-path check (`mallocgc`, step 8) then asks for a cycle. The global allocator itself
//! never starts one (it may be called from anywhere, even inside the runtime).
//!
//! Shared state: the shards and the `DUE` flag are std atomics, untracked by loom (module
//! `sync::untracked`): Relaxed throughout, since they are statistics read as a sum and a
//! hint that a check is due, never used to order other memory. See the allocator overview
//! (`crate::design::allocator`).

pub(crate) use crate::sync::untracked::{dropping_garbage, while_dropping_garbage};
use crate::sync::untracked::{shard, shards_in_use, AtomicBool, AtomicU64};
use crate::sync::Ordering::Relaxed;

/// Shards: enough for the threads of a large machine to rarely share one.
const SHARDS: usize = 32;

/// Allocation through one shard between two trigger checks.
const QUANTUM: u64 = 256 << 10;

/// One shard's counts, on a cache line of its own. One locked add per allocation and one per
/// free: live bytes are the difference of the two sums.
#[repr(align(128))]
struct Shard {
    /// Bytes ever allocated through this shard.
    allocated: AtomicU64,
    /// Bytes ever freed through this shard (it may free what another shard allocated).
    freed: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)] // only as an array initialiser
const EMPTY: Shard = Shard {
    allocated: AtomicU64::new(0),
    freed: AtomicU64::new(0),
};

static SHARD: [Shard; SHARDS] = [EMPTY; SHARDS];
/// Whether anything was ever counted (no counting allocator: every reader skips the sum).
static ON: AtomicBool = AtomicBool::new(false);
/// Set when the external bytes may have pushed the heap past the pacer's trigger.
static DUE: AtomicBool = AtomicBool::new(false);

/// Bytes a thread counts by itself before adding them to its shard.
const FLUSH: u64 = 32 << 10;

/// The bytes this thread allocated and freed that its shard does not have yet: added once
/// either count reaches `FLUSH`, and when the thread exits. Saves the two locked adds of
/// most allocation-free pairs (they were 5% of an interpreter's time: `examples/interp`,
/// strings.lox). glibc only, where std registers the exit hook with
/// `__cxa_thread_atexit_impl`, which does not allocate through the global allocator (std's
/// fallback elsewhere keeps a `Vec`, which would call back into it); other targets add to
/// the shard every time. Readers miss at most `FLUSH` bytes per thread each way.
#[cfg_attr(not(all(target_os = "linux", target_env = "gnu")), allow(dead_code))]
struct Unflushed {
    allocated: std::cell::Cell<u64>,
    freed: std::cell::Cell<u64>,
}

impl Drop for Unflushed {
    fn drop(&mut self) {
        add_allocated(self.allocated.take());
        add_freed(self.freed.take());
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
std::thread_local! {
    static UNFLUSHED: Unflushed = const {
        Unflushed {
            allocated: std::cell::Cell::new(0),
            freed: std::cell::Cell::new(0),
        }
    };
}

/// Adds `size` to this thread's unflushed count in `pick`, returning what the shard must
/// take now: 0 while the count stays under `FLUSH`; all of it past that, or `size` itself
/// where there is no unflushed count (other targets, or after the thread's exit hook ran).
#[inline(always)]
fn unflushed(size: u64, pick: fn(&Unflushed) -> &std::cell::Cell<u64>) -> u64 {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        UNFLUSHED
            .try_with(|u| {
                let c = pick(u);
                let n = c.get() + size;
                if n < FLUSH {
                    c.set(n);
                    0
                } else {
                    c.set(0);
                    n
                }
            })
            .unwrap_or(size)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        let _ = pick;
        size
    }
}

/// `size` bytes were allocated outside the heap.
#[inline]
pub(crate) fn note_alloc(size: usize) {
    let n = unflushed(size as u64, |u| &u.allocated);
    if n != 0 {
        add_allocated(n);
    }
}

/// `size` bytes allocated outside the heap were freed.
#[inline]
pub(crate) fn note_free(size: usize) {
    let n = unflushed(size as u64, |u| &u.freed);
    if n != 0 {
        add_freed(n);
    }
    if dropping_garbage() {
        GARBAGE_FREED.fetch_add(size as u64, Relaxed);
    }
}

/// Adds `n` allocated bytes to this thread's shard.
fn add_allocated(n: u64) {
    let s = &SHARD[shard(SHARDS)];
    let before = s.allocated.fetch_add(n, Relaxed);
    // A check each time this shard's allocations cross a multiple of the quantum.
    if (before % QUANTUM) + n >= QUANTUM {
        check();
    }
}

/// Adds `n` freed bytes to this thread's shard.
fn add_freed(n: u64) {
    SHARD[shard(SHARDS)].freed.fetch_add(n, Relaxed);
}

/// External bytes live at the last mark termination.
static AT_MARK_END: AtomicU64 = AtomicU64::new(0);
/// External bytes freed since then by the drops of objects found dead (the sweeper's in
/// place, the dropper's, inside [`while_dropping_garbage`]).
static GARBAGE_FREED: AtomicU64 = AtomicU64::new(0);

/// A mark ended: the external bytes live now belong to survivors, to the garbage the
/// sweep is about to drop, or to no heap object at all.
pub(crate) fn mark_ended() {
    AT_MARK_END.store(live(), Relaxed);
    GARBAGE_FREED.store(0, Relaxed);
}

/// The external bytes that survived the last mark: those live at its end minus those its
/// garbage freed since (exact once the sweep and the dropper are done; what the program
/// allocated since is not in it, what it freed by itself is).
pub(crate) fn survivors() -> u64 {
    AT_MARK_END
        .load(Relaxed)
        .saturating_sub(GARBAGE_FREED.load(Relaxed))
}

/// A shard allocated another quantum: compare the heap plus the external bytes with the
/// trigger.
#[cold]
fn check() {
    if !ON.load(Relaxed) {
        ON.store(true, Relaxed);
    }
    #[cfg(not(gc_loom))]
    {
        use super::heap::HEAP;
        if HEAP.live_total() >= HEAP.trigger.load(Relaxed) {
            DUE.store(true, Relaxed);
        }
    }
}

/// External bytes allocated and not yet freed (0 without the counting allocator, or before
/// its first quantum).
#[inline]
pub(crate) fn live() -> u64 {
    if !ON.load(Relaxed) {
        return 0;
    }
    // Frees first: a free read before its allocation could make the difference negative
    // (it still can across shards while threads run, hence the saturation).
    let freed: u64 = used().iter().map(|s| s.freed.load(Relaxed)).sum();
    total().saturating_sub(freed)
}

/// Whether the counting allocator is counting (it has seen a quantum of allocation).
#[inline]
pub(crate) fn on() -> bool {
    ON.load(Relaxed)
}

/// External bytes ever allocated.
pub(crate) fn total() -> u64 {
    used().iter().map(|s| s.allocated.load(Relaxed)).sum()
}

/// The shards any thread has counted in so far (`shards_in_use`): the pacer's trigger check
/// sums them at every span a mutator takes, and a small program has a few of 32.
fn used() -> &'static [Shard] {
    &SHARD[..shards_in_use(SHARDS)]
}

/// Whether the external bytes may have crossed the trigger since the last check (a hint for
/// the allocation path; reading it clears it).
#[inline(always)]
pub(crate) fn due() -> bool {
    DUE.load(Relaxed) && DUE.swap(false, Relaxed)
}
