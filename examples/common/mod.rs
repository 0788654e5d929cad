//! Helpers shared by the example workloads: argument values, a small random generator,
//! peak RSS, and the collector figures their summary lines print. Not an example itself
//! (Cargo only builds `examples/*.rs` and `examples/*/main.rs`).

// Each example uses a subset.
#![allow(dead_code)]

pub mod switch_alloc;

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

/// Parses an argument value, rejecting it unless `ok` accepts it: `bad {what} "{v}"`.
pub fn parse_value<T: FromStr>(v: &str, what: &str, ok: impl Fn(&T) -> bool) -> Result<T, String> {
    v.parse()
        .ok()
        .filter(|x| ok(x))
        .ok_or(format!("bad {what} {v:?}"))
}

/// Walks the command line as `--flag value` pairs, calling `set(flag, value)` for each;
/// `set` returns `Ok(false)` for a flag it does not know. `-h`/`--help` prints `usage` and
/// exits.
pub fn parse_flags(
    usage: &str,
    set: impl FnMut(&str, &str) -> Result<bool, String>,
) -> Result<(), String> {
    parse_flags_and_switches(usage, &[], set)
}

/// [`parse_flags`], where the flags named in `switches` take no value (`set` gets `""`).
pub fn parse_flags_and_switches(
    usage: &str,
    switches: &[&str],
    mut set: impl FnMut(&str, &str) -> Result<bool, String>,
) -> Result<(), String> {
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        if a == "-h" || a == "--help" {
            println!("{usage}");
            std::process::exit(0);
        }
        if !a.starts_with("--") {
            return Err(format!("unknown argument {a:?}"));
        }
        let v = if switches.contains(&a.as_str()) {
            String::new()
        } else {
            it.next().ok_or(format!("{a} needs a value"))?
        };
        if !set(&a, &v)? {
            return Err(format!("unknown argument {a:?}"));
        }
    }
    Ok(())
}

/// A duration in (fractional) seconds or minutes: finite and not negative.
pub fn parse_duration(v: &str) -> Result<f64, String> {
    parse_value(v, "duration", |s: &f64| s.is_finite() && *s >= 0.0)
}

/// Reports a bad command line: `{name}: {msg}` and the usage line; exit status 2.
pub fn usage_error(name: &str, usage: &str, msg: &str) -> std::process::ExitCode {
    eprintln!("{name}: {msg}");
    eprintln!("{usage}");
    std::process::ExitCode::from(2)
}

/// xorshift64*: a small deterministic generator (no extra crates).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Peak resident set size in MiB (`VmHWM` in /proc/self/status), if available.
pub fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Peak RSS as a summary field: MiB with one decimal, or `-`.
pub fn peak_rss_field() -> String {
    peak_rss_mb().map_or("-".to_string(), |m| format!("{m:.1}"))
}

/// Largest `heap_inuse` and largest recorded pause seen by `sample_gc`.
static PEAK_HEAP: AtomicU64 = AtomicU64::new(0);
static MAX_PAUSE_NS: AtomicU64 = AtomicU64::new(0);

/// Records the largest `heap_inuse` and recorded pause so far. `mem_stats` stops
/// allocation briefly, so call it a few dozen times per phase, never per object;
/// `pause_ns` holds the last 256 cycles, so the maximum is exact as long as fewer than 256
/// cycles pass between two samples.
pub fn sample_gc() {
    let s = gc_core::mem_stats();
    PEAK_HEAP.fetch_max(s.heap_inuse, Ordering::Relaxed);
    let max = s.pause_ns.iter().copied().max().unwrap_or(0);
    MAX_PAUSE_NS.fetch_max(max, Ordering::Relaxed);
}

/// The collector columns of a summary line: `cycles`, `pause_total_ms`, `max_pause_ms`,
/// `peak_heap_mb`; all `-` for the `Box`/`Arc` runs.
pub fn gc_fields(is_gc: bool) -> [String; 4] {
    if !is_gc {
        return ["-".into(), "-".into(), "-".into(), "-".into()];
    }
    let s = gc_core::mem_stats();
    [
        s.num_gc.to_string(),
        format!("{:.3}", s.pause_total_ns as f64 / 1e6),
        format!("{:.3}", MAX_PAUSE_NS.load(Ordering::Relaxed) as f64 / 1e6),
        format!(
            "{:.1}",
            PEAK_HEAP.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0)
        ),
    ]
}

/// Encodes an RGB image (3 bytes per pixel, `w` x `h`) as a PNG file at `path`: the charts'
/// last step (plotters draws into the buffer; the `png` crate encodes it).
pub fn write_png(
    rgb: &[u8],
    (w, h): (u32, u32),
    path: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut encoder = png::Encoder::new(file, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(())
}
