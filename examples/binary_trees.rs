//! The Benchmarks Game binary-trees workload, six ways: `Gc` (this crate), `Box`, `Arc`,
//! and the peer crates rust-gc (`gc::Gc`), dumpster (`dumpster::unsync::Gc`) and gc-arena
//! (one arena per thread, one `mutate` call per tree, `collect_debt` after each).
//!
//! ```text
//! cargo run --release --example binary_trees -- [depth] [--impl IMPL|all] [--threads N]
//! IMPL: gc|box|arc|rust-gc|dumpster|gc-arena
//! ```
//!
//! `depth` defaults to 18, `--impl` to `gc`, `--threads` to 1 (with N > 1 the iterations of
//! each depth are split across N scoped threads, as the Benchmarks Game's parallel entries
//! do; the peers' collectors are per thread, each thread's trees stay on it). `--impl all`
//! runs each of them one after another, each in its own child process (the collected heap is
//! global, and peak RSS is per process).
//!
//! Output: the standard lines (stretch tree, iterations/check per depth, long lived tree),
//! then one summary line:
//!
//! ```text
//! impl=gc depth=18 time_ms=.. peak_rss_mb=.. cycles=.. pause_total_ms=.. max_pause_ms=.. peak_heap_mb=.. threads=1
//! ```
//!
//! `peak_rss_mb` is the process's `VmHWM`; `cycles` and the pauses come from
//! `gc_core::mem_stats()`; `peak_heap_mb` is the largest `heap_inuse` seen by sampling
//! `mem_stats()` at most ~32 times per depth (it stops allocation briefly, so it is never
//! called per node). For the other implementations the collector columns are `-`.

mod common;

use gc_core::{Gc, Trace};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::Instant;

const MIN_DEPTH: u32 = 4;

/// The tree node, one pointer type per implementation (`$import` brings a peer's `Gc`). All
/// have a 16-byte payload.
macro_rules! tree_impl {
    ($m:ident, $ptr:ident, [$($derive:path),*] $(, $import:item)?) => {
        // rust-gc's derives wrap their impls in a `const` block, which rustc warns about.
        #[allow(non_local_definitions)]
        mod $m {
            #[allow(unused_imports)]
            use super::*;
            $($import)?

            #[derive($($derive),*)]
            pub struct Node {
                pub(crate) left: Option<$ptr<Node>>,
                pub(crate) right: Option<$ptr<Node>>,
            }

            /// A complete tree of `depth` levels below the root, built bottom-up.
            pub fn bottom_up(depth: u32) -> $ptr<Node> {
                if depth == 0 {
                    $ptr::new(Node { left: None, right: None })
                } else {
                    $ptr::new(Node {
                        left: Some(bottom_up(depth - 1)),
                        right: Some(bottom_up(depth - 1)),
                    })
                }
            }

            /// Number of nodes.
            pub fn check(n: &Node) -> u64 {
                match (&n.left, &n.right) {
                    (Some(l), Some(r)) => 1 + check(l) + check(r),
                    _ => 1,
                }
            }

            pub fn stretch(depth: u32) -> u64 {
                check(&bottom_up(depth))
            }

            pub fn long_lived(depth: u32) -> $ptr<Node> {
                bottom_up(depth)
            }

            pub fn long_lived_check(t: &$ptr<Node>) -> u64 {
                check(t)
            }

            /// Builds and checks `iterations` trees of `depth`, calling `sample` every
            /// `sample_every` trees.
            pub fn iterate(iterations: u64, depth: u32, sample_every: u64, sample: &(dyn Fn() + Sync)) -> u64 {
                let mut sum = 0;
                for i in 0..iterations {
                    sum += check(&bottom_up(depth));
                    if (i + 1) % sample_every == 0 {
                        sample();
                    }
                }
                sum
            }
        }
    };
}

tree_impl!(gc_tree, Gc, [Trace]);
tree_impl!(box_tree, Box, []);
tree_impl!(arc_tree, Arc, []);
tree_impl!(rust_gc_tree, Gc, [gc::Trace, gc::Finalize], use gc::Gc;);
tree_impl!(dumpster_tree, Gc, [], use dumpster::unsync::Gc;);

// dumpster's derive cannot expand inside `tree_impl!` (it pairs the macro's field names with
// a `self` of its own), so its node's impl is written out.
// SAFETY: visits every `Gc` the node holds: its two children.
unsafe impl<V: dumpster::Visitor> dumpster::TraceWith<V> for dumpster_tree::Node {
    fn accept(&self, visitor: &mut V) -> Result<(), ()> {
        dumpster::TraceWith::accept(&self.left, visitor)?;
        dumpster::TraceWith::accept(&self.right, visitor)
    }
}

