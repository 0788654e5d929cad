//! Trait objects on stable Rust: `Box<dyn Shape>` and `Vec<Box<dyn Shape>>` fields are
//! traced, `Gc<dyn Shape>` (made with `coerce_gc!`) behaves like any handle, and
//! `Gc<dyn Any + Send + Sync>` downcasts.

mod common;

use gc_core::{coerce_gc, Gc, GcCell, Trace};
use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

trait Shape: Trace + Send + Sync {
    fn area(&self) -> f64;
    fn name(&self) -> String;
    /// The area of everything reachable from this shape (a `Link` follows its target).
    fn total_area(&self) -> f64 {
        self.area()
    }
    /// Points this shape at `to`, for shapes that hold a link (others ignore it).
    fn link_to(&self, _to: Gc<dyn Shape>) {}
}

/// Counts its drops (held in a `#[trace(skip)]` field).
use common::Counted;

#[derive(Trace)]
struct Circle {
    r: f64,
    #[trace(skip)]
    _c: Option<Counted>,
}

impl Shape for Circle {
    fn area(&self) -> f64 {
        3.0 * self.r * self.r
    }
    fn name(&self) -> String {
        format!("circle {}", self.r)
    }
}

/// A shape that refers to another heap object: a `Gc` behind a trait object.
#[derive(Trace)]
struct Link {
    to: GcCell<Option<Gc<Group>>>,
    #[trace(skip)]
    _c: Counted,
}

impl Shape for Link {
    fn area(&self) -> f64 {
        0.0
    }
    fn name(&self) -> String {
        "link".into()
    }
    fn total_area(&self) -> f64 {
        let to = self.to.borrow();
        let group = to.as_ref().expect("linked");
        let total = group.shapes.borrow().iter().map(|s| s.total_area()).sum();
        total
    }
}

/// A group of boxed trait objects.
#[derive(Trace)]
struct Group {
    shapes: GcCell<Vec<Box<dyn Shape>>>,
    #[trace(skip)]
    _c: Option<Counted>,
}

fn circle(r: f64) -> Circle {
    Circle { r, _c: None }
}

#[test]
fn a_cycle_through_box_dyn_fields_is_freed() {
    let drops = Arc::new(AtomicUsize::new(0));
    let group = |d: &Arc<AtomicUsize>| {
        Gc::new(Group {
            shapes: GcCell::new(Vec::new()),
            _c: Some(Counted(d.clone())),
        })
    };
    let (a, b) = (group(&drops), group(&drops));
    // a -> Box<dyn Shape>(Link -> b) -> Box<dyn Shape>(Link -> a): the only edges of the
    // cycle go through trait objects.
    let link = |to: &Gc<Group>| -> Box<dyn Shape> {
        Box::new(Link {
            to: GcCell::new(Some(to.clone())),
            _c: Counted(drops.clone()),
        })
    };
    a.shapes.borrow_mut().push(link(&b));
    b.shapes.borrow_mut().push(link(&a));
    gc_core::collect();
    assert_eq!(drops.load(Ordering::SeqCst), 0, "a rooted cycle is kept");
    drop((a, b));
    gc_core::collect();
    // Two groups and the two links inside their boxes.
    assert_eq!(drops.load(Ordering::SeqCst), 4);
    gc_core::collect();
    assert_eq!(drops.load(Ordering::SeqCst), 4, "a Drop ran twice");
}

