//! A picture of the heap, drawn from `gc_core::debug::heap_snapshot()`: a map of every
//! page of the arenas, and a timeline of the last cycles of a churning workload. Both as
//! PNG and SVG.
//!
//! ```text
//! cargo run --release --example heap_picture -- [--out DIR] [--quick]
//! ```
//!
//! The workload: two threads build and drop binary trees, small noscan arrays and strings,
//! and keep a few large buffers and a scattered fraction of their small objects (so spans
//! stay partly full) while a third thread samples `heap_snapshot()` every 2 ms. Then most
//! of it is dropped, `free_os_memory()` releases every free page, a little is allocated
//! and half of that dropped again, so the final map shows in-use spans, free pages and
//! released pages side by side.
//!
//! Writes `heap_map.{png,svg}` and `heap_timeline.{png,svg}` in `--out` (default
//! `target/heap_picture`). `--quick` runs a small workload in a few seconds (CI).
//!
//! Text goes through plotters' pure-Rust `ab_glyph` rasterizer with the DejaVu Sans subset
//! vendored for `buffer_churn` (`examples/buffer_churn/font/`).

#[path = "common/mod.rs"]
mod common;

use common::write_png;
use gc_core::debug::{heap_snapshot, CycleRecord, HeapSnapshot, InUseSpan, PageState};
use gc_core::{Gc, GcCell, Trace};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Res<T = ()> = Result<T, Box<dyn Error>>;

const FAMILY: &str = "sans-serif";
static FONT: &[u8] = include_bytes!("buffer_churn/font/DejaVuSans-subset.ttf");

// ---------------------------------------------------------------------------------------
// The workload.

#[derive(Trace)]
struct Node {
    left: Option<Gc<Node>>,
    right: Option<Gc<Node>>,
}

fn tree(depth: u32) -> Gc<Node> {
    let (left, right) = if depth == 0 {
        (None, None)
    } else {
        (Some(tree(depth - 1)), Some(tree(depth - 1)))
    };
    Gc::new(Node { left, right })
}

/// What a churning thread keeps: a scattered fraction of what it allocated.
#[derive(Default)]
struct Kept {
    /// Held only to stay alive: a long-lived tree of scan spans.
    _long_lived: Option<Gc<Node>>,
    trees: Vec<Gc<Node>>,
    arrays: Vec<Gc<[u64; 40]>>,
    words: Vec<Gc<[u64; 3]>>,
    texts: Vec<Gc<GcCell<String>>>,
    large: Vec<Gc<[u8]>>,
}

/// xorshift64.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Keeps `v` in `into`, replacing a random element once it holds `cap`: the survivors stay
/// scattered over many spans, and the live heap levels off.
fn keep<T>(into: &mut Vec<T>, v: T, cap: usize, rng: &mut Rng) {
    if into.len() < cap {
        into.push(v);
    } else {
        let i = (rng.next() % cap as u64) as usize;
        into[i] = v;
    }
}

fn churn(seed: u64, until: Instant, depth: u32, cap: usize) -> Kept {
    let mut rng = Rng(seed | 1);
    let mut kept = Kept {
        _long_lived: Some(tree(depth)),
        ..Kept::default()
    };
    let mut ring: Vec<Gc<[u8]>> = Vec::new();
    while Instant::now() < until {
        drop(tree(8));
        for i in 0..200u64 {
            let a = Gc::new([i; 40]); // 320 B, noscan
            let w = Gc::new([i; 3]); // 24 B, noscan
            if rng.next().is_multiple_of(23) {
                keep(&mut kept.arrays, a, cap, &mut rng);
            }
            if rng.next().is_multiple_of(17) {
                keep(&mut kept.words, w, cap, &mut rng);
            }
        }
        let t = Gc::new(GcCell::new(format!("text {}", rng.next())));
        if rng.next().is_multiple_of(5) {
            keep(&mut kept.texts, t, cap / 4, &mut rng);
        }
        if rng.next().is_multiple_of(4) {
            // 40 KiB to 600 KiB: a large object, its own span.
            let len = 40_000 + (rng.next() % 560_000) as usize;
            ring.push(Gc::<[u8]>::new_zeroed_slice(len));
            if ring.len() > 12 {
                let old = ring.remove((rng.next() % 12) as usize);
                if rng.next().is_multiple_of(8) {
                    keep(&mut kept.large, old, 16, &mut rng);
                }
            }
        }
        if rng.next().is_multiple_of(64) {
            keep(&mut kept.trees, tree(6), 64, &mut rng);
        }
    }
    kept
}

