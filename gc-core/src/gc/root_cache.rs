//! Deferred root counting: each mutator thread keeps the root counts it took recently in a
//! small cache instead of its objects' counters, so that a handle cloned and dropped on the
//! same thread (an interpreter reading a variable) costs no atomic read-modify-write.
//!
//! What it holds: per thread, a direct-mapped table of (object address, pending
//! increments). [`RootCache::add`] counts one more increment there; [`RootCache::cancel`]
//! takes one back for a drop on the same thread; an entry pushed out by another address,
//! or grown to `MAX_DELTA`, is applied to its counter at once; during a walk that roots a
//! large cell's contents (`bulk`, `roots::bulk_rooting`) it goes instead to a second
//! table of pending increments by counter word ([`Pending`]), which applies a word's
//! increments with one compare-and-swap when another word takes its place, and when the
//! walk ends. A run of handles rooted together (`roots::root_run`, a list of `Gc`s) puts
//! its counts in those words directly, without the table, and applies them when it ends
//! ([`RootCache::end_run`]); a run of handles made edges (`roots::unroot_run`) keeps its
//! decrements in the same words and applies them at its end. The drain applies all. The
//! cache also carries the thread's own shade buffer (`shade.rs`, [`LocalShades`]): the
//! barrier's shades are taken in the same root operations, and the drain flushes them
//! too.
//!
//! Invariants (the collector overview, "Deferred root counts", has the argument):
//! - The cache is touched only by its owner inside a GC operation, or by the collector
//!   while GC operations are stopped (`world.rs`). Every stop drains every cache before
//!   anything else, so the root scan that follows mark setup's stop sees every increment
//!   taken before it, and an increment cached after it was taken while marking (inside an
//!   operation, where `MARKING` cannot change) and shaded its object.
//! - Only increments are deferred between root operations. A drop that finds no pending
//!   increment of its own decrements the counter at once (a run of handles made edges
//!   together, `roots::unroot_run`, keeps its decrements by counter word and applies them
//!   before its operation ends, so no stop ever finds one pending); if the counter is 0
//!   (the increment it pairs with is
//!   still in another thread's cache: the handle was cloned there and sent here), the
//!   decrement is *owed*: kept in `DEBTS` and paid as soon as the counter is above 0,
//!   at the latest by the next stop, after the drain (where every debt can be paid: one
//!   that cannot is a handle released twice, fatal in debug builds). A counter never goes
//!   below 0 and never wraps; between stops it may read low (by the cached increments)
//!   or high (by the owed decrements), and only the sum is ever relied on: the root scan
//!   reads counters after a drain, and a counter read low during marking belongs to an
//!   object some cached increment already shaded.
//! - So while `MARKING` is set (it changes only while operations are stopped), every entry
//!   in a cache was taken during this mark, by a root that shaded its object, by an
//!   object allocated black, or by a young object allocated white (`young.rs`), whose
//!   entry is tagged [`WHITE`]. Another root on an address the cache holds needs no shade
//!   of its own (`roots::add_root`): the young scan finds a counted young object. Making
//!   one an edge skips the shade only if its entry is untagged (`roots::root_to_edge`,
//!   through [`RootCache::holds`]): a young object made an edge of an old one must be
//!   shaded. This keeps the barrier off the mutator's common case, a handle cloned or
//!   stored right after its object was made.
//! - A pending word, and the memo of the last span looked up, name a span in use: a
//!   pending increment is a live handle's, and its object cannot be swept before a mark
//!   ends, which takes a stop, which drains (and forgets) both.
//!
//! Shared fields: the cache is owner-or-stopped as above; `DEBTS` is under its mutex
//! (taken before, never after, the spill table's). See the collector overview
//! (`crate::design::collector`).

use super::roots;
use super::shade::LocalShades;
use crate::alloc::span::{CounterMap, RootCounter, SpanPtr};
use crate::sync::{AtomicU64, Mutex};
use std::mem::size_of;

/// Entries per thread (a power of two).
const ENTRIES: usize = 256;

/// Pending increments one entry holds at most before they are applied (so a leak of
/// handles reaches the counter's overflow check, `roots::MAX_ROOTS`, in time).
const MAX_DELTA: u32 = 1 << 16;

/// Owed decrements past this many are retried at once instead of at the next stop.
const SETTLE_AT: usize = 1024;