#[test]
fn objects_reachable_only_through_vec_box_dyn_survive() {
    let g = Gc::new(Group {
        shapes: GcCell::new(Vec::new()),
        _c: None,
    });
    for i in 0..200 {
        let target = Gc::new(Group {
            shapes: GcCell::new(vec![Box::new(circle(i as f64)) as Box<dyn Shape>]),
            _c: None,
        });
        // The only handle to `target` goes into the trait object, then into the heap.
        let shape: Box<dyn Shape> = Box::new(Link {
            to: GcCell::new(Some(target)),
            _c: Counted(Arc::new(AtomicUsize::new(0))),
        });
        g.shapes.borrow_mut().push(shape);
    }
    // Allocate garbage in between so freed slots would be reused and overwritten.
    for _ in 0..3 {
        gc_core::collect();
        for i in 0..10_000u64 {
            drop(Gc::new([i; 4]));
        }
    }
    let shapes = g.shapes.borrow();
    assert_eq!(shapes.len(), 200);
    // Each target is reached through the trait object only: its circle is intact.
    for (i, s) in shapes.iter().enumerate() {
        assert_eq!(s.name(), "link");
        assert_eq!(s.total_area(), 3.0 * (i * i) as f64);
    }
}

/// Boxed trait objects and trait-object handles side by side.
#[derive(Trace)]
struct Holder {
    shapes: Vec<Box<dyn Shape>>,
    targets: Vec<Gc<dyn Shape>>,
}

#[test]
fn boxed_and_gc_trait_objects_in_one_heap_object_survive_collect() {
    let h = Gc::new(Holder {
        shapes: (0..100)
            .map(|i| Box::new(circle(i as f64)) as Box<dyn Shape>)
            .collect(),
        // Handles made here are rooted; `Gc::new` turns them into edges of `h`.
        targets: (0..100)
            .map(|i| -> Gc<dyn Shape> { coerce_gc!(Gc::new(circle(1000.0 + i as f64))) })
            .collect(),
    });
    for _ in 0..3 {
        gc_core::collect();
        for i in 0..10_000u64 {
            drop(Gc::new((i, i + 1, i + 2)));
        }
    }
    for (i, s) in h.shapes.iter().enumerate() {
        assert_eq!(s.name(), format!("circle {}", i as f64));
    }
    for (i, t) in h.targets.iter().enumerate() {
        assert_eq!(t.name(), format!("circle {}", 1000.0 + i as f64));
        assert_eq!(t.area(), 3.0 * (1000.0 + i as f64).powi(2));
    }
}

#[test]
fn gc_dyn_calls_clones_compares_survives_and_is_freed() {
    let drops = Arc::new(AtomicUsize::new(0));
    let c = Gc::new(Circle {
        r: 2.0,
        _c: Some(Counted(drops.clone())),
    });
    let addr = Gc::as_ptr(&c).cast::<u8>();
    let s: Gc<dyn Shape> = coerce_gc!(c);
    assert_eq!(Gc::as_ptr(&s).cast::<u8>(), addr, "same object");
    assert_eq!(s.area(), 12.0);
    assert_eq!(s.name(), "circle 2");
    let t = s.clone();
    assert!(Gc::ptr_eq(&s, &t));
    let other: Gc<dyn Shape> = coerce_gc!(Gc::new(circle(2.0)));
    assert!(!Gc::ptr_eq(&s, &other));
    drop(s);
    gc_core::collect();
    assert_eq!(drops.load(Ordering::SeqCst), 0, "the clone keeps it alive");
    assert_eq!(t.area(), 12.0);
    drop(t);
    gc_core::collect();
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "freed once the last handle is dropped"
    );
}

#[test]
fn gc_dyn_stored_as_an_edge_and_loaded_back() {
    let cell: Gc<GcCell<Option<Gc<dyn Shape>>>> = Gc::new(GcCell::new(None));
    *cell.borrow_mut() = Some(coerce_gc!(Gc::new(circle(5.0))));
    gc_core::collect(); // the unroot pass turns the stored handle into an edge
    gc_core::collect();
    for i in 0..10_000u64 {
        drop(Gc::new([i; 2]));
    }
    let loaded: Gc<dyn Shape> = cell.borrow().clone().expect("stored");
    *cell.borrow_mut() = None;
    gc_core::collect();
    assert_eq!(loaded.area(), 75.0);
    assert_eq!(loaded.name(), "circle 5");
}

