//! `AtomicGc::store` into a slot inside a heap object (edge mode): a plain store after a
//! read of the old value, not a swap (`object/atomic.rs`). One store races the collector's
//! mark setup, root scans and drains; two race each other and the mark. Whatever the
//! interleaving, the value left in the slot ends marked (its store shaded it, or the scan
//! found it), and no root count is lost or doubled: the old value was an edge and stays
//! uncounted, the new values' counts became edges.
//!
//! Checked against a broken barrier: with the rooting's shade switched off (`barrier_on`
//! returning false), both models fail, as do the barrier models of `roots.rs` and
//! `young.rs`; with it on, the second also passes at `LOOM_MAX_PREEMPTIONS=3` (650,000
//! executions, 100 s, before `roots::mark`'s yields).

use super::fixture::{ModelSpan, Padded, Probe};
use super::model;
use super::roots::mark;
use super::thread;
use crate::alloc::heap::HEAP;
use crate::gc::{roots, world};
use crate::{AtomicGc, Gc, Trace};

/// A heap object with one `AtomicGc` field.
type Slotted = Padded<AtomicGc<Probe>>;

/// The objects (`o`, `a`, `b`, each with one root count) and the holder (rooted), whose
/// slot holds `o` as an edge, as `Gc::new` leaves it.
struct Setup {
    objects: ModelSpan,
    holders: ModelSpan,
    /// `(slot, address)` of `o`, `a`, `b`.
    objs: [(usize, usize); 3],
    holder: usize,
}

impl Setup {
    fn new() -> Setup {
        let sg = HEAP.sweepgen();
        let objects = ModelSpan::new::<Probe>(sg);
        let holders = ModelSpan::new::<Slotted>(sg);
        let objs = [(); 3].map(|_| {
            let (idx, addr) = objects.alloc(Probe::new().0);
            roots::set_new_root(&objects, idx);
            (idx, addr)
        });
        // SAFETY: `o`'s count (set above) moves to the handle.
        let first = unsafe { Gc::<Probe>::from_counted_addr(objs[0].1) };
        let (h_idx, holder) = holders.alloc(Slotted::new(AtomicGc::new(Some(first))));
        // SAFETY: the holder is in the heap now, and no other thread knows it yet. (This
        // thread stays unregistered, so `check` can wait for the writers' exits.)
        unsafe { (*(holder as *mut Slotted)).field.unroot() };
        roots::set_new_root(&holders, h_idx);
        Setup {
            objects,
            holders,
            objs,
            holder,
        }
    }

    /// A writer thread's body: stores the object at `addr`, giving up its count.
    fn store(&self, addr: usize) -> impl FnOnce() + Send + 'static {
        let h = self.holder;
        move || {
            // SAFETY: the holder lives until the model ends; the object's count (set in
            // `new`) moves to the handle, which the store makes an edge.
            let (holder, value) = unsafe {
                (
                    &*(h as *const Slotted),
                    Gc::<Probe>::from_counted_addr(addr),
                )
            };
            holder.field.store(Some(value));
        }
    }

    /// Once the writers are joined: the slot holds one of `stored`, marked, and the counts
    /// of `o` and of the stored objects are back to 0.
    fn check(&self, stored: &[usize]) {
        // The writers' root caches are applied when they exit, ...
        super::wait_for_thread_exits();
        // SAFETY: the holder is alive and no thread writes it any more.
        let last = unsafe { &*(self.holder as *const Slotted) }
            .field
            .edge_for_model();
        let &(last_idx, _) = self
            .objs
            .iter()
            .find(|&&(_, addr)| addr == last)
            .expect("the slot holds a model object");
        assert!(stored.contains(&last));
        assert!(
            self.objects.is_marked(last_idx),
            "the value left in the slot ended white"
        );
        // ... and a drop that met a stop owes its decrement until the next (`root_cache.rs`).
        drop(world::stop());
        for (idx, addr) in self.objs {
            // `o` and the stored objects are edges now; an object not stored keeps its count.
            let want = u64::from(addr != self.objs[0].1 && !stored.contains(&addr));
            assert_eq!(
                roots::count(self.objects.root_count(idx)),
                want,
                "a count was lost or left on slot {idx}"
            );
        }
    }
}

#[test]
fn loom_atomic_gc_store_races_the_mark() {
    model(|| {
        let s = Setup::new();
        let a = s.objs[1].1;
        let writer = thread::spawn(s.store(a));
        mark(&[&s.holders, &s.objects]);
        writer.join().unwrap();
        s.check(&[a]);
    });
}

#[test]
fn loom_atomic_gc_stores_race_each_other_and_the_mark() {
    model(|| {
        let s = Setup::new();
        let (a, b) = (s.objs[1].1, s.objs[2].1);
        let first_writer = thread::spawn(s.store(a));
        let second_writer = thread::spawn(s.store(b));
        mark(&[&s.holders, &s.objects]);
        first_writer.join().unwrap();
        second_writer.join().unwrap();
        s.check(&[a, b]);
    });
}
