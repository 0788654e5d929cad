//! The PNG chart of one run, in the manner of the article's figures: `heap_sys`,
//! `heap_alloc`, `heap_idle` and `heap_released` in MB against the tick, plus the process's
//! RSS, the live need (the bytes of the buffers held) and the heap goal `next_gc`, with the
//! burst phase shaded and every phase boundary marked.
//!
//! Text goes through plotters' pure-Rust `ab_glyph` rasterizer with a vendored subset of
//! DejaVu Sans (`font/`), so no system font, fontconfig or freetype is needed.

use crate::Row;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// The chart's size in pixels (about 70-150 KB as a PNG).
const WIDTH: u32 = 1000;
const HEIGHT: u32 = 600;
/// The legend's column on the right.
const LEGEND_WIDTH: u32 = 205;
/// The burst's shading and the phase boundaries.
const BURST_FILL: RGBAColor = RGBAColor(250, 215, 130, 0.35);
const BOUNDARY: RGBColor = RGBColor(120, 120, 120);

/// The family every text style below asks for.
const FAMILY: &str = "sans-serif";

/// DejaVu Sans, cut down to ASCII, Latin-1 and a few symbols (see `font/README.md`).
static FONT: &[u8] = include_bytes!("font/DejaVuSans-subset.ttf");

/// Registers the vendored font under `FAMILY`, once.
fn register_font() -> Result<(), String> {
    static REGISTERED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
                .map_err(|_| "the vendored chart font does not parse".to_string())
        })
        .clone()
}

/// Bytes to MB (10^6 bytes, as in the summary).
fn mb(v: u64) -> f64 {
    v as f64 / 1e6
}

/// Consecutive runs of one phase name: `(name, first tick, last tick)`.
pub fn phase_runs(rows: &[Row]) -> Vec<(&str, u64, u64)> {
    let mut runs: Vec<(&str, u64, u64)> = Vec::new();
    for r in rows {
        match runs.last_mut() {
            Some((name, _, last)) if *name == r.phase => *last = r.tick,
            _ => runs.push((&r.phase, r.tick, r.tick)),
        }
    }
    runs
}

/// One plotted series: legend label, colour, line width, and its value in a row.
struct Series {
    label: &'static str,
    color: RGBColor,
    width: u32,
    dashed: bool,
    value: fn(&Row) -> u64,
}

const SERIES: [Series; 7] = [
    Series {
        label: "heap_sys",
        color: RGBColor(31, 119, 180),
        width: 2,
        dashed: false,
        value: |r| r.heap_sys,
    },
    Series {
        label: "heap_alloc",
        color: RGBColor(44, 160, 44),
        width: 2,
        dashed: false,
        value: |r| r.heap_alloc,
    },
    Series {
        label: "heap_idle",
        color: RGBColor(255, 127, 14),
        width: 2,
        dashed: false,
        value: |r| r.heap_idle,
    },
    Series {
        label: "heap_released",
        color: RGBColor(148, 103, 189),
        width: 2,
        dashed: false,
        value: |r| r.heap_released,
    },
    Series {
        label: "RSS (whole process)",
        color: RGBColor(214, 39, 40),
        width: 3,
        dashed: false,
        value: |r| r.rss,
    },
    Series {
        label: "live need (buffers held)",
        color: RGBColor(0, 0, 0),
        width: 2,
        dashed: false,
        value: |r| r.live,
    },
    Series {
        label: "next_gc (heap goal)",
        color: RGBColor(110, 110, 110),
        width: 1,
        dashed: true,
        value: |r| r.next_gc,
    },
];