/// Tag of an entry taken by a young object allocated white (`young.rs`): the top bit of
/// its address, which no user-space address has. (Not the low bit: a tiny object may sit
/// at any byte of its block, and a mask on bit 0 made every odd address miss the cache.)
pub(crate) const WHITE: usize = 1 << (usize::BITS - 1);

/// One thread's pending increments.
pub(crate) struct RootCache {
    addrs: [usize; ENTRIES],
    deltas: [u32; ENTRIES],
    /// Whether an entry was taken or a count kept in the pending words since the last
    /// drain (which empties both, so a count after it always sets this): a stop skips
    /// the caches of idle threads. (The pending words of a run inside a bulk walk once
    /// did not set it, and a stop then left them unapplied: `roots.rs`,
    /// `a_stop_inside_a_bulk_walk_applies_a_runs_pending_counts`.)
    used: bool,
    /// Set while the handles of a value moving into a young object allocated white become
    /// its edges (`roots::unroot_into_white`): they need no shade, since that object is
    /// unmarked and unreachable until its allocation returns.
    pub(crate) into_white: bool,
    /// Set during a walk that roots a large cell's contents (`roots::bulk_rooting`):
    /// entries pushed out go to the pending words instead of their counters. Cleared by
    /// the drain too, so a walk that found the world stopping when it ended leaves no
    /// flag behind.
    pub(crate) bulk: bool,
    /// Increments pushed out of the table during a bulk walk and not yet applied, by
    /// counter word ([`Pending`]), in a small table of its own indexed by the word's
    /// address. Empty outside such walks.
    pending: [Pending; PENDING_WORDS],
    /// The span of the last address kept in the pending words, with its counter table:
    /// the next address in that span needs no look-up in the arena index. Valid until the
    /// next drain or the walk's end, which forget it: the object was alive then, so its
    /// span stays in use until a mark finds it dead, and no mark ends without a stop,
    /// which drains every cache.
    memo: Option<(SpanPtr, CounterMap)>,
    /// The thread's grey objects not yet handed to the shared shade buffer (`shade.rs`):
    /// shades are taken in the same root operations as the counts, under the same
    /// protocol, and the drain flushes them with the counts.
    pub(crate) shades: LocalShades,
}

/// Counter words whose increments the cache keeps after they leave its table (a power of
/// two). The table's entries leave it in hash order, not address order: a list's handles
/// rooted one after another leave about `ENTRIES` handles later, spread over the few words
/// their counters share, so one word would rarely collect more than one.
const PENDING_WORDS: usize = 16;

/// Increments for counters of one table word (`word`, of span `span`), laid out as that
/// word is (`delta`, 0 when nothing is pending): applied with one compare-and-swap when
/// another word takes the entry, when the bulk walk ends, or by the drain. Objects
/// allocated one after another share a word (sixteen counters), so rooting a list of them
/// costs about one locked instruction per word instead of one per handle.
#[derive(Clone, Copy)]
struct Pending {
    delta: u64,
    /// Decrements, laid out as `delta`: only from a run of handles made edges
    /// (`roots::unroot_run`), which applies them before its root operation ends.
    debit: u64,
    word: usize,
    span: Option<SpanPtr>,
}

impl Pending {
    const NONE: Pending = Pending {
        delta: 0,
        debit: 0,
        word: 0,
        span: None,
    };

    /// Applies and forgets the increments, then the decrements (so that a decrement
    /// finds the increments of the same counters applied).
    fn apply(&mut self) {
        let (delta, debit) = (
            std::mem::take(&mut self.delta),
            std::mem::take(&mut self.debit),
        );
        if delta | debit == 0 {
            return;
        }
        let s = self.span.expect("pending counts name their span");
        // SAFETY: the word is a counter word of span `s`, which is in use: a pending
        // increment is a live handle's count (a drop that could take it back decrements
        // the counter or owes), and a pending decrement is that of a handle just made an
        // edge of a live object, so the object, and with it the span, cannot be freed
        // before this applies them (as for the table's entries).
        let word = unsafe { &*(self.word as *const AtomicU64) };
        if delta != 0 {
            roots::count_roots_in_word(s, word, delta);
        }
        if debit != 0 {
            roots::uncount_roots_in_word(s, word, debit);
        }
    }
}

impl RootCache {
    pub(crate) const fn new() -> RootCache {
        RootCache {
            addrs: [0; ENTRIES],
            deltas: [0; ENTRIES],
            used: false,
            into_white: false,
            bulk: false,
            pending: [Pending::NONE; PENDING_WORDS],
            memo: None,
            shades: LocalShades::new(),
        }
    }

