//! A `GcCell` lock biased to its first reader (`object/cell_bias.rs`): the owner
//! reads with plain stores to its count and a compiler fence, everyone else revokes the
//! bias. Each model biases a lock to one thread (its first read), then races that owner's
//! reads, one nested in the other, against:
//! - another thread's write, which revokes the bias with a heavy fence and must either see
//!   the owner's counted read (and wait, parked, for its release without holding the word,
//!   so that the nested read gets in) or make the owner back out;
//! - the unroot pass's exclusive hold under suspended biases (`gc::suspend_biases`), which
//!   must either see the owner's count or make it back out and read on the word;
//! - the marker's hold, which reads beside the owner and gives the bias back.
//!
//! Loom checks the value's accesses for races: a write during an owner's read is a failed
//! model, as is a writer never woken by the owner's last release (a deadlock). Under loom
//! both fences are `SeqCst` fences. Run against deliberate bugs (twenty-third session):
//! without the writer's heavy fence the writer model fails, without the owner's fence the
//! writer and pass models, without the owner's look at the suspension the pass model, and
//! without the wake in the owner's last release the writer model (a deadlock).

use super::cell_borrows::{guarded, mark, Guarded};
use super::model;
use super::thread;
use crate::gc;
use std::sync::Arc;

/// Biases `g` to the calling thread, as its first read does.
fn bias_here(g: &Guarded) {
    let r = g.lock.read();
    g.lock.read_unlock(r);
}

/// The owner's read, with a second one nested in it: the value seen, twice.
fn owner_reads(g: &Guarded) -> (u64, u64) {
    let outer = g.lock.read();
    let a = g.read();
    let inner = g.lock.read();
    let b = g.read();
    g.lock.read_unlock(inner);
    g.lock.read_unlock(outer);
    (a, b)
}

#[test]
fn loom_owner_reads_against_a_foreign_writer() {
    model(|| {
        let g = guarded();
        bias_here(&g);
        let writer = {
            let g = g.clone();
            thread::spawn(move || g.add_one())
        };
        let (a, b) = owner_reads(&g);
        assert_eq!(a, b, "a write between two reads of one guard");
        writer.join().unwrap();
        assert_eq!(owner_reads(&g), (1, 1), "the write was lost");
    });
}

#[test]
fn loom_owner_reads_against_the_unroot_pass() {
    model(|| {
        let g = guarded();
        bias_here(&g);
        let pass = {
            let g: Arc<Guarded> = g.clone();
            thread::spawn(move || {
                let _suspended = gc::suspend_biases();
                match g.lock.try_hold_collector_exclusive() {
                    Some(hold) => {
                        // SAFETY: the exclusive hold: nobody reads or writes.
                        g.value.with_mut(|v| unsafe { *v += 1 });
                        g.lock.release_collector(hold);
                        true
                    }
                    None => false,
                }
            })
        };
        let (a, b) = owner_reads(&g);
        assert_eq!(a, b, "the pass wrote during an owner's read");
        let wrote = pass.join().unwrap();
        assert_eq!(owner_reads(&g), (wrote as u64, wrote as u64));
    });
}

#[test]
fn loom_owner_reads_beside_the_marker() {
    model(|| {
        let g = guarded();
        let owner = {
            let g = g.clone();
            thread::spawn(move || {
                bias_here(&g);
                let seen = owner_reads(&g);
                // Whatever the marker did, the bias is still the owner's.
                let r = g.lock.read();
                let counted = r.counted();
                g.lock.read_unlock(r);
                (seen, counted)
            })
        };
        // Twice: the second finds the word as the owner left it (biased or not yet).
        let marked = [mark(&g), mark(&g)];
        assert_eq!(owner.join().unwrap(), ((0, 0), true));
        assert_eq!(
            marked,
            [Some(0), Some(0)],
            "the owner's reads never keep the marker out"
        );
    });
}