/// Draws `rows` as a PNG at `path`.
pub fn draw(rows: &[Row], title: &str, path: &Path) -> Result<(), String> {
    let mut rgb = vec![0u8; WIDTH as usize * HEIGHT as usize * 3];
    render(rows, title, &mut rgb).map_err(|e| format!("drawing {}: {e}", path.display()))?;
    crate::common::write_png(&rgb, (WIDTH, HEIGHT), path)
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Draws the chart into `rgb` (`WIDTH` x `HEIGHT`, 3 bytes per pixel).
fn render(rows: &[Row], title: &str, rgb: &mut [u8]) -> Result<(), Box<dyn std::error::Error>> {
    register_font()?;
    let (first, last) = match (rows.first(), rows.last()) {
        (Some(f), Some(l)) => (f, l),
        _ => return Err("no rows to draw".into()),
    };
    let x0 = first.tick as f64;
    let x1 = (last.tick as f64).max(x0 + 1.0);
    let peak = rows
        .iter()
        .flat_map(|r| SERIES.iter().map(move |s| mb((s.value)(r))))
        .fold(1.0f64, f64::max);
    // Headroom above the highest line for the phase names.
    let y1 = peak * 1.1;
    let ms_per_tick = if rows.len() > 1 {
        (last.ms - first.ms) / (rows.len() - 1) as f64
    } else {
        0.0
    };

    let root = BitMapBackend::with_buffer(rgb, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, (FAMILY, 24))?;
    // The legend gets a column of its own, so it never hides a line.
    let (plot_area, legend_area) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
    let mut chart = ChartBuilder::on(&plot_area)
        .margin(10)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(x0..x1, 0.0..y1)?;
    chart
        .configure_mesh()
        .max_light_lines(0)
        .bold_line_style(RGBColor(215, 215, 215))
        .x_desc(format!(
            "tick (one 5-10 MB buffer per tick, ≈ {ms_per_tick:.0} ms per tick)"
        ))
        .y_desc("MB (10^6 bytes)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 15))
        .draw()?;

    // The phases: the burst shaded, every boundary a line, every phase named at the top.
    let runs = phase_runs(rows);
    chart.draw_series(runs.iter().filter(|r| r.0 == "burst").map(|&(_, a, b)| {
        Rectangle::new(
            [(a as f64 - 0.5, 0.0), (b as f64 + 0.5, y1)],
            BURST_FILL.filled(),
        )
    }))?;
    chart.draw_series(runs.iter().skip(1).map(|&(_, a, _)| {
        PathElement::new(
            vec![(a as f64 - 0.5, 0.0), (a as f64 - 0.5, y1)],
            BOUNDARY.stroke_width(1),
        )
    }))?;
    let name_style = TextStyle::from((FAMILY, 16).into_font())
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Top));
    chart.draw_series(runs.iter().map(|&(name, a, b)| {
        Text::new(
            name.to_string(),
            ((a + b) as f64 / 2.0, y1 * 0.99),
            name_style.clone(),
        )
    }))?;

    for s in &SERIES {
        let style = s.color.stroke_width(s.width);
        let points: Vec<(f64, f64)> = rows
            .iter()
            .map(|r| (r.tick as f64, mb((s.value)(r))))
            .collect();
        if s.dashed {
            chart.draw_series(DashedLineSeries::new(points, 6, 4, style))?;
        } else {
            // One element per segment: plotters joins a wide polyline with unbounded
            // miters, which draws long spikes at a sawtooth's sharp corners.
            chart.draw_series(
                points
                    .windows(2)
                    .map(|w| PathElement::new(vec![w[0], w[1]], style)),
            )?;
        }
    }

    // The legend column.
    let text = TextStyle::from((FAMILY, 14).into_font())
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let mut y = 40;
    for s in &SERIES {
        let style = s.color.stroke_width(s.width);
        if s.dashed {
            legend_area.draw(&DashedPathElement::new(vec![(8, y), (40, y)], 6, 4, style))?;
        } else {
            legend_area.draw(&PathElement::new(vec![(8, y), (40, y)], style))?;
        }
        legend_area.draw(&Text::new(s.label, (48, y), text.clone()))?;
        y += 26;
    }
    y += 14;
    legend_area.draw(&Rectangle::new(
        [(8, y - 9), (40, y + 9)],
        BURST_FILL.filled(),
    ))?;
    legend_area.draw(&Text::new("burst phase", (48, y), text.clone()))?;
    y += 26;
    legend_area.draw(&PathElement::new(
        vec![(24, y - 10), (24, y + 10)],
        BOUNDARY.stroke_width(1),
    ))?;
    legend_area.draw(&Text::new("phase boundary", (48, y), text.clone()))?;
    root.present()?;
    Ok(())
}