/// One sample of the heap over time (from a snapshot).
#[derive(Clone, Copy)]
struct Sample {
    t_ns: u64,
    alloc: u64,
    released: u64,
    inuse: u64,
}

struct Run {
    final_snap: HeapSnapshot,
    samples: Vec<Sample>,
    /// The churn phase, in runtime nanoseconds.
    churn: (u64, u64),
    snapshot_us: Vec<f64>,
    /// Median time of a snapshot of the final heap, nothing else running.
    quiet_us: f64,
}

fn run_workload(quick: bool) -> Run {
    let (seconds, depth, cap) = if quick {
        (0.8, 12, 8_000)
    } else {
        (3.0, 16, 30_000)
    };
    let t0 = heap_snapshot().taken_ns;
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let done = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let snapshot_us = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let (done, samples, snapshot_us) = (done.clone(), samples.clone(), snapshot_us.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let start = Instant::now();
                let s = heap_snapshot();
                snapshot_us
                    .lock()
                    .unwrap()
                    .push(start.elapsed().as_secs_f64() * 1e6);
                samples.lock().unwrap().push(Sample {
                    t_ns: s.taken_ns,
                    alloc: s.allocated_bytes().unwrap_or(0),
                    released: s.heap_released(),
                    inuse: s.heap_inuse(),
                });
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let workers: Vec<_> = (0..2u64)
        .map(|i| std::thread::spawn(move || churn(0x9E37_79B9 + i, until, depth, cap)))
        .collect();
    let mut kept: Vec<Kept> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let t1 = heap_snapshot().taken_ns;

    // The freeing phase: most of it goes, every free page goes back to the OS ...
    for k in &mut kept {
        k.large.clear();
        k.trees.clear();
        let n = k.arrays.len();
        k.arrays.truncate(n / 3);
        k.texts.clear();
    }
    gc_core::free_os_memory();
    // ... then a little more is allocated (out of released pages), and half of it dropped:
    // its spans fall free but stay backed.
    let mut more: Vec<Gc<[u64; 128]>> = (0..6_000).map(|i| Gc::new([i; 128])).collect();
    let mut big: Vec<Gc<[u8]>> = (0..24)
        .map(|i| Gc::<[u8]>::new_zeroed_slice(100_000 + i * 10_000))
        .collect();
    more.truncate(2_000);
    big.retain(|b| b.len() % 20_000 == 0);
    gc_core::collect();
    let final_snap = heap_snapshot();
    // The cost of a snapshot of this heap, on a quiet heap.
    let mut quiet_us: Vec<f64> = (0..11)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(heap_snapshot());
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    quiet_us.sort_by(f64::total_cmp);
    drop((kept, more, big));
    let samples = std::mem::take(&mut *samples.lock().unwrap());
    let snapshot_us = std::mem::take(&mut *snapshot_us.lock().unwrap());
    Run {
        final_snap,
        samples,
        churn: (t0, t1),
        snapshot_us,
        quiet_us: quiet_us[quiet_us.len() / 2],
    }
}

// ---------------------------------------------------------------------------------------
// Drawing, on any plotters backend.

/// Pages per row of the map, and pixels per page.
const COLS: usize = 128;
const CELL: i32 = 6;
const MAP_LEFT: i32 = 20;
const MAP_TOP: i32 = 50;
const MAP_LEGEND: i32 = 300;
const MAP_WIDTH: u32 = (MAP_LEFT + COLS as i32 * CELL + 20 + MAP_LEGEND) as u32;

/// Colour of a span of `class` whose allocated share is `occupancy`: hue by size class
/// (scan: reds to greens, noscan: cyans to violets), darker the fuller; large objects
/// brown (scan) or navy (noscan).
fn class_color(class: usize, noscan: bool, occupancy: f64) -> RGBAColor {
    let light = 0.86 - 0.5 * occupancy;
    let (hue, sat) = match (class, noscan) {
        (0, false) => (0.07, 0.45),
        (0, true) => (0.63, 0.45),
        (c, false) => (0.33 * (c - 1) as f64 / 66.0, 0.75),
        (c, true) => (0.5 + 0.33 * (c - 1) as f64 / 66.0, 0.75),
    };
    HSLColor(hue, sat, light).to_rgba()
}

fn span_color(c: &InUseSpan) -> RGBAColor {
    class_color(c.size_class, c.noscan, c.occupancy().unwrap_or(1.0))
}

const FREE: RGBColor = RGBColor(150, 150, 150);
const RELEASED: RGBColor = RGBColor(222, 226, 232);
const RESERVED: RGBColor = RGBColor(250, 250, 250);

/// Rows of an arena worth drawing: up to the last page that is not reserved, plus one.
fn rows_shown(s: &HeapSnapshot, arena: usize) -> usize {
    let last = s
        .spans
        .iter()
        .filter(|sp| sp.arena == arena && !matches!(sp.state, PageState::Reserved))
        .map(|sp| sp.first_page + sp.pages)
        .max()
        .unwrap_or(0)
        .min(s.arenas[arena].pages);
    (last.div_ceil(COLS) + 1).min(s.arenas[arena].pages / COLS)
}

fn map_height(s: &HeapSnapshot) -> u32 {
    let rows: usize = (0..s.arenas.len()).map(|a| rows_shown(s, a)).sum();
    let body = MAP_TOP + rows as i32 * CELL + s.arenas.len() as i32 * 30 + 20;
    body.max(560) as u32
}

fn text(size: u32) -> TextStyle<'static> {
    TextStyle::from((FAMILY, size).into_font())
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center))
}

