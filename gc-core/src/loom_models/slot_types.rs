//! A span's slot types read while its owner allocates: the owner records each new object's
//! type (the span going from one type to a palette, the palette growing, and past the
//! palette to a pointer per slot: under loom the palette holds three types) and
//! publishes the object; a marker that sees the object published reads its type. Checks
//! that every published object reads back its own type, whichever representation the
//! reader finds, and (loom) that the tables are never read uninitialised.

use super::model;
use super::thread;
use crate::alloc::span::SlotTypes;
use crate::descriptor::{bucket, TypeInfo};
use crate::sync::{AtomicUsize, Ordering};
use loom::sync::Arc;

static A: TypeInfo = bucket(|| "a");
static B: TypeInfo = bucket(|| "b");
static C: TypeInfo = bucket(|| "c");
static D: TypeInfo = bucket(|| "d");

#[test]
fn loom_slot_types_read_while_the_owner_allocates() {
    model(|| {
        const N: usize = 4;
        let types: [&'static TypeInfo; N] = [&A, &B, &C, &D];
        let t = Arc::new(SlotTypes::new());
        let published = Arc::new(AtomicUsize::new(0));
        let (t2, p2) = (t.clone(), published.clone());
        let owner = thread::spawn(move || {
            for (i, ty) in types.iter().enumerate() {
                // SAFETY: this thread is the owner; `i < N`.
                unsafe { t2.set(i, ty, N, || i + 1) };
                // Release: the allocation happens-before the marker's lookup (as publishing
                // the first root count does in `mallocgc`).
                p2.store(i + 1, Ordering::Release);
            }
        });
        let seen = published.load(Ordering::Acquire);
        for (i, ty) in types.iter().enumerate().take(seen) {
            // SAFETY: slot `i` was published, so its allocation happened-before this.
            assert!(std::ptr::eq(unsafe { t.get(i) }, *ty), "slot {i}");
        }
        owner.join().unwrap();
        for (i, ty) in types.iter().enumerate() {
            // SAFETY: every slot is allocated and published by now.
            assert!(
                std::ptr::eq(unsafe { t.get(i) }, *ty),
                "slot {i} at the end"
            );
        }
        t.clear(N);
    });
}
