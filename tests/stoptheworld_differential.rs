//! Differential test: a seeded, single-threaded run of the random-graph engine
//! (`tests/common/random_program/`, `Params::deterministic`: the modelled mix on one thread,
//! no collector thread) has an outcome that depends on the program only. The engine mirrors
//! every mutation in its model; at each checkpoint it calls `collect()` twice, checks the
//! real graph against the model and live tracked nodes (`allocated - dropped`) against the
//! model's reachable count, and records a digest line: the reachable ids (count, sum, hash),
//! the roots (count, hash), the ephemeron table's entries (count, hash), the ids allocated
//! and the live count. (The mix's weak operations keep a node they upgrade only if the model
//! reaches it, and take only reachable keys from the table: what else upgrades depends on
//! the collector's timing.)
//!
//! The workload runs in child processes (the environment is read once per process; started
//! through `tests/common/child.rs`): default settings, `GODEBUG=gcstoptheworld=1`,
//! `GODEBUG=gcstoptheworld=1,gctrace=1` (whose stderr must hold one Go-format gctrace line
//! per cycle), `gcstoptheworld=2`, and with 3 extra threads that only allocate garbage
//! (default and `gcstoptheworld=1`), so that cycles they trigger overlap the mutations. All
//! the digests must be identical.
//!
//! Reproduce one child by hand (`SD_SEED` picks another program):
//! `GC_CORE_TEST_CHILD=1 [SD_GARBAGE_THREADS=3] [SD_SEED=<n>] [GODEBUG=...] cargo test --test
//! stoptheworld_differential -- --exact child_workload --nocapture`

#[path = "common/random_program/mod.rs"]
mod random_program;

use random_program::common::child::{self, Pending};
use random_program::common::{ALLOCATED, BAD_DROPS, DROPPED};
use random_program::{env_seed, run, GarbageThreads, Params};
use std::sync::atomic::Ordering;

const GARBAGE_THREADS: &str = "SD_GARBAGE_THREADS";
/// Prefix of the lines that must be identical across runs.
const OUT: &str = "@@SD ";
/// Prefix of per-run statistics (not compared).
const STATS: &str = "@@STATS ";

const CHECKPOINTS: u64 = 20;
const OPS_BETWEEN: u64 = 800;

fn params() -> Params {
    let seed = env_seed("SD_SEED", 0x5EED_D1FF_0001);
    Params {
        // Enough garbage that the heap outgrows its goal between checkpoints: automatic
        // cycles overlap the program.
        weights: &[("garbage", 30)],
        ..Params::deterministic(seed, CHECKPOINTS, OPS_BETWEEN)
    }
}

#[test]
fn child_workload() {
    if !child::is_child() {
        return;
    }
    let threads: usize = std::env::var(GARBAGE_THREADS)
        .ok()
        .map_or(0, |v| v.parse().expect("SD_GARBAGE_THREADS"));
    let garbage = GarbageThreads::start(threads);
    let t0 = std::time::Instant::now();
    let p = params();
    let r = run(&p).unwrap_or_else(|e| panic!("{e} (seed {:#x})", p.seed));
    let rounds = garbage.stop();
    let elapsed = t0.elapsed();
    // Nothing allocates from here on, so no cycle starts after these figures are read.
    let s = gc_core::mem_stats();
    println!();
    for l in &r.digest {
        println!("{OUT}{l}");
    }
    println!(
        "{OUT}final allocated {} dropped {} bad_drops {}",
        ALLOCATED.load(Ordering::SeqCst),
        DROPPED.load(Ordering::SeqCst),
        BAD_DROPS.load(Ordering::SeqCst)
    );
    println!(
        "{STATS}num_gc={} num_forced_gc={} garbage_rounds={rounds} ms={}",
        s.num_gc,
        s.num_forced_gc,
        elapsed.as_millis()
    );
}

struct Run {
    name: String,
    lines: Vec<String>,
    stderr: String,
    num_gc: u64,
    num_forced_gc: u64,
    ms: u64,
}

fn stat(stdout: &str, key: &str) -> u64 {
    stdout
        .lines()
        .filter_map(|l| l.split_once(STATS).map(|(_, s)| s))
        .flat_map(str::split_whitespace)
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("{key} missing in child output:\n{stdout}"))
        .parse()
        .unwrap()
}

