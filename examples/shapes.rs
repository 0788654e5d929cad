//! Trait objects in the collected heap: a small scene graph of `Gc<dyn Shape>` nodes.
//!
//! Groups hold their children as `Gc<dyn Shape>` handles (made with `gc_core::coerce_gc!`)
//! and their decorations as `Box<dyn Shape>`; a "portal" shape links back to the root, so
//! the graph has a cycle that runs through trait objects only. The program prints the
//! scene, downcasts an `Any` handle, then drops the scene and shows the collector freeing
//! the cycle, with the object counts from `gc_core::mem_stats()` and a drop counter.
//!
//! Run: `cargo run --release --example shapes`.

use gc_core::{coerce_gc, Gc, GcCell, Trace};
use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};

trait Shape: Trace + Send + Sync {
    /// Area of this shape and everything under it.
    fn area(&self) -> f64;
    fn describe(&self) -> String;
}

/// Shapes dropped so far (each shape holds a `Dropped` marker).
static DROPPED: AtomicUsize = AtomicUsize::new(0);

struct Dropped;
impl Drop for Dropped {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Trace)]
struct Circle {
    r: f64,
    #[trace(skip)]
    _d: Dropped,
}

#[derive(Trace)]
struct Rect {
    w: f64,
    h: f64,
    #[trace(skip)]
    _d: Dropped,
}

/// A group of child shapes (shared handles) and decorations (owned boxes).
#[derive(Trace)]
struct Group {
    name: String,
    children: GcCell<Vec<Gc<dyn Shape>>>,
    decorations: Vec<Box<dyn Shape>>,
    #[trace(skip)]
    _d: Dropped,
}

/// Links back to another shape: makes the scene cyclic.
#[derive(Trace)]
struct Portal {
    to: GcCell<Option<Gc<dyn Shape>>>,
    #[trace(skip)]
    _d: Dropped,
}

impl Shape for Circle {
    fn area(&self) -> f64 {
        std::f64::consts::PI * self.r * self.r
    }
    fn describe(&self) -> String {
        format!("circle r={}", self.r)
    }
}

impl Shape for Rect {
    fn area(&self) -> f64 {
        self.w * self.h
    }
    fn describe(&self) -> String {
        format!("rect {}x{}", self.w, self.h)
    }
}

impl Shape for Group {
    fn area(&self) -> f64 {
        let children: f64 = self.children.borrow().iter().map(|c| c.area()).sum();
        let decorations: f64 = self.decorations.iter().map(|d| d.area()).sum();
        children + decorations
    }
    fn describe(&self) -> String {
        format!(
            "group {:?}: {} children, {} decorations",
            self.name,
            self.children.borrow().len(),
            self.decorations.len()
        )
    }
}

impl Shape for Portal {
    /// A portal adds no area (following it would loop: the scene is cyclic).
    fn area(&self) -> f64 {
        0.0
    }
    fn describe(&self) -> String {
        match &*self.to.borrow() {
            Some(to) => format!("portal to {}", to.describe()),
            None => "portal to nowhere".into(),
        }
    }
}

fn circle(r: f64) -> Circle {
    Circle { r, _d: Dropped }
}

fn rect(w: f64, h: f64) -> Rect {
    Rect { w, h, _d: Dropped }
}

fn group(name: &str, decorations: Vec<Box<dyn Shape>>) -> Group {
    Group {
        name: name.into(),
        children: GcCell::new(Vec::new()),
        decorations,
        _d: Dropped,
    }
}

fn main() {
    gc_core::collect();
    let before = gc_core::mem_stats().heap_objects;

    // root -> [left, right, portal -> root]; left and right share one circle.
    let root = Gc::new(group("root", vec![Box::new(rect(10.0, 1.0))]));
    let shared: Gc<dyn Shape> = coerce_gc!(Gc::new(circle(1.0)));
    let left = Gc::new(group("left", vec![Box::new(circle(0.5))]));
    let right = Gc::new(group("right", vec![]));
    left.children.borrow_mut().push(shared.clone());
    right.children.borrow_mut().push(shared);
    right
        .children
        .borrow_mut()
        .push(coerce_gc!(Gc::new(rect(2.0, 3.0))));
    let portal = Gc::new(Portal {
        to: GcCell::new(None),
        _d: Dropped,
    });
    let root_dyn: Gc<dyn Shape> = coerce_gc!(root.clone());
    *portal.to.borrow_mut() = Some(root_dyn);
    {
        let mut children = root.children.borrow_mut();
        children.push(coerce_gc!(left));
        children.push(coerce_gc!(right));
        children.push(coerce_gc!(portal));
    }

    println!("{}", root.describe());
    for child in root.children.borrow().iter() {
        println!("  {}", child.describe());
    }
    println!("total area: {:.3}", root.area());

    // Survives collections while rooted: the cycle is reachable.
    gc_core::collect();
    gc_core::collect();
    let live = gc_core::mem_stats().heap_objects;
    println!(
        "after 2 collections, scene rooted: {} objects live ({} new), {} dropped",
        live,
        live.saturating_sub(before),
        DROPPED.load(Ordering::Relaxed)
    );
    assert_eq!(DROPPED.load(Ordering::Relaxed), 0);

    // An `Any` handle downcasts back to its concrete type.
    let any: Gc<dyn Any + Send + Sync> = coerce_gc!(Gc::new(String::from("label")));
    let any = any.downcast::<u32>().expect_err("a String is not a u32");
    let label: Gc<String> = any.downcast().expect("a String");
    println!("downcast: {label:?}");

    // Drop the last outside handle: only the cycle through the portal keeps the scene.
    let live = gc_core::mem_stats().heap_objects;
    drop(root);
    gc_core::collect();
    let after = gc_core::mem_stats().heap_objects;
    // 8 shapes with a `Dropped` marker: 6 heap objects (root, left, right, the shared
    // circle, the rect, the portal) and the boxed decorations of root and left.
    let dropped = DROPPED.load(Ordering::Relaxed);
    println!(
        "after dropping the scene: {} objects live, {} freed, {} shapes dropped",
        after,
        live.saturating_sub(after),
        dropped
    );
    assert_eq!(
        dropped, 8,
        "every shape of the cyclic scene was dropped once"
    );
}