#[test]
fn downcast_ok_and_err_move_the_handle() {
    let a: Gc<dyn Any + Send + Sync> = coerce_gc!(Gc::new(String::from("text")));
    let keep = a.clone();
    // Wrong type: the original handle comes back, usable.
    let a = match a.downcast::<u32>() {
        Ok(_) => panic!("a String is not a u32"),
        Err(a) => a,
    };
    assert!(Gc::ptr_eq(&a, &keep));
    assert!(a.is::<String>());
    let s: Gc<String> = a.downcast::<String>().expect("it is a String");
    assert_eq!(*s, "text");
    assert_eq!(Gc::as_ptr(&s).cast::<u8>(), Gc::as_ptr(&keep).cast::<u8>());
    drop(keep);
    gc_core::collect();
    assert_eq!(*s, "text", "the downcast handle holds its own root");
}

/// A shape pointing at another shape through a `Gc<dyn Shape>`.
#[derive(Trace)]
struct Ring {
    next: GcCell<Option<Gc<dyn Shape>>>,
    #[trace(skip)]
    _c: Counted,
}

impl Shape for Ring {
    fn area(&self) -> f64 {
        1.0
    }
    fn name(&self) -> String {
        "ring".into()
    }
    fn link_to(&self, to: Gc<dyn Shape>) {
        *self.next.borrow_mut() = Some(to);
    }
}

#[test]
fn box_dyn_becomes_gc_dyn_of_the_concrete_type() {
    let drops = Arc::new(AtomicUsize::new(0));
    let boxed: Box<dyn Shape> = Box::new(Circle {
        r: 3.0,
        _c: Some(Counted(drops.clone())),
    });
    let s: Gc<dyn Shape> = Gc::from(boxed);
    assert_eq!((s.area(), s.name()), (27.0, "circle 3".to_string()));
    gc_core::collect();
    assert_eq!(drops.load(Ordering::SeqCst), 0, "moved, not dropped");
    assert_eq!(s.area(), 27.0);
    drop(s);
    gc_core::collect();
    assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped once, as a Circle");
}

#[test]
fn a_cycle_through_handles_from_boxes_is_freed() {
    let drops = Arc::new(AtomicUsize::new(0));
    let ring = |next: Option<Gc<dyn Shape>>| -> Box<dyn Shape> {
        Box::new(Ring {
            next: GcCell::new(next),
            _c: Counted(drops.clone()),
        })
    };
    let a: Gc<dyn Shape> = Gc::from(ring(None));
    // `b` is moved in from a box that holds a (rooted) handle to `a`: the move makes it an
    // edge of the new object, so `a` is rooted by its own handle only.
    let b: Gc<dyn Shape> = Gc::from(ring(Some(a.clone())));
    #[cfg(debug_assertions)]
    assert_eq!(gc_core::__private::root_count_for_test(&a), 1);
    a.link_to(b.clone()); // a -> b -> a
    gc_core::collect();
    assert_eq!(drops.load(Ordering::SeqCst), 0, "a rooted cycle is kept");
    assert_eq!(a.total_area() + b.total_area(), 2.0);
    drop((a, b));
    gc_core::collect();
    assert_eq!(drops.load(Ordering::SeqCst), 2, "the cycle is garbage");
}

/// A dynamically sized type of the user's own: no conversion knows its layout.
struct Tail<T: ?Sized> {
    n: u32,
    tail: T,
}

// SAFETY: plain numbers, no `Gc` inside.
unsafe impl<T: ?Sized> Trace for Tail<T> {
    fn trace(&self, _: &mut gc_core::Tracer) {}
    unsafe fn root(&mut self) {}
    unsafe fn unroot(&mut self) {}
}

#[test]
#[should_panic(expected = "custom dynamically sized type")]
fn a_custom_dst_box_is_refused_with_a_clear_panic() {
    let b: Box<Tail<[u64]>> = Box::new(Tail {
        n: 1,
        tail: [1u64, 2],
    });
    assert_eq!(b.n + b.tail.len() as u32, 3);
    let _g: Gc<Tail<[u64]>> = Gc::from(b);
}
