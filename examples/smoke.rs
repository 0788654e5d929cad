use gc_core::{Gc, GcCell, Trace};

#[derive(Trace)]
struct Node {
    next: GcCell<Option<Gc<Node>>>,
    v: u64,
}

fn main() {
    let mut head = Gc::new(Node { next: GcCell::new(None), v: 0 });
    for i in 1..1_000_000u64 {
        let n = Gc::new(Node { next: GcCell::new(Some(head.clone())), v: i });
        head = n;
        if i % 100_000 == 0 {
            let s = gc_core::mem_stats();
            println!("i={i} heap_alloc={} objects={} num_gc={}", s.heap_alloc, s.heap_objects, s.num_gc);
        }
    }
    let mut sum = 0;
    let mut cur = Some(head.clone());
    while let Some(n) = cur {
        sum += n.v;
        cur = n.next.borrow().clone();
    }
    println!("sum={sum}");
    drop(head);
    gc_core::collect();
    let s = gc_core::mem_stats();
    println!("after: heap_alloc={} objects={} num_gc={} pause_total={}us", s.heap_alloc, s.heap_objects, s.num_gc, s.pause_total_ns/1000);
}