fn draw_map<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, s: &HeapSnapshot) -> Res
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    root.draw(&Text::new(
        "The heap, page by page (one cell = one 8 KiB page, 128 per row)",
        (MAP_LEFT, 22),
        text(20),
    ))?;
    let mut y0 = MAP_TOP;
    for (ai, a) in s.arenas.iter().enumerate() {
        let rows = rows_shown(s, ai);
        root.draw(&Text::new(
            format!(
                "arena {ai} at {:#x} (64 MiB; first {} pages shown)",
                a.base,
                rows * COLS
            ),
            (MAP_LEFT, y0 + 8),
            text(14),
        ))?;
        y0 += 20;
        for sp in s.spans.iter().filter(|sp| sp.arena == ai) {
            let color = match &sp.state {
                PageState::InUse(c) => span_color(c),
                PageState::Free => FREE.to_rgba(),
                PageState::Released => RELEASED.to_rgba(),
                _ => RESERVED.to_rgba(),
            };
            // The span's pages, row by row; a 1-pixel gap ends each span and each row.
            let end = (sp.first_page + sp.pages).min(rows * COLS);
            let mut p = sp.first_page;
            while p < end {
                let row = p / COLS;
                let stop = end.min((row + 1) * COLS);
                let x0 = MAP_LEFT + (p % COLS) as i32 * CELL;
                let x1 = MAP_LEFT + ((stop - 1) % COLS + 1) as i32 * CELL - 1;
                let y = y0 + row as i32 * CELL;
                root.draw(&Rectangle::new(
                    [(x0, y), (x1, y + CELL - 2)],
                    color.filled(),
                ))?;
                p = stop;
            }
        }
        y0 += rows as i32 * CELL + 10;
    }
    draw_map_legend(root, s)
}