/// Runs the children, as many at a time as there are cores (oversubscribing a small
/// machine only makes every child slower); `child.rs` kills and reports a hung one.
fn run_children(configs: &[(&str, Option<&str>, usize)]) -> Vec<Run> {
    let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut runs = Vec::new();
    for batch in configs.chunks(parallel) {
        let pending: Vec<(&str, Pending)> = batch
            .iter()
            .map(|&(name, godebug, threads)| {
                let vars: Vec<(&str, &[u8])> = godebug
                    .map(|g| ("GODEBUG", g.as_bytes()))
                    .into_iter()
                    .collect();
                let threads = threads.to_string();
                let extra = [(GARBAGE_THREADS, threads.as_str())];
                (name, child::start("child_workload", &vars, &extra))
            })
            .collect();
        for (name, p) in pending {
            let out = p.finish();
            assert!(
                out.status.success(),
                "child {name} failed ({:?}):\n{}\n{}",
                out.status,
                out.stdout,
                out.stderr
            );
            let lines: Vec<String> = out
                .stdout
                .lines()
                .filter_map(|l| l.split_once(OUT).map(|(_, s)| s.to_string()))
                .collect();
            runs.push(Run {
                name: name.to_string(),
                num_gc: stat(&out.stdout, "num_gc"),
                num_forced_gc: stat(&out.stdout, "num_forced_gc"),
                ms: stat(&out.stdout, "ms"),
                lines,
                stderr: out.stderr,
            });
        }
    }
    runs
}

/// Parses a decimal figure as gctrace prints it ("12", "0.54").
fn ms_figure(s: &str, line: &str) -> f64 {
    assert!(
        !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.'),
        "bad figure {s:?} in gctrace line: {line}"
    );
    s.parse()
        .unwrap_or_else(|_| panic!("bad figure {s:?} in: {line}"))
}

fn int_figure(s: &str, line: &str) -> u64 {
    s.parse()
        .unwrap_or_else(|_| panic!("bad integer {s:?} in gctrace line: {line}"))
}

fn bad_line<T>(line: &str) -> T {
    panic!("gctrace line not in Go's format: {line:?}")
}

/// Checks one line against Go's format and returns (cycle number, forced):
/// `gc N @T.TTTs P%: A+B+C ms clock, a+b/c/d+e ms cpu, H0->H1->H2 MB, G MB goal, 0 MB stacks, 0 MB globals, N P[ (forced)]`
fn parse_gctrace(line: &str) -> (u64, bool) {
    let rest = line.strip_prefix("gc ").unwrap_or_else(|| bad_line(line));
    let (num, rest) = rest.split_once(' ').unwrap_or_else(|| bad_line(line));
    let num = int_figure(num, line);
    let (at, rest) = rest.split_once(' ').unwrap_or_else(|| bad_line(line));
    let at = at
        .strip_prefix('@')
        .and_then(|t| t.strip_suffix('s'))
        .unwrap_or_else(|| bad_line(line));
    assert_eq!(
        at.split_once('.').map(|(_, f)| f.len()),
        Some(3),
        "@T has 3 decimals: {line}"
    );
    ms_figure(at, line);
    let (pct, rest) = rest.split_once("%: ").unwrap_or_else(|| bad_line(line));
    int_figure(pct, line);
    let parts: Vec<&str> = rest.split(", ").collect();
    assert_eq!(parts.len(), 7, "seven comma-separated parts: {line}");
    let clock = parts[0]
        .strip_suffix(" ms clock")
        .unwrap_or_else(|| bad_line(line));
    let clock: Vec<&str> = clock.split('+').collect();
    assert_eq!(clock.len(), 3, "A+B+C ms clock: {line}");
    clock.iter().for_each(|f| {
        ms_figure(f, line);
    });
    let cpu = parts[1]
        .strip_suffix(" ms cpu")
        .unwrap_or_else(|| bad_line(line));
    let cpu: Vec<&str> = cpu.split('+').collect();
    assert_eq!(cpu.len(), 3, "a+b/c/d+e ms cpu: {line}");
    let mid: Vec<&str> = cpu[1].split('/').collect();
    assert_eq!(mid.len(), 3, "a+b/c/d+e ms cpu: {line}");
    for f in [cpu[0], mid[0], mid[1], mid[2], cpu[2]] {
        ms_figure(f, line);
    }
    let heap = parts[2]
        .strip_suffix(" MB")
        .unwrap_or_else(|| bad_line(line));
    let heap: Vec<&str> = heap.split("->").collect();
    assert_eq!(heap.len(), 3, "H0->H1->H2 MB: {line}");
    heap.iter().for_each(|h| {
        int_figure(h, line);
    });
    let goal = parts[3]
        .strip_suffix(" MB goal")
        .unwrap_or_else(|| bad_line(line));
    assert!(int_figure(goal, line) >= 4, "goal at least 4 MB: {line}");
    assert_eq!(parts[4], "0 MB stacks", "{line}");
    assert_eq!(parts[5], "0 MB globals", "{line}");
    let (procs, forced) = match parts[6].strip_suffix(" (forced)") {
        Some(p) => (p, true),
        None => (parts[6], false),
    };
    let procs = procs.strip_suffix(" P").unwrap_or_else(|| bad_line(line));
    assert!(int_figure(procs, line) >= 1, "{line}");
    (num, forced)
}