/// gc-arena, whose collector runs only between `mutate` calls and whose handles cannot leave
/// them: one arena per thread (in a thread-local), one `mutate` call per tree and
/// `collect_debt` after each, the long-lived tree in the arena's root.
mod arena_tree {
    use gc_arena::{Arena, Collect, Gc, Mutation, Rootable};
    use std::cell::RefCell;

    #[derive(Collect)]
    #[collect(no_drop)]
    struct Node<'gc> {
        left: Option<Gc<'gc, Node<'gc>>>,
        right: Option<Gc<'gc, Node<'gc>>>,
    }

    fn bottom_up<'gc>(mc: &Mutation<'gc>, depth: u32) -> Gc<'gc, Node<'gc>> {
        let (left, right) = if depth == 0 {
            (None, None)
        } else {
            (
                Some(bottom_up(mc, depth - 1)),
                Some(bottom_up(mc, depth - 1)),
            )
        };
        Gc::new(mc, Node { left, right })
    }

    fn check(n: &Node<'_>) -> u64 {
        match (n.left, n.right) {
            (Some(l), Some(r)) => 1 + check(&l) + check(&r),
            _ => 1,
        }
    }

    #[derive(Collect)]
    #[collect(no_drop)]
    struct Root<'gc> {
        long_lived: Option<Gc<'gc, Node<'gc>>>,
    }

    type TreeArena = Arena<Rootable![Root<'_>]>;

    thread_local! {
        static ARENA: RefCell<TreeArena> = RefCell::new(Arena::new(|_| Root { long_lived: None }));
    }

    /// Builds and checks one tree in its own `mutate` call, then lets the collector work.
    fn one_tree(depth: u32) -> u64 {
        ARENA.with_borrow_mut(|a| {
            let sum = a.mutate(|mc, _| check(&bottom_up(mc, depth)));
            a.collect_debt();
            sum
        })
    }

    pub fn stretch(depth: u32) -> u64 {
        one_tree(depth)
    }

    /// Keeps a tree in the calling thread's arena's root.
    pub fn long_lived(depth: u32) {
        ARENA.with_borrow_mut(|a| {
            a.mutate_root(|mc, root| root.long_lived = Some(bottom_up(mc, depth)));
            a.collect_debt();
        })
    }

    pub fn long_lived_check() -> u64 {
        ARENA.with_borrow(|a| a.mutate(|_, root| root.long_lived.map_or(0, |t| check(&t))))
    }

    pub fn iterate(
        iterations: u64,
        depth: u32,
        sample_every: u64,
        sample: &(dyn Fn() + Sync),
    ) -> u64 {
        let mut sum = 0;
        for i in 0..iterations {
            sum += one_tree(depth);
            if (i + 1) % sample_every == 0 {
                sample();
            }
        }
        sum
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Impl {
    Gc,
    Box,
    Arc,
    RustGc,
    Dumpster,
    GcArena,
}

impl Impl {
    /// Every implementation, in the order `--impl all` runs them.
    const ALL: [Impl; 6] = [
        Impl::Box,
        Impl::Arc,
        Impl::Gc,
        Impl::RustGc,
        Impl::Dumpster,
        Impl::GcArena,
    ];

    fn name(self) -> &'static str {
        match self {
            Impl::Gc => "gc",
            Impl::Box => "box",
            Impl::Arc => "arc",
            Impl::RustGc => "rust-gc",
            Impl::Dumpster => "dumpster",
            Impl::GcArena => "gc-arena",
        }
    }
}

struct Args {
    depth: u32,
    imp: Option<Impl>, // None = all
    threads: usize,
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("binary_trees: {msg}");
    eprintln!(
        "usage: binary_trees [depth] [--impl gc|box|arc|rust-gc|dumpster|gc-arena|all] \
         [--threads N]"
    );
    ExitCode::from(2)
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        depth: 18,
        imp: Some(Impl::Gc),
        threads: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--impl" => {
                let v = it.next().ok_or("--impl needs a value")?;
                args.imp = match Impl::ALL.into_iter().find(|i| i.name() == v) {
                    Some(i) => Some(i),
                    None if v == "all" => None,
                    None => return Err(format!("unknown impl {v:?}")),
                };
            }
            "--threads" => {
                let v = it.next().ok_or("--threads needs a value")?;
                args.threads = common::parse_value(&v, "thread count", |&n| n >= 1)?;
            }
            _ => args.depth = a.parse().map_err(|_| format!("bad depth {a:?}"))?,
        }
    }
    Ok(args)
}