fn draw_map_legend<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, s: &HeapSnapshot) -> Res
where
    DB::ErrorType: 'static,
{
    let x = MAP_LEFT + COLS as i32 * CELL + 25;
    let mut y = MAP_TOP + 10;
    let swatch = |root: &DrawingArea<DB, Shift>, y: i32, c: RGBAColor, label: &str| -> Res {
        root.draw(&Rectangle::new([(x, y - 7), (x + 28, y + 7)], c.filled()))?;
        root.draw(&Rectangle::new(
            [(x, y - 7), (x + 28, y + 7)],
            BLACK.mix(0.3),
        ))?;
        root.draw(&Text::new(label.to_string(), (x + 36, y), text(13)))?;
        Ok(())
    };
    // The two size-class palettes, full spans.
    for (noscan, label) in [(false, "scan spans"), (true, "noscan spans")] {
        root.draw(&Text::new(label, (x, y), text(14)))?;
        y += 16;
        for class in 1..=67usize {
            let c = class_color(class, noscan, 1.0);
            let px = x + (class as i32 - 1) * 4;
            root.draw(&Rectangle::new([(px, y - 6), (px + 4, y + 6)], c.filled()))?;
        }
        y += 14;
        root.draw(&Text::new("8 B", (x, y), text(11)))?;
        root.draw(&Text::new("size class", (x + 90, y), text(11)))?;
        root.draw(&Text::new("32 KiB", (x + 232, y), text(11)))?;
        y += 22;
    }
    swatch(root, y, class_color(0, false, 1.0), "large object, scan")?;
    y += 20;
    swatch(root, y, class_color(0, true, 1.0), "large object, noscan")?;
    y += 26;
    root.draw(&Text::new(
        "occupancy (allocated / slots)",
        (x, y),
        text(13),
    ))?;
    y += 16;
    for i in 0..=20 {
        let c = class_color(30, false, i as f64 / 20.0);
        let px = x + i * 12;
        root.draw(&Rectangle::new([(px, y - 6), (px + 12, y + 6)], c.filled()))?;
    }
    y += 14;
    root.draw(&Text::new("empty", (x, y), text(11)))?;
    root.draw(&Text::new("full", (x + 232, y), text(11)))?;
    y += 26;
    swatch(root, y, FREE.to_rgba(), "free, backed by memory")?;
    y += 20;
    swatch(root, y, RELEASED.to_rgba(), "released to the OS")?;
    y += 20;
    swatch(root, y, RESERVED.to_rgba(), "reserved, not yet heap")?;
    y += 34;
    let objects = s.objects().unwrap_or(0);
    let lines = [
        format!("pages in use   {:>7}", s.pages_in_use),
        format!("pages free     {:>7}", s.pages_free),
        format!("pages released {:>7}", s.pages_released),
        format!("in-use spans   {:>7}", s.in_use().count()),
        format!("objects        {objects:>7}"),
        format!("heap_inuse {:.1} MiB", s.heap_inuse() as f64 / 1048576.0),
        format!(
            "heap_released {:.1} MiB",
            s.heap_released() as f64 / 1048576.0
        ),
        format!("after {} cycles", s.num_gc),
    ];
    for l in lines {
        root.draw(&Text::new(l, (x, y), text(13)))?;
        y += 18;
    }
    Ok(())
}

const TL_WIDTH: u32 = 1100;
const TL_HEIGHT: u32 = 760;

