// A `GcCell` guard is `!Send`: the lock records which thread holds it, and the guard must
// be released on that thread (like std's `RwLock` guards).
use gc_core::GcCell;

fn main() {
    let cell = GcCell::new(1u64);
    let read = cell.borrow();
    std::thread::scope(|s| {
        s.spawn(move || drop(read));
    });
    let write = cell.borrow_mut();
    std::thread::scope(|s| {
        s.spawn(move || drop(write));
    });
}
