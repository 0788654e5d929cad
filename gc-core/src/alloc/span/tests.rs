//! Tests of spans (a child of `span.rs`): allocation order, sweeping and the reuse of
//! freed slots, finding rooted slots, zombie marks, and the slot index's arithmetic.

use super::*;
use crate::alloc::sizeclass::NUM_SIZE_CLASSES;
use crate::alloc::PAGE_SIZE;

/// A test's claim on a span it owns.
fn claimed(s: &Span) -> Claimed {
    // SAFETY: the test's span outlives the claim.
    Claimed(unsafe { SpanPtr::from_raw(s) })
}

fn span_of_class(c: usize) -> OwnedSpan {
    let mut s = OwnedSpan::new(Shape::small(SpanClass::new(c, true)), 0);
    s.place(0x1000_0000, true);
    s
}

#[test]
fn allocates_every_slot_once_in_order() {
    for c in [1, 2, 5, 26, 35, NUM_SIZE_CLASSES - 1] {
        let s = span_of_class(c);
        let mut got = Vec::new();
        // SAFETY: the test owns the span.
        unsafe {
            while let Some(i) = s.next_free_fast().or_else(|| s.next_free()) {
                got.push(i);
            }
            assert_eq!(s.alloc_count(), s.nelems);
        }
        assert_eq!(got, (0..s.nelems).collect::<Vec<_>>(), "class {c}");
    }
}

#[test]
fn sweep_frees_unmarked_and_reuses_their_slots() {
    let s = span_of_class(1); // 1024 slots of 8 bytes
                              // SAFETY: the test owns the span.
    unsafe {
        for _ in 0..300 {
            s.next_free_fast().or_else(|| s.next_free()).unwrap();
        }
        for i in (0..300).step_by(3) {
            assert!(s.mark(i));
            assert!(!s.mark(i), "second mark reports already marked");
        }
        let dead = claimed(&s).dead_slots().unwrap();
        assert_eq!(dead.len(), 200);
        assert!(dead.iter().all(|i| i % 3 != 0 && i < 300));
        assert_eq!(claimed(&s).reset_after_sweep(), 100);
        assert!(!s.is_marked(0));
        // Reallocation hands out exactly the freed slots below 300, then the rest.
        let mut again = Vec::new();
        while let Some(i) = s.next_free_fast().or_else(|| s.next_free()) {
            again.push(i);
        }
        assert_eq!(again.len(), 1024 - 100);
        assert!(again.iter().all(|i| i % 3 != 0 || *i >= 300));
    }
}

/// After any sweep, allocation hands out exactly the free slots, each once, in order,
/// across every window boundary (the fast path takes a window's last slot without
/// loading the next one).
#[test]
fn allocation_after_a_sweep_hands_out_every_free_slot_in_order() {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for c in [1, 2, 3, 5, 26, NUM_SIZE_CLASSES - 1] {
        for round in 0..40 {
            let s = span_of_class(c);
            let n = s.nelems;
            // SAFETY: the test owns the span.
            unsafe {
                while s.next_free_fast().or_else(|| s.next_free()).is_some() {}
                // Survivors: dense, sparse, or runs around the window boundaries.
                let live: Vec<bool> = (0..n)
                    .map(|i| match round % 4 {
                        0 => rand() % 8 != 0,
                        1 => rand() % 8 == 0,
                        2 => (i % 64 == 63 || i % 64 == 0) != (rand() % 2 == 0),
                        _ => rand() % 2 == 0,
                    })
                    .collect();
                for (i, &l) in live.iter().enumerate() {
                    if l {
                        s.mark(i);
                    }
                }
                claimed(&s).dead_slots().unwrap();
                claimed(&s).reset_after_sweep();
                let mut got = Vec::new();
                while let Some(i) = s.next_free_fast().or_else(|| s.next_free()) {
                    got.push(i);
                }
                let want: Vec<usize> = (0..n).filter(|&i| !live[i]).collect();
                assert_eq!(got, want, "class {c}, round {round}");
                assert_eq!(s.alloc_count(), n);
            }
        }
    }
}

#[test]
fn rooted_in_finds_a_rooted_slot_of_the_set_only() {
    let s = span_of_class(1); // 1024 slots: 64 counter words
    let mut set = SlotSet::new();
    for i in [3, 17, 500, 1023] {
        set.insert(i);
    }
    assert_eq!(s.rooted_in(&set), None);
    // Roots outside the set, in the same counter words as members and in others.
    for i in [2, 16, 18, 600] {
        s.root_count(i).set_from_zero(1, Ordering::Relaxed);
    }
    assert_eq!(s.rooted_in(&set), None);
    s.root_count(500).set_from_zero(7, Ordering::Relaxed);
    assert_eq!(s.rooted_in(&set), Some((500, 7)));
    s.root_count(1023).set_from_zero(1, Ordering::Relaxed);
    assert_eq!(s.rooted_in(&set), Some((500, 7)), "the first in slot order");
    assert_eq!(s.rooted_in(&SlotSet::new()), None);
}

#[test]
fn reuses_the_last_slot_of_a_cache_word() {
    // Regression: only bit 63 free in the cache made `cache >>= 64` overflow.
    let s = span_of_class(1);
    // SAFETY: the test owns the span.
    unsafe {
        for _ in 0..128 {
            s.next_free_fast().or_else(|| s.next_free()).unwrap();
        }
        for i in (0..128).filter(|&i| i != 63) {
            s.mark(i);
        }
        let dead = claimed(&s).dead_slots().unwrap();
        assert_eq!(dead.iter().collect::<Vec<_>>(), vec![63]);
        claimed(&s).reset_after_sweep();
        let first = s.next_free_fast().or_else(|| s.next_free());
        let second = s.next_free_fast().or_else(|| s.next_free());
        assert_eq!((first, second), (Some(63), Some(128)));
    }
}

#[test]
fn zombie_mark_on_free_slot_is_reported() {
    let s = span_of_class(2);
    // SAFETY: the test owns the span.
    unsafe {
        s.next_free_fast().unwrap();
        s.mark(7); // slot 7 was never allocated
        assert_eq!(claimed(&s).dead_slots().err(), Some(7));
    }
}

#[test]
fn slot_index_uses_division_magic() {
    let s = span_of_class(crate::alloc::sizeclass::size_to_class(48));
    assert_eq!(s.slot_index(s.base), 0);
    assert_eq!(s.slot_index(s.base + 47), 0);
    assert_eq!(s.slot_index(s.base + 48), 1);
    assert_eq!(s.slot_index(s.base + 48 * 169 + 5), 169);
    assert!(s.limit() <= s.base + PAGE_SIZE);
}
