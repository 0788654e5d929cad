//! `--bench`: every script on every backend, each run in a child process of its own (this
//! executable again, as `examples/binary_trees.rs` does), so that each run has a fresh heap
//! and its own peak RSS. The backends' order rotates from one run to the next, so a change
//! in the machine's load does not always land on the same one. The script's output must be
//! identical on every run of every backend: if not, the bench prints both and fails.
//!
//! The table (Markdown) has, per script and backend, the median of the children's
//! `time_ms` (compile, run and teardown, inside the process) with every run's figure, the
//! median peak RSS, and both as ratios to rust-gc's medians.

use crate::backends::Backend;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The benchmark scripts, in `scripts/`.
pub const SCRIPTS: [&str; 5] = [
    "fib.lox",
    "binary_trees.lox",
    "strings.lox",
    "instantiation.lox",
    "maps.lox",
];

pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/interp/scripts")
}

/// One child's stdout and its summary line's fields.
struct Run {
    stdout: String,
    time_ms: f64,
    rss_mb: f64,
    cycles: String,
}

fn run_child(exe: &Path, script: &Path, backend: Backend, quick: bool) -> Result<Run, String> {
    let mut cmd = Command::new(exe);
    cmd.arg(script).args(["--backend", backend.name()]);
    if quick {
        cmd.arg("--quick");
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!(
            "{} on {} failed ({}):\n{stderr}",
            script.display(),
            backend.label(),
            out.status
        ));
    }
    let summary = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("interp: "))
        .ok_or(format!("no summary line from {}", backend.label()))?;
    let fields: HashMap<&str, &str> = summary
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let num = |k: &str| -> Result<f64, String> {
        fields
            .get(k)
            .and_then(|v| v.parse().ok())
            .ok_or(format!("summary without {k}: {summary}"))
    };
    Ok(Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        time_ms: num("time_ms")?,
        rss_mb: num("peak_rss_mb")?,
        cycles: fields.get("gc_cycles").unwrap_or(&"-").to_string(),
    })
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Runs the benchmark; fails if a child fails or outputs differ.
pub fn bench(runs: usize, quick: bool) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("interp: cannot find own executable: {e}");
            return ExitCode::FAILURE;
        }
    };
    let size = if quick { "quick" } else { "full" };
    println!(
        "interp --bench: {runs} run(s) per backend, size {size}, load average {}",
        load_average()
    );
    println!();
    // Each round runs every backend once, back to back, so the time ratio is taken within
    // rounds (the median of the rounds' ratios): on a machine whose speed drifts from
    // minute to minute, that is steadier than a ratio of medians.
    println!("| script | backend | time ms, median [runs] | peak RSS MiB | time / rust-gc (median of rounds) | RSS / rust-gc | gc-core cycles |");
    println!("|---|---|---|---:|---:|---:|---:|");
    for script in SCRIPTS {
        let path = scripts_dir().join(script);
        let mut results: HashMap<Backend, Vec<Run>> = HashMap::new();
        let mut reference: Option<(Backend, String)> = None;
        for run in 0..runs {
            for k in 0..Backend::ALL.len() {
                let backend = Backend::ALL[(run + k) % Backend::ALL.len()];
                let r = match run_child(&exe, &path, backend, quick) {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("interp --bench: {e}");
                        return ExitCode::FAILURE;
                    }
                };
                match &reference {
                    None => reference = Some((backend, r.stdout.clone())),
                    Some((b, out)) if *out != r.stdout => {
                        eprintln!(
                            "interp --bench: OUTPUTS DIFFER for {script}: {} printed\n{out}\n{} printed\n{}",
                            b.label(),
                            backend.label(),
                            r.stdout
                        );
                        return ExitCode::FAILURE;
                    }
                    Some(_) => {}
                }
                results.entry(backend).or_default().push(r);
            }
        }
        let med =
            |b: Backend, f: fn(&Run) -> f64| median(&results[&b].iter().map(f).collect::<Vec<_>>());
        let base_m = med(Backend::RustGc, |r| r.rss_mb);
        let time_ratio = |b: Backend| {
            let ratios: Vec<f64> = results[&b]
                .iter()
                .zip(&results[&Backend::RustGc])
                .map(|(r, base)| r.time_ms / base.time_ms)
                .collect();
            median(&ratios)
        };
        for b in Backend::ALL {
            let times: Vec<String> = results[&b]
                .iter()
                .map(|r| format!("{:.0}", r.time_ms))
                .collect();
            let (t, m) = (med(b, |r| r.time_ms), med(b, |r| r.rss_mb));
            let cycles: Vec<&str> = results[&b].iter().map(|r| r.cycles.as_str()).collect();
            let cycles = if b == Backend::GcCore {
                cycles.join(" ")
            } else {
                "-".into()
            };
            println!(
                "| {script} | {} | {t:.0} [{}] | {m:.1} | {:.2} | {:.2} | {cycles} |",
                b.label(),
                times.join(" "),
                time_ratio(b),
                m / base_m
            );
        }
        let checksum = reference.map(|(_, out)| out).unwrap_or_default();
        let last = checksum.lines().last().unwrap_or("");
        eprintln!(
            "{script}: outputs identical on every backend ({} lines, last: {last})",
            checksum.lines().count()
        );
    }
    println!();
    println!("load average after: {}", load_average());
    ExitCode::SUCCESS
}
