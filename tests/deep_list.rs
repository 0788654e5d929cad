//! A 10-million-node list is marked and freed on a small thread stack: marking uses an
//! explicit work list, never recursion (the failure of rust-gc #161).

use gc_core::{Gc, Trace};
use std::sync::atomic::{AtomicUsize, Ordering};

static DROPS: AtomicUsize = AtomicUsize::new(0);

struct Count;
impl Drop for Count {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Trace)]
struct Link {
    next: Option<Gc<Link>>,
    #[trace(skip)]
    _c: Count,
}

#[test]
fn ten_million_node_list_on_a_64k_stack() {
    const N: usize = 10_000_000;
    let t = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(|| {
            let mut head: Option<Gc<Link>> = None;
            for _ in 0..N {
                head = Some(Gc::new(Link {
                    next: head.take(),
                    _c: Count,
                }));
            }
            gc_core::collect();
            assert_eq!(
                DROPS.load(Ordering::Relaxed),
                0,
                "a reachable link was dropped"
            );
            let mut len = 0;
            let mut cur = head.as_ref();
            while let Some(l) = cur {
                len += 1;
                cur = l.next.as_ref();
            }
            assert_eq!(len, N);
            drop(head);
            gc_core::collect();
            assert_eq!(DROPS.load(Ordering::Relaxed), N);
        })
        .unwrap();
    t.join().unwrap();
}