fn run(imp: Impl, depth: u32, threads: usize) {
    let max_depth = depth.max(MIN_DEPTH + 2);
    let stretch_depth = max_depth + 1;
    let is_gc = imp == Impl::Gc;
    let noop = || {};
    let sample: &(dyn Fn() + Sync) = if is_gc { &common::sample_gc } else { &noop };
    let start = Instant::now();

    let check = match imp {
        Impl::Gc => gc_tree::stretch(stretch_depth),
        Impl::Box => box_tree::stretch(stretch_depth),
        Impl::Arc => arc_tree::stretch(stretch_depth),
        Impl::RustGc => rust_gc_tree::stretch(stretch_depth),
        Impl::Dumpster => dumpster_tree::stretch(stretch_depth),
        Impl::GcArena => arena_tree::stretch(stretch_depth),
    };
    println!("stretch tree of depth {stretch_depth}\t check: {check}");
    sample();

    // Keep the long-lived tree alive (and its type erased) until the end.
    enum LongLived {
        Gc(Gc<gc_tree::Node>),
        Box(Box<box_tree::Node>),
        Arc(Arc<arc_tree::Node>),
        RustGc(gc::Gc<rust_gc_tree::Node>),
        Dumpster(dumpster::unsync::Gc<dumpster_tree::Node>),
        /// In the main thread's arena.
        GcArena,
    }
    let long = match imp {
        Impl::Gc => LongLived::Gc(gc_tree::long_lived(max_depth)),
        Impl::Box => LongLived::Box(box_tree::long_lived(max_depth)),
        Impl::Arc => LongLived::Arc(arc_tree::long_lived(max_depth)),
        Impl::RustGc => LongLived::RustGc(rust_gc_tree::long_lived(max_depth)),
        Impl::Dumpster => LongLived::Dumpster(dumpster_tree::long_lived(max_depth)),
        Impl::GcArena => {
            arena_tree::long_lived(max_depth);
            LongLived::GcArena
        }
    };

    for d in (MIN_DEPTH..=max_depth).step_by(2) {
        let iterations = 1u64 << (max_depth - d + MIN_DEPTH);
        let per_thread = iterations.div_ceil(threads as u64);
        let iterate = |n: u64| {
            let every = (n / 32).max(1);
            match imp {
                Impl::Gc => gc_tree::iterate(n, d, every, sample),
                Impl::Box => box_tree::iterate(n, d, every, sample),
                Impl::Arc => arc_tree::iterate(n, d, every, sample),
                Impl::RustGc => rust_gc_tree::iterate(n, d, every, sample),
                Impl::Dumpster => dumpster_tree::iterate(n, d, every, sample),
                Impl::GcArena => arena_tree::iterate(n, d, every, sample),
            }
        };
        let check: u64 = if threads == 1 {
            iterate(iterations)
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads as u64)
                    .map(|t| {
                        let lo = (t * per_thread).min(iterations);
                        let hi = ((t + 1) * per_thread).min(iterations);
                        s.spawn(move || iterate(hi - lo))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("worker panicked"))
                    .sum()
            })
        };
        println!("{iterations}\t trees of depth {d}\t check: {check}");
        sample();
    }

    let check = match &long {
        LongLived::Gc(t) => gc_tree::long_lived_check(t),
        LongLived::Box(t) => box_tree::long_lived_check(t),
        LongLived::Arc(t) => arc_tree::long_lived_check(t),
        LongLived::RustGc(t) => rust_gc_tree::long_lived_check(t),
        LongLived::Dumpster(t) => dumpster_tree::long_lived_check(t),
        LongLived::GcArena => arena_tree::long_lived_check(),
    };
    println!("long lived tree of depth {max_depth}\t check: {check}");
    sample();
    let elapsed = start.elapsed();
    drop(long);

    let rss = common::peak_rss_field();
    let [cycles, pause_total, max_pause, peak_heap] = common::gc_fields(is_gc);
    println!(
        "impl={} depth={depth} time_ms={:.1} peak_rss_mb={rss} cycles={cycles} pause_total_ms={pause_total} \
         max_pause_ms={max_pause} peak_heap_mb={peak_heap} threads={threads}",
        imp.name(),
        elapsed.as_secs_f64() * 1e3,
    );
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => return usage(&e),
    };
    match args.imp {
        Some(imp) => {
            run(imp, args.depth, args.threads);
            ExitCode::SUCCESS
        }
        None => {
            // One child process per implementation: separate heaps, separate peak RSS.
            let exe = match std::env::current_exe() {
                Ok(e) => e,
                Err(e) => return usage(&format!("cannot find own executable: {e}")),
            };
            for imp in Impl::ALL {
                let status = Command::new(&exe)
                    .arg(args.depth.to_string())
                    .args(["--impl", imp.name(), "--threads", &args.threads.to_string()])
                    .status();
                match status {
                    Ok(s) if s.success() => {}
                    Ok(s) => {
                        eprintln!("binary_trees: --impl {} failed: {s}", imp.name());
                        return ExitCode::FAILURE;
                    }
                    Err(e) => {
                        eprintln!("binary_trees: cannot run --impl {}: {e}", imp.name());
                        return ExitCode::FAILURE;
                    }
                }
            }
            ExitCode::SUCCESS
        }
    }
}