    /// The entry `addr` maps to: the address hashed in 8-byte units (objects 8 or 16 bytes
    /// apart, tiny ones in one block or a tree's nodes, land in different entries; whole
    /// addresses would waste the multiplier's low bits).
    #[inline(always)]
    fn index(addr: usize) -> usize {
        crate::sync::bucket_of(addr >> 3, ENTRIES)
    }

    /// One more root on the object at `addr`, pending. Returns whether the cache already
    /// held an entry for `addr`, tagged or not (module header).
    #[inline(always)]
    pub(crate) fn add(&mut self, addr: usize) -> bool {
        let i = Self::index(addr);
        let d = self.deltas[i];
        let a = self.addrs[i];
        let held = a & !WHITE == addr;
        if held && d < MAX_DELTA {
            self.deltas[i] = d + 1;
        } else {
            // An entry taken anew for the same address keeps its tag. The old entry's
            // increments are applied after (a call last: less to keep across it).
            self.addrs[i] = if held { a } else { addr };
            self.deltas[i] = 1;
            self.used = true;
            if d != 0 {
                self.evict(a & !WHITE, d);
            }
        }
        held
    }

    /// Tags the entry of `addr`, which the first root of a young object allocated white
    /// just took (`young.rs`): [`holds`](Self::holds) does not count it.
    #[inline(always)]
    pub(crate) fn tag_white(&mut self, addr: usize) {
        let i = Self::index(addr);
        debug_assert_eq!(self.addrs[i] & !WHITE, addr, "the new object's entry");
        self.addrs[i] = addr | WHITE;
    }

    /// Whether an untagged entry for `addr` was taken since the last drain and is still
    /// here (even with no increment pending). While marking, this means the object was
    /// shaded or allocated black during this mark (module header), so neither another root
    /// nor making it an edge needs a shade.
    #[inline(always)]
    pub(crate) fn holds(&self, addr: usize) -> bool {
        self.addrs[Self::index(addr)] == addr
    }

    /// Takes back one pending root on `addr`, if this cache holds one.
    #[inline(always)]
    pub(crate) fn cancel(&mut self, addr: usize) -> bool {
        let i = Self::index(addr);
        let d = self.deltas[i];
        if self.addrs[i] & !WHITE == addr && d != 0 {
            self.deltas[i] = d - 1;
            return true;
        }
        false
    }

    /// Applies every pending root to its counter and empties the cache; hands the thread's
    /// grey objects to the shared shade buffer.
    pub(crate) fn drain(&mut self) {
        self.shades.flush();
        self.bulk = false;
        self.memo = None;
        if !std::mem::take(&mut self.used) {
            return;
        }
        for i in 0..ENTRIES {
            let d = std::mem::take(&mut self.deltas[i]);
            if d != 0 {
                // One by one: the table's addresses share few words (`bulk` is for the
                // walks whose do).
                roots::count_roots(self.addrs[i] & !WHITE, d);
            }
            // No address matches 0, so the next `add` to this entry takes it anew.
            self.addrs[i] = 0;
        }
        self.apply_pending();
    }

    /// Ends a bulk rooting (`roots::bulk_rooting`): the flag back to `was`, and, unless
    /// an enclosing walk goes on, what is pending by word applied.
    pub(crate) fn end_bulk(&mut self, was: bool) {
        self.bulk = was;
        if !was {
            self.apply_pending();
        }
    }

    /// Ends a run of handles rooted through the pending words (`roots::root_run`):
    /// applies them, unless a bulk walk goes on (its end applies them).
    #[inline]
    pub(crate) fn end_run(&mut self) {
        if !self.bulk {
            self.apply_pending();
        }
    }

    /// Applies every word of pending counts, and forgets the memo.
    pub(crate) fn apply_pending(&mut self) {
        for p in &mut self.pending {
            p.apply();
        }
        self.memo = None;
    }

    /// The entry of the pending table that counter word `word` maps to.
    #[inline(always)]
    fn pending_index(word: usize) -> usize {
        (word / size_of::<AtomicU64>()) % PENDING_WORDS
    }

    /// The `n` increments of an entry pushed out of the table: applied to the counter of
    /// the object at `addr` (always safe: an increment can only make a counter read
    /// high), or kept by counter word during a bulk walk. No barrier: each root shaded its
    /// object when it was taken, if marking was on.
    #[cold]
    #[inline(never)]
    fn evict(&mut self, addr: usize, n: u32) {
        if self.bulk {
            self.pend(addr, n);
        } else {
            roots::count_roots(addr, n);
        }
    }

