//! `Gc<[T]>` and `Gc<str>`: the conversions, zeroed buffers of 0 bytes to 100 MiB (fresh,
//! reused and released pages), traced and dropped elements, cycles through slices, and
//! too-large requests.

use gc_core::{Gc, GcCell, Trace};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};

const MIB: usize = 1 << 20;

/// Held by every test here, so they run one at a time. One checks that a freed 100 MiB
/// buffer's pages are taken again by the next one, through `heap_sys`, which is
/// process-wide: any other test's allocation meanwhile, even one small span cut from the
/// freed run (the page heap takes the lowest free address), would make the heap grow
/// instead (seen on CI).
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ALONE.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn zeroed_byte_buffers_of_every_placement() {
    let _alone = alone();
    // Tiny (0 and 1 byte), small (32 KiB is the largest size class), large (100 MiB).
    for len in [0, 1, 15, 16, 32 << 10, (32 << 10) + 1, 100 * MIB] {
        let b = Gc::<[u8]>::new_zeroed_slice(len);
        assert_eq!(b.len(), len);
        assert!(b.iter().all(|&x| x == 0), "len {len}: not zeroed");
        let c = Gc::<[u8]>::new_zeroed_slice_with(len, |s| {
            for (i, x) in s.iter_mut().enumerate() {
                *x = i as u8;
            }
        });
        gc_core::collect();
        assert!(
            c.iter().enumerate().all(|(i, &x)| x == i as u8),
            "len {len}"
        );
        assert!(b.iter().all(|&x| x == 0));
        if len > 0 {
            assert!(!std::ptr::eq(
                Gc::as_ptr(&b).cast::<u8>(),
                Gc::as_ptr(&c).cast::<u8>()
            ));
        }
    }
}

/// Zeroing is skipped only for pages that read as zeros: pages reused from freed buffers
/// (full of 0xff here) and pages released to the OS must both come back zeroed.
#[test]
fn reused_and_released_pages_come_back_zeroed() {
    let _alone = alone();
    for round in 0..3 {
        let dirty: Vec<Gc<[u8]>> = (0..4)
            .map(|_| Gc::<[u8]>::new_zeroed_slice_with(8 * MIB, |s| s.fill(0xff)))
            .collect();
        drop(dirty);
        if round == 2 {
            gc_core::free_os_memory();
        } else {
            gc_core::collect();
        }
        let fresh: Vec<Gc<[u8]>> = (0..4)
            .map(|_| Gc::<[u8]>::new_zeroed_slice(8 * MIB))
            .collect();
        for b in &fresh {
            assert!(b.iter().all(|&x| x == 0), "round {round}: old bytes leaked");
        }
    }
}

#[test]
fn a_100_mib_buffer_is_freed_when_dropped() {
    let _alone = alone();
    let before = gc_core::mem_stats();
    let b = Gc::<[u8]>::from(vec![7u8; 100 * MIB]);
    assert_eq!(b.len(), 100 * MIB);
    assert_eq!((b[0], b[100 * MIB - 1]), (7, 7));
    assert!(gc_core::mem_stats().total_alloc >= before.total_alloc + 100 * MIB as u64);
    drop(b);
    gc_core::collect();
    // Its span went back to the page heap: a new 100 MiB buffer can take the same pages.
    let again = Gc::<[u8]>::new_zeroed_slice(100 * MIB);
    assert!(again.iter().all(|&x| x == 0));
    assert!(gc_core::mem_stats().heap_sys < before.heap_sys + 260 * MIB as u64);
}

#[test]
fn conversions_like_arc() {
    let _alone = alone();
    let v: Gc<[u32]> = Gc::from(vec![1, 2, 3]);
    assert_eq!(&*v, &[1, 2, 3]);
    let s: Gc<[u32]> = Gc::from(&[4u32, 5][..]);
    assert_eq!(&*s, &[4, 5]);
    let b: Gc<[u64]> = Gc::from(vec![9u64; 3].into_boxed_slice());
    assert_eq!(&*b, &[9, 9, 9]);
    let it: Gc<[u64]> = (0..1000u64).collect();
    assert_eq!(it.iter().sum::<u64>(), 999 * 1000 / 2);
    let e: Gc<[u8]> = Gc::default();
    assert!(e.is_empty());
    let zst: Gc<[()]> = Gc::from(vec![(); 5]);
    assert_eq!(zst.len(), 5);
    let wide: Gc<[u128]> = (0..7u128).collect();
    assert_eq!(Gc::as_ptr(&wide).cast::<u8>() as usize % 16, 0);
    assert_eq!(wide[6], 6);

    let a: Gc<str> = Gc::from("héllo");
    let b: Gc<str> = Gc::from(String::from("héllo"));
    assert_eq!(a, b);
    assert!(!Gc::ptr_eq(&a, &b));
    assert_eq!(format!("{a} {b:?}"), "héllo \"héllo\"");
    let set: HashSet<Gc<str>> = [a.clone(), b, Gc::from("x")].into_iter().collect();
    assert_eq!(set.len(), 2);
    assert!(set.contains("héllo"));
    assert_eq!(&*Gc::<str>::default(), "");
    gc_core::collect();
    assert_eq!(a.len(), 6);
}

