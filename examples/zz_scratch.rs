use gc_core::{Gc, GcCell, Trace};
use std::hint::black_box;
use std::time::Instant;
#[derive(Trace)]
#[allow(dead_code)]
enum Value {
    Nil,
    Num(f64),
    Obj(Gc<u64>),
}
#[inline(never)]
fn move_in_big(items: Vec<Gc<u64>>) -> Gc<Vec<Gc<u64>>> {
    Gc::new(items)
}
#[inline(never)]
fn move_in_small(items: Vec<Value>) -> Gc<GcCell<Vec<Value>>> {
    Gc::new(GcCell::new(items))
}
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(2_800_000, |s| s.parse().unwrap());
    let mut big = vec![];
    let mut small = vec![];
    for _ in 0..5 {
        let items: Vec<Gc<u64>> = (0..n as u64).map(Gc::new).collect();
        let t = Instant::now();
        let list = move_in_big(items);
        big.push(t.elapsed().as_secs_f64() * 1e3);
        drop(list);
        // lists of 500 values, each built from fresh objects, moved into cells
        let mut ms = 0.0;
        let mut keep = Vec::new();
        for k in 0..(n / 500) {
            let items: Vec<Value> = (0..500u64)
                .map(|i| Value::Obj(Gc::new(i + k as u64)))
                .collect();
            let t = Instant::now();
            keep.push(move_in_small(items));
            ms += t.elapsed().as_secs_f64() * 1e3;
            if keep.len() > 100 {
                keep.clear();
            }
        }
        black_box(&keep);
        small.push(ms);
        gc_core::collect();
    }
    big.sort_by(f64::total_cmp);
    small.sort_by(f64::total_cmp);
    println!(
        "n={n} big_move_in_ms={:.2} small_lists_move_in_ms={:.2}",
        big[2], small[2]
    );
}