    /// The span of the object at `addr` and its counter, through the memo when `addr` is
    /// in its span.
    #[inline(always)]
    fn counter_of(&mut self, addr: usize) -> (SpanPtr, RootCounter<'static>) {
        let (s, map) = match self.memo {
            Some((s, map)) if map.contains(addr) => (s, map),
            _ => {
                let (s, _) = roots::locate(addr);
                let map = s.counter_map();
                self.memo = Some((s, map));
                (s, map)
            }
        };
        // SAFETY: `addr` is an object with a root pending here, so its span is in use until
        // the next drain at least (`memo`); the counter is used only before this returns to
        // the caller's caller, never kept.
        (s, unsafe { map.counter(addr) })
    }

    /// Keeps `n` increments on the object at `addr` with the pending increments of its
    /// counter word, applying the word that held the entry before; a count too large for
    /// a field goes to the counter at once. For entries pushed out during a bulk walk, and
    /// for the handles of a run (`roots::root_run`), which ends with
    /// [`end_run`](Self::end_run).
    #[inline]
    pub(crate) fn pend(&mut self, addr: usize, n: u32) {
        let (s, c) = self.counter_of(addr);
        let word = c.word() as *const AtomicU64 as usize;
        if n >= roots::INLINE_MAX as u32 {
            roots::count_roots(addr, n);
            return;
        }
        self.used = true;
        let p = &mut self.pending[Self::pending_index(word)];
        if p.word != word || c.field_of(p.delta) as u32 + n > roots::INLINE_MAX as u32 {
            p.apply();
            p.word = word;
            p.span = Some(s);
        }
        p.delta += c.delta(n as u8);
    }

    /// Keeps one decrement on the object at `addr` with the pending counts of its counter
    /// word, unless this cache holds a pending root on it to take back instead. For the
    /// handles of a run made edges (`roots::unroot_run`), which applies it before its
    /// operation ends. A pending decrement makes a counter read high for that long, which
    /// only keeps its object alive.
    #[inline]
    pub(crate) fn pend_drop(&mut self, addr: usize) {
        if self.cancel(addr) {
            return;
        }
        let (s, c) = self.counter_of(addr);
        let word = c.word() as *const AtomicU64 as usize;
        self.used = true;
        let p = &mut self.pending[Self::pending_index(word)];
        if p.word != word || c.field_of(p.debit) >= roots::INLINE_MAX {
            p.apply();
            p.word = word;
            p.span = Some(s);
        }
        p.debit += c.delta(1);
    }
}

crate::sync::global! {
    /// Owed decrements: addresses whose counter read 0 when a drop came (module header).
    static DEBTS: Mutex<Vec<usize>> = Mutex::new(Vec::new());
}

/// Records a decrement that found its counter at 0.
#[cold]
pub(crate) fn owe(addr: usize) {
    let mut debts = DEBTS.lock();
    debts.push(addr);
    if debts.len() >= SETTLE_AT && debts.len().is_power_of_two() {
        settle(&mut debts);
    }
}

/// Pays the owed decrements, with GC operations stopped and every cache just applied.
/// Then no count is pending anywhere, so each counter is at least its live handles plus
/// its debts, and every debt can be paid. One that cannot is a decrement without a count
/// (a handle released twice): paying it later could take a count from another object in
/// the same slot, so it is dropped (debug builds: a fatal error).
pub(crate) fn settle_debts() {
    let mut debts = DEBTS.lock();
    if debts.is_empty() {
        return;
    }
    settle(&mut debts);
    if !debts.is_empty() {
        if cfg!(debug_assertions) {
            crate::fatal(&format!(
                "root count underflow: {} decrement(s) owed with every count applied",
                debts.len()
            ));
        }
        debts.clear();
    }
}

fn settle(debts: &mut Vec<usize>) {
    debts.retain(|&addr| !roots::try_drop_root_now(addr));
}

#[cfg(all(test, not(gc_loom)))]
mod tests {
    use super::*;