static STRING_DROPS: AtomicUsize = AtomicUsize::new(0);

struct Counted(#[allow(dead_code)] String);
impl Drop for Counted {
    fn drop(&mut self) {
        STRING_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}
// SAFETY: no `Gc` inside.
unsafe impl Trace for Counted {
    fn needs_trace() -> bool {
        false
    }
    fn trace(&self, _: &mut gc_core::Tracer) {}
    unsafe fn root(&mut self) {}
    unsafe fn unroot(&mut self) {}
}

/// Untraced elements with drop glue are dropped once each, when the slice dies, and not
/// before (the vector they came from drops none of them).
#[test]
fn elements_are_dropped_once_with_the_slice() {
    let _alone = alone();
    let s: Gc<[Counted]> = (0..1000).map(|i| Counted(format!("s{i}"))).collect();
    let empty: Gc<[Counted]> = Gc::from(Vec::new());
    gc_core::collect();
    assert_eq!(STRING_DROPS.load(Ordering::SeqCst), 0);
    drop((s, empty));
    gc_core::collect();
    assert_eq!(STRING_DROPS.load(Ordering::SeqCst), 1000);
}

static NODE_DROPS: AtomicUsize = AtomicUsize::new(0);

struct NodeCount;
impl Drop for NodeCount {
    fn drop(&mut self) {
        NODE_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Trace)]
struct Node {
    children: GcCell<Gc<[Gc<Node>]>>,
    id: u64,
    #[trace(skip)]
    _count: NodeCount,
}

fn node(id: u64) -> Gc<Node> {
    Gc::new(Node {
        children: GcCell::new(Gc::default()),
        id,
        _count: NodeCount,
    })
}

/// Slices of handles are traced (including one large enough to be its own span and
/// scanned in one piece by a background worker), keep their elements alive, and cycles
/// through them are collected.
#[test]
fn slices_of_handles_are_traced_and_cycles_through_them_freed() {
    let _alone = alone();
    let root = node(0);
    // 100,000 handles: 800 KiB, a large object.
    let kids: Gc<[Gc<Node>]> = (1..=100_000).map(node).collect();
    *root.children.borrow_mut() = kids.clone();
    drop(kids);
    // Each child points back at the root through a one-element slice: cycles.
    for k in root.children.borrow().iter().step_by(1000) {
        *k.children.borrow_mut() = Gc::from(vec![root.clone()]);
    }
    // Churn so collections (with assists) run while the graph is only reachable from root.
    for _ in 0..3 {
        let garbage: Vec<Gc<[u64]>> = (0..2000).map(|i| Gc::from(vec![i; 64])).collect();
        drop(garbage);
        gc_core::collect();
    }
    let ids: u64 = root.children.borrow().iter().map(|k| k.id).sum();
    assert_eq!(ids, 100_000 * 100_001 / 2);
    assert_eq!(root.children.borrow()[1000].children.borrow()[0].id, 0);
    let before = NODE_DROPS.load(Ordering::SeqCst);
    drop(root);
    gc_core::collect();
    gc_core::collect();
    assert_eq!(NODE_DROPS.load(Ordering::SeqCst) - before, 100_001);
}

#[test]
fn strings_shared_across_threads() {
    let _alone = alone();
    let words: Vec<Gc<str>> = (0..1000).map(|i| Gc::from(format!("word-{i}"))).collect();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let words = words.clone();
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for (i, w) in words.iter().enumerate() {
                    assert_eq!(&**w, format!("word-{i}"));
                    mine.push(Gc::<str>::from(format!("{t}:{w}")));
                }
                mine
            })
        })
        .collect();
    for (t, h) in threads.into_iter().enumerate() {
        let mine = h.join().unwrap();
        gc_core::collect();
        assert_eq!(&*mine[999], format!("{t}:word-999"));
    }
}

#[test]
#[should_panic(expected = "too large")]
fn a_slice_beyond_the_address_space_is_a_clear_panic() {
    let _alone = alone();
    let _ = Gc::<[u8]>::new_zeroed_slice(usize::MAX / 2);
}