/// The cycles drawn: the last (up to) `n` that started during the churn.
fn window(s: &HeapSnapshot, churn: (u64, u64), n: usize) -> Vec<CycleRecord> {
    let during: Vec<CycleRecord> = s
        .cycles
        .iter()
        .filter(|c| c.start_ns >= churn.0 && c.end_ns <= churn.1)
        .copied()
        .collect();
    during[during.len().saturating_sub(n)..].to_vec()
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn mib(b: u64) -> f64 {
    b as f64 / 1048576.0
}

const SWEEP_TERM: RGBColor = RGBColor(255, 187, 120);
const MARK: RGBColor = RGBColor(120, 190, 120);
const PAUSE: RGBColor = RGBColor(214, 39, 40);
const OFF: RGBColor = RGBColor(225, 225, 225);
const BACKGROUND: RGBColor = RGBColor(44, 160, 44);
const ASSIST: RGBColor = RGBColor(214, 39, 40);
const IDLE: RGBColor = RGBColor(158, 218, 229);

fn draw_timeline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    cycles: &[CycleRecord],
    samples: &[Sample],
) -> Res
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let root = root.titled(
        &format!("{} GC cycles: phases, pauses, mark CPU, heap", cycles.len()),
        (FAMILY, 22),
    )?;
    let (Some(first), Some(last)) = (cycles.first(), cycles.last()) else {
        root.draw(&Text::new(
            "no cycle ran during the churn",
            (40, 40),
            text(16),
        ))?;
        return Ok(());
    };
    let span = last.end_ns - first.start_ns;
    let x0 = ms(first.start_ns.saturating_sub(span / 30));
    let x1 = ms(last.end_ns + span / 30);
    let panels = root.split_by_breakpoints([] as [i32; 0], [170, 370]);
    let (phases, cpu, heap) = (&panels[0], &panels[1], &panels[2]);

    // 1. Phases, and the two pauses of each cycle on their own lane.
    let mut chart = ChartBuilder::on(phases)
        .margin(8)
        .margin_right(190)
        .x_label_area_size(22)
        .y_label_area_size(110)
        .build_cartesian_2d(x0..x1, 0.0..2.0)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .y_labels(0)
        .x_label_formatter(&|x| format!("{x:.0} ms"))
        .label_style((FAMILY, 12))
        .draw()?;
    let lane = |lo: f64, hi: f64, a: u64, b: u64, c: RGBColor| {
        Rectangle::new([(ms(a), lo), (ms(b.max(a)), hi)], c.filled())
    };
    let mut bands = Vec::new();
    for (i, c) in cycles.iter().enumerate() {
        bands.push(lane(
            1.1,
            1.9,
            c.start_ns,
            c.start_ns + c.sweep_termination_ns,
            SWEEP_TERM,
        ));
        bands.push(lane(
            1.1,
            1.9,
            c.mark_start_ns,
            c.stw_mark_termination_start_ns,
            MARK,
        ));
        let next = cycles
            .get(i + 1)
            .map_or(last.end_ns + span / 30, |n| n.start_ns);
        bands.push(lane(1.1, 1.9, c.end_ns, next, OFF));
    }
    chart.draw_series(bands)?;
    // Pauses last much less than a pixel: a red bar marks each, labelled in µs.
    let mut marks = Vec::new();
    for c in cycles {
        for at in [
            c.stw_sweep_termination_start_ns,
            c.stw_mark_termination_start_ns,
        ] {
            marks.push(PathElement::new(
                vec![(ms(at), 0.15), (ms(at), 0.85)],
                PAUSE.stroke_width(2),
            ));
            marks.push(PathElement::new(
                vec![(ms(at), 1.1), (ms(at), 1.9)],
                PAUSE.stroke_width(2),
            ));
        }
    }
    chart.draw_series(marks)?;
    if cycles.len() <= 10 {
        chart.draw_series(cycles.iter().flat_map(|c| {
            [
                (
                    c.stw_sweep_termination_start_ns,
                    c.stw_sweep_termination_ns,
                    0.68,
                ),
                (
                    c.stw_mark_termination_start_ns,
                    c.stw_mark_termination_ns,
                    0.3,
                ),
            ]
            .map(|(at, d, y)| {
                Text::new(
                    format!("{:.0}µs", d as f64 / 1e3),
                    (ms(at), y),
                    text(11).pos(Pos::new(HPos::Left, VPos::Center)),
                )
            })
        }))?;
    }
    let label_x = phases.get_pixel_range().0.start + 6;
    phases.draw(&Text::new("phase", (label_x, 55), text(13)))?;
    phases.draw(&Text::new("STW pauses", (label_x, 125), text(13)))?;
    let lx = phases.get_pixel_range().0.end - 180;
    for (i, (c, l)) in [
        (SWEEP_TERM, "sweep termination"),
        (PAUSE, "stop-the-world pause"),
        (MARK, "concurrent mark"),
        (OFF, "off (sweeping)"),
    ]
    .into_iter()
    .enumerate()
    {
        let y = 30 + i as i32 * 22;
        phases.draw(&Rectangle::new([(lx, y - 7), (lx + 22, y + 7)], c.filled()))?;
        phases.draw(&Text::new(l, (lx + 28, y), text(12)))?;
    }

    // 2. Mark CPU during each mark: cores busy on average, split by kind.
    let cores = cycles
        .iter()
        .map(|c| {
            let wall = (c.stw_mark_termination_start_ns - c.mark_start_ns).max(1) as f64;
            (c.mark_background_cpu_ns + c.mark_assist_cpu_ns + c.mark_idle_cpu_ns) as f64 / wall
        })
        .fold(0.5f64, f64::max);
    let mut chart = ChartBuilder::on(cpu)
        .margin(8)
        .margin_right(190)
        .x_label_area_size(22)
        .y_label_area_size(110)
        .build_cartesian_2d(x0..x1, 0.0..cores * 1.15)?;
    chart
        .configure_mesh()
        .max_light_lines(0)
        .x_label_formatter(&|x| format!("{x:.0} ms"))
        .y_desc("mark CPU (cores)")
        .label_style((FAMILY, 12))
        .axis_desc_style((FAMILY, 13))
        .draw()?;
    let mut bars = Vec::new();
    for c in cycles {
        let (a, b) = (ms(c.mark_start_ns), ms(c.stw_mark_termination_start_ns));
        let wall = (c.stw_mark_termination_start_ns - c.mark_start_ns).max(1) as f64;
        let mut y = 0.0;
        for (ns, color) in [
            (c.mark_background_cpu_ns, BACKGROUND),
            (c.mark_assist_cpu_ns, ASSIST),
            (c.mark_idle_cpu_ns, IDLE),
        ] {
            let h = ns as f64 / wall;
            bars.push(Rectangle::new([(a, y), (b, y + h)], color.filled()));
            y += h;
        }
    }
    chart.draw_series(bars)?;
    let lx = cpu.get_pixel_range().0.end - 180;
    for (i, (c, l)) in [
        (BACKGROUND, "background workers"),
        (ASSIST, "mark assists"),
        (IDLE, "idle workers"),
    ]
    .into_iter()
    .enumerate()
    {
        let y = 30 + i as i32 * 22;
        cpu.draw(&Rectangle::new([(lx, y - 7), (lx + 22, y + 7)], c.filled()))?;
        cpu.draw(&Text::new(l, (lx + 28, y), text(12)))?;
    }

    // 3. The heap: allocated bytes and released bytes sampled, the goal per cycle, and the
    // marked (surviving) heap at each cycle's end.
    let in_window: Vec<&Sample> = samples
        .iter()
        .filter(|s| ms(s.t_ns) >= x0 && ms(s.t_ns) <= x1)
        .collect();
    let top = cycles
        .iter()
        .map(|c| c.heap_goal.max(c.next_gc).max(c.heap_live_end))
        .chain(in_window.iter().map(|s| s.inuse.max(s.released)))
        .max()
        .unwrap_or(1);
    let mut chart = ChartBuilder::on(heap)
        .margin(8)
        .margin_right(190)
        .x_label_area_size(36)
        .y_label_area_size(110)
        .build_cartesian_2d(x0..x1, 0.0..mib(top) * 1.1)?;
    chart
        .configure_mesh()
        .max_light_lines(0)
        .x_label_formatter(&|x| format!("{x:.0} ms"))
        .x_desc("time since the runtime started")
        .y_desc("MiB")
        .label_style((FAMILY, 12))
        .axis_desc_style((FAMILY, 13))
        .draw()?;
    let goal = RGBColor(90, 90, 90);
    let inuse = RGBColor(31, 119, 180);
    let alloc = RGBColor(44, 160, 44);
    let released = RGBColor(148, 103, 189);
    let mut steps = Vec::new();
    for (i, c) in cycles.iter().enumerate() {
        let next = cycles.get(i + 1).map_or(x1, |n| ms(n.start_ns));
        steps.push(PathElement::new(
            vec![
                (ms(c.start_ns), mib(c.heap_goal)),
                (ms(c.end_ns), mib(c.heap_goal)),
            ],
            goal.stroke_width(1),
        ));
        steps.push(PathElement::new(
            vec![(ms(c.end_ns), mib(c.next_gc)), (next, mib(c.next_gc))],
            goal.stroke_width(1),
        ));
    }
    chart.draw_series(steps)?;
    for (color, value) in [
        (inuse, (|s: &Sample| s.inuse) as fn(&Sample) -> u64),
        (alloc, |s: &Sample| s.alloc),
        (released, |s: &Sample| s.released),
    ] {
        chart.draw_series(in_window.windows(2).map(|w| {
            PathElement::new(
                vec![
                    (ms(w[0].t_ns), mib(value(w[0]))),
                    (ms(w[1].t_ns), mib(value(w[1]))),
                ],
                color.stroke_width(2),
            )
        }))?;
    }
    chart.draw_series(
        cycles
            .iter()
            .map(|c| Circle::new((ms(c.end_ns), mib(c.heap_marked)), 4, BLACK.filled())),
    )?;
    let lx = heap.get_pixel_range().0.end - 180;
    for (i, (c, l)) in [
        (inuse, "heap_inuse"),
        (alloc, "allocated (heap_alloc)"),
        (released, "heap_released"),
        (goal, "heap goal"),
        (BLACK, "marked at cycle end"),
    ]
    .into_iter()
    .enumerate()
    {
        let y = 30 + i as i32 * 22;
        if i == 4 {
            heap.draw(&Circle::new((lx + 11, y), 4, c.filled()))?;
        } else {
            heap.draw(&Rectangle::new([(lx, y - 2), (lx + 22, y + 2)], c.filled()))?;
        }
        heap.draw(&Text::new(l, (lx + 28, y), text(12)))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Output.

fn register_font() -> Res {
    plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
        .map_err(|_| "the vendored chart font does not parse")?;
    Ok(())
}

/// Draws with `draw` into a PNG and an SVG of `size`, `DIR/name.{png,svg}`.
fn both(
    dir: &Path,
    name: &str,
    size: (u32, u32),
    draw_png: impl Fn(&DrawingArea<BitMapBackend<'_>, Shift>) -> Res,
    draw_svg: impl Fn(&DrawingArea<SVGBackend<'_>, Shift>) -> Res,
) -> Res<Vec<PathBuf>> {
    let png = dir.join(format!("{name}.png"));
    let svg = dir.join(format!("{name}.svg"));
    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        draw_png(&root)?;
        root.present()?;
    }
    write_png(&rgb, size, &png)?;
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        draw_svg(&root)?;
        root.present()?;
    }
    Ok(vec![png, svg])
}

fn main() -> Res {
    let mut out = PathBuf::from("target/heap_picture");
    let mut quick = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out = PathBuf::from(args.next().ok_or("--out needs a directory")?),
            "--quick" => quick = true,
            "-h" | "--help" => {
                println!("usage: heap_picture [--out DIR] [--quick]");
                return Ok(());
            }
            _ => return Err(format!("unknown argument {a:?}").into()),
        }
    }
    std::fs::create_dir_all(&out)?;
    register_font()?;

    let run = run_workload(quick);
    let s = &run.final_snap;
    let cycles = window(s, run.churn, 8);

    let mut wrote = both(
        &out,
        "heap_map",
        (MAP_WIDTH, map_height(s)),
        |r| draw_map(r, s),
        |r| draw_map(r, s),
    )?;
    wrote.extend(both(
        &out,
        "heap_timeline",
        (TL_WIDTH, TL_HEIGHT),
        |r| draw_timeline(r, &cycles, &run.samples),
        |r| draw_timeline(r, &cycles, &run.samples),
    )?);
    for p in &wrote {
        println!("wrote {}", p.display());
    }

    let mut us = run.snapshot_us.clone();
    us.sort_by(f64::total_cmp);
    let median = us.get(us.len() / 2).copied().unwrap_or(0.0);
    let max_pause = cycles
        .iter()
        .map(|c| c.stw_sweep_termination_ns.max(c.stw_mark_termination_ns))
        .max()
        .unwrap_or(0);
    let assist: u64 = cycles.iter().map(|c| c.mark_assist_cpu_ns).sum();
    let background: u64 = cycles.iter().map(|c| c.mark_background_cpu_ns).sum();
    println!(
        "final heap: {} arenas, {} pages in use ({} spans, {} objects), {} free, {} released",
        s.arenas.len(),
        s.pages_in_use,
        s.in_use().count(),
        s.objects().unwrap_or(0),
        s.pages_free,
        s.pages_released,
    );
    println!(
        "cycles: {} in all, {} drawn; longest pause drawn {:.0} µs; mark CPU drawn: {:.1} ms background, {:.1} ms assist",
        s.num_gc,
        cycles.len(),
        max_pause as f64 / 1e3,
        ms(background),
        ms(assist),
    );
    println!(
        "heap_snapshot(): {} taken while churning, median {:.0} µs, max {:.0} µs",
        us.len(),
        median,
        us.last().copied().unwrap_or(0.0),
    );
    println!(
        "heap_snapshot() of the final heap ({} spans and runs), quiet: median {:.0} µs",
        s.spans.len(),
        run.quiet_us,
    );
    Ok(())
}