#[test]
fn stoptheworld_and_concurrent_runs_agree() {
    if child::is_child() {
        return;
    }
    let runs = run_children(&[
        ("default", None, 0),
        ("gcstoptheworld=1", Some("gcstoptheworld=1"), 0),
        (
            "gcstoptheworld=1,gctrace=1",
            Some("gcstoptheworld=1,gctrace=1"),
            0,
        ),
        ("gcstoptheworld=2", Some("gcstoptheworld=2"), 0),
        ("default + 3 garbage threads", None, 3),
        (
            "gcstoptheworld=1 + 3 garbage threads",
            Some("gcstoptheworld=1"),
            3,
        ),
    ]);
    let checkpoints = CHECKPOINTS as usize;
    for r in &runs {
        eprintln!(
            "{}: {} ms, {} cycles ({} forced)",
            r.name, r.ms, r.num_gc, r.num_forced_gc
        );
        assert_eq!(
            r.lines.len(),
            checkpoints + 1,
            "{}: every checkpoint printed:\n{}",
            r.name,
            r.lines.join("\n")
        );
        // live == reachable is checked inside the child at every checkpoint; check the
        // printed figures too.
        for l in &r.lines {
            let f: Vec<&str> = l.split_whitespace().collect();
            if let Some(i) = f.iter().position(|&w| w == "reach") {
                let live = f.iter().position(|&w| w == "live").unwrap();
                assert_eq!(f[i + 1], f[live + 1], "{}: live != reachable: {l}", r.name);
            }
        }
        let last = r.lines.last().unwrap();
        let f: Vec<&str> = last.split_whitespace().collect();
        assert_eq!(f[2], f[4], "{}: allocated == dropped: {last}", r.name);
        assert_eq!(f[6], "0", "{}: no node dropped twice: {last}", r.name);
        assert!(
            r.num_forced_gc >= 2 * checkpoints as u64 + 2,
            "{}: every collect() ran a cycle",
            r.name
        );
        assert!(
            r.num_gc > r.num_forced_gc,
            "{}: automatic cycles ran during the workload ({} cycles, {} forced)",
            r.name,
            r.num_gc,
            r.num_forced_gc
        );
    }
    let base = &runs[0];
    for r in &runs[1..] {
        for (i, (a, b)) in base.lines.iter().zip(&r.lines).enumerate() {
            assert_eq!(
                a, b,
                "line {i} differs between `{}` and `{}`",
                base.name, r.name
            );
        }
    }

    // gctrace: one line per cycle, numbered from 1, in Go's format; forced cycles marked.
    let traced = runs.iter().find(|r| r.name.contains("gctrace")).unwrap();
    let lines: Vec<&str> = traced
        .stderr
        .lines()
        .filter(|l| l.starts_with("gc "))
        .collect();
    assert_eq!(
        lines.len() as u64,
        traced.num_gc,
        "one gctrace line per cycle; stderr:\n{}",
        traced.stderr
    );
    let mut forced = 0;
    for (i, l) in lines.iter().enumerate() {
        let (num, f) = parse_gctrace(l);
        assert_eq!(num, i as u64 + 1, "cycles numbered from 1: {l}");
        forced += u64::from(f);
    }
    assert_eq!(
        forced, traced.num_forced_gc,
        "forced cycles marked (forced)"
    );
    for r in &runs {
        if r.name != traced.name {
            assert!(
                !r.stderr.lines().any(|l| l.starts_with("gc ")),
                "{}: no gctrace lines without gctrace=1",
                r.name
            );
        }
        assert!(
            !r.stderr.contains("GODEBUG"),
            "{}: no warning about GODEBUG: {}",
            r.name,
            r.stderr
        );
    }
}
