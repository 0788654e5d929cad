//! Randomized multi-threaded differential test: four threads run seeded random programs over
//! one shared graph (`GcCell` and `AtomicGc` edges, local roots, shared anchor slots,
//! subgraphs moved through thread-held handles, allocation under cell guards, garbage) while
//! the collector runs concurrently (automatic cycles on a small heap, plus a thread calling
//! `collect()` at seeded intervals). An exact model of the graph and its roots, updated under
//! one lock together with every real mutation, says what is reachable; every node reached is
//! checked (payload, tracker ALIVE, edges by id under the lock), and at each checkpoint (all
//! threads at a barrier, `collect()` twice) the live tracked nodes must equal the model's
//! reachable count and a real walk must find exactly the model's reachable set. The workload
//! lives in `tests/common/random_program/` (shared with `examples/soak.rs`, the long run).
//!
//! Tests: the workload in-process; the same in child processes with `GODEBUG=gccheckmark=1`
//! and with `GODEBUG=clobberfree=1` (a node freed while reachable is also poisoned). Each
//! child prints one `RD_CKPT` line per checkpoint and a final `RD_OK` line, which the parent
//! checks.
//!
//! Children run through `tests/common/child.rs` (which kills and reports one still running
//! after its `HANG`; the workload's own watchdog normally reports a hang first).
//!
//! Reproduce with a fixed seed (the default is fixed too; failures print theirs):
//! `RD_SEED=<n> cargo test --test random_differential`; one child alone:
//! `GC_CORE_TEST_CHILD=1 GODEBUG=gccheckmark=1 RD_SEED=<n> cargo test --test
//! random_differential -- --exact child_workload --nocapture`.

#[path = "common/random_program/mod.rs"]
mod random_program;

use random_program::common::child::{self, CHILD};
use random_program::{env_seed, run, Params, Report};
use std::time::Instant;

const DEFAULT_SEED: u64 = 0x5EED_4A4D_0001;
/// Checkpoints per run, and operations per thread between two checkpoints.
const CHECKPOINTS: u64 = 10;
const OPS_BETWEEN: u64 = 1500;
fn seed() -> u64 {
    env_seed("RD_SEED", DEFAULT_SEED)
}

fn params(seed: u64) -> Params {
    Params::short(seed, CHECKPOINTS, OPS_BETWEEN)
}

fn run_or_panic(p: &Params, how: &str) -> Report {
    run(p).unwrap_or_else(|e| {
        panic!(
            "{e}\nreproduce with: RD_SEED={} {how}cargo test --test random_differential",
            p.seed
        )
    })
}

fn check_report(r: &Report) {
    assert_eq!(r.checkpoints, CHECKPOINTS, "every checkpoint ran: {r}");
    assert_eq!(
        r.ops,
        CHECKPOINTS * OPS_BETWEEN * r.threads as u64,
        "every operation ran: {r}"
    );
    assert!(
        r.forced >= 2 * CHECKPOINTS,
        "every checkpoint's collect() ran a cycle: {r}"
    );
    if std::env::var_os("GOGC").is_none() {
        assert!(
            r.cycles > r.forced,
            "automatic cycles ran during the workload: {r}"
        );
    }
    assert!(r.last_reachable > 0, "the graph was not empty: {r}");
}

#[test]
fn random_programs_agree_with_the_model() {
    if child::is_child() {
        return;
    }
    let r = run_or_panic(&params(seed()), "");
    check_report(&r);
    eprintln!("in-process: {r}");
}

#[test]
fn child_workload() {
    if !child::is_child() {
        return;
    }
    let mut p = params(seed());
    p.verbose = true;
    let godebug = std::env::var("GODEBUG").unwrap_or_default();
    let r = run_or_panic(&p, &format!("{CHILD}=1 GODEBUG={godebug} "));
    check_report(&r);
    println!("RD_OK {r}");
}

/// Runs `child_workload` in a child process with `GODEBUG=godebug`; checks its output.
fn run_child(godebug: &str) {
    let seed = seed();
    let t0 = Instant::now();
    let seed_var = seed.to_string();
    let run = child::run(
        "child_workload",
        &[("GODEBUG", godebug.as_bytes())],
        &[("RD_SEED", &seed_var)],
    );
    let (status, stdout, stderr) = (run.status, &run.stdout, &run.stderr);
    let repro = format!(
        "{CHILD}=1 GODEBUG={godebug} RD_SEED={seed} cargo test --test random_differential -- \
         --exact child_workload --nocapture"
    );
    assert!(
        status.success() && stdout.contains("RD_OK"),
        "child (GODEBUG={godebug}) failed ({status:?}); reproduce with `{repro}`\n{stdout}\n{stderr}"
    );
    // The first line follows the harness's "test child_workload ... ".
    let ckpts: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.find("RD_CKPT").map(|i| &l[i..]))
        .collect();
    assert_eq!(
        ckpts.len() as u64,
        CHECKPOINTS,
        "one RD_CKPT line per checkpoint:\n{stdout}"
    );
    for l in &ckpts {
        let field = |k: &str| -> u64 {
            l.split_whitespace()
                .find_map(|f| f.strip_prefix(k))
                .unwrap_or_else(|| panic!("{k} missing in {l}"))
                .parse()
                .unwrap()
        };
        assert_eq!(field("live="), field("reachable="), "{l}");
    }
    let last = ckpts.last().unwrap();
    assert!(
        last.starts_with(&format!("RD_CKPT n={CHECKPOINTS} ")) && last.ends_with(" last"),
        "the final checkpoint line: {last}"
    );
    assert!(
        !stderr.contains("GODEBUG"),
        "no warning about GODEBUG={godebug}: {stderr}"
    );
    let ok = stdout.lines().find(|l| l.starts_with("RD_OK")).unwrap();
    eprintln!("GODEBUG={godebug} child: {ok} ({:.1?} wall)", t0.elapsed());
}

/// `gccheckmark=1`: every cycle re-marks with the world stopped and aborts on any object
/// the concurrent mark missed.
#[test]
fn gccheckmark_child_process() {
    if child::is_child() {
        return;
    }
    run_child("gccheckmark=1");
}

/// `clobberfree=1`: a node freed while still reachable is poisoned, so the payload checks
/// catch it even before its memory is reused.
#[test]
fn clobberfree_child_process() {
    if child::is_child() {
        return;
    }
    run_child("clobberfree=1");
}