    #[test]
    fn add_says_whether_the_cache_held_the_address_since_its_drain() {
        let mut rc = RootCache::new();
        let (a, b) = (0x1000_0010, 0x1000_0020);
        assert!(!rc.holds(a));
        assert!(!rc.add(a), "first root on `a` since the drain");
        assert!(rc.holds(a) && !rc.holds(b));
        assert!(rc.add(a), "a second one finds the entry");
        // Entries whose pending roots were all taken back are still held.
        assert!(rc.cancel(a) && rc.cancel(a) && !rc.cancel(a));
        assert!(rc.holds(a));
        assert!(rc.add(a) && rc.cancel(a));
        // The drain (nothing pending: pretend addresses are never applied) empties the
        // table: the next root on `a` is a first one again.
        rc.drain();
        assert!(!rc.holds(a));
        assert!(!rc.add(a));
        assert!(rc.cancel(a));
    }

    #[test]
    fn odd_addresses_hit_and_tagged_entries_count_for_roots_but_not_for_edges() {
        let mut c = RootCache::new();
        // A tiny object may sit at any byte of its block.
        let odd = 0x1000_0003;
        assert!(!c.add(odd) && c.add(odd), "an odd address finds its entry");
        assert!(c.holds(odd));
        assert!(c.cancel(odd) && c.cancel(odd) && !c.cancel(odd));
        // A young object allocated white: its entry is tagged.
        let young = 0x2000_0010;
        assert!(!c.add(young));
        c.tag_white(young);
        assert!(
            !c.holds(young),
            "a tagged entry does not excuse an edge's shade"
        );
        assert!(c.add(young), "another root finds the tagged entry");
        assert!(c.cancel(young) && c.cancel(young) && !c.cancel(young));
        assert!(!c.holds(young), "the tag stays while the entry does");
    }

    #[test]
    fn entries_spread_over_the_table() {
        // Objects 16 bytes apart in one span, as a tree's nodes are, land in many entries.
        let used: std::collections::BTreeSet<usize> = (0..64)
            .map(|k| RootCache::index(0x7f00_0000_0000 + 16 * k))
            .collect();
        assert!(used.len() >= 40, "{} entries for 64 neighbours", used.len());
    }

    #[test]
    fn a_drained_cache_takes_entries_anew() {
        let mut c = RootCache::new();
        c.drain(); // unused: nothing to do
        c.add(0x1000);
        assert!(c.cancel(0x1000));
        c.drain(); // used, though nothing is pending: it empties the entries
        assert!(!c.used && c.addrs.iter().all(|&a| a == 0));
        c.add(0x1000);
        assert!(
            c.used,
            "the first add after a drain marks the cache used again"
        );
    }

    #[test]
    fn increments_pending_by_word_are_applied_when_the_walk_ends_or_by_the_drain() {
        // Real objects (the pending words look up their counters), kept alive by handles
        // whose own counts are applied; 16 small objects allocated together.
        let keep: Vec<crate::Gc<[u64; 3]>> = (0..16).map(|i| crate::Gc::new([i; 3])).collect();
        let addr = |i: usize| crate::Gc::as_ptr(&keep[i]) as usize;
        let count = |i: usize| {
            let (s, k) = roots::locate(addr(i));
            roots::count(s.root_count(k))
        };
        super::super::roots::flush_root_cache();
        let before: Vec<u64> = (0..16).map(count).collect();
        let counts = || (0..16).map(count).collect::<Vec<_>>();
        let plus = |n: u64| before.iter().map(|b| b + n).collect::<Vec<_>>();
        let mut c = RootCache::new();
        // As if pushed out of the table by the `add`s of a bulk walk.
        c.used = true;
        c.bulk = true;
        for i in 0..16 {
            c.pend(addr(i), 2);
        }
        assert_eq!(counts(), before, "applied before the walk ended");
        c.end_bulk(false);
        assert!(!c.bulk);
        assert_eq!(counts(), plus(2), "the end of the walk applies them");
        c.bulk = true;
        c.pend(addr(5), 1);
        c.drain();
        assert!(!c.bulk, "the drain clears the flag");
        assert_eq!(count(5), before[5] + 3, "the drain applies them");
        // Give the counts back: they were applied to live objects.
        for i in 0..16 {
            for _ in 0..2 + (i == 5) as usize {
                assert!(roots::try_drop_root_now(addr(i)));
            }
        }
    }

    #[test]
    fn cancel_takes_back_only_pending_roots_of_the_same_address() {
        let mut c = RootCache::new();
        // Pretend addresses: nothing is applied while they stay in their entries.
        c.add(0x1000);
        c.add(0x1000);
        assert!(c.cancel(0x1000));
        assert!(c.cancel(0x1000));
        assert!(
            !c.cancel(0x1000),
            "a third drop has no pending root to take back"
        );
        assert!(!c.cancel(0x2000));
    }
}
