//! The soak: the randomized multi-threaded differential workload of
//! `tests/random_differential.rs` (`tests/common/random_program/`), run round after round
//! with new seeds until the time is up. Each round: `--threads` threads mutate one shared
//! graph while the collector runs, an exact model says what is reachable, and every
//! checkpoint checks that live == reachable and that the graph matches the model; every node
//! reached is checked for corruption or an early free.
//!
//! ```text
//! cargo run --release --example soak -- [--threads N] [--minutes M] [--seed S] [--round-seconds R]
//! GODEBUG=gccheckmark=1 cargo run --release --example soak -- --threads 4 --minutes 10
//! GODEBUG=clobberfree=1 cargo run --release --example soak -- --threads 4 --minutes 10
//! SOAK_COUNTING=1 GODEBUG=gccheckmark=1,clobberfree=1 cargo run --release --example soak
//! ```
//!
//! With `SOAK_COUNTING` set, the global allocator is `gc_core::CountingAllocator` (as in an
//! interpreter), so the nodes' `Vec` buffers are counted, their frees by the sweeper are
//! handed to the mutators (`alloc/remote_free.rs`) and the small ones kept for reuse
//! (`alloc/recycle.rs`): the soak then checks those paths under the same churn. Without it,
//! the allocator is `System` and the sweeper frees the buffers itself.
//!
//! Defaults: 4 threads, 10 minutes, seed 1, rounds of 30 seconds. Round `r` uses seed
//! `S + r`. Output: one line per round (seed, operations, checkpoints, cycles, forced cycles,
//! `collect()` calls by the collector thread, tracked nodes allocated, largest and last
//! reachable = live count), then a summary line:
//!
//! ```text
//! soak: threads=.. minutes=.. rounds=.. ops=.. checkpoints=.. cycles=.. failures=0
//! ```
//!
//! On a failure it prints the failing round's message and the command that reruns that
//! seed, and exits with status 1 (status 3 if the workload's watchdog saw no progress for
//! two minutes: a hang).

mod common;
#[path = "../tests/common/random_program/mod.rs"]
mod random_program;

use common::switch_alloc::Switch;
use random_program::{run, Params};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// `CountingAllocator` when `SOAK_COUNTING` is set, else `System` (module header).
#[global_allocator]
static ALLOC: Switch = Switch::new(c"SOAK_COUNTING", true);

const USAGE: &str = "usage: soak [--threads N] [--minutes M] [--seed S] [--round-seconds R]";

struct Args {
    threads: usize,
    minutes: f64,
    seed: u64,
    round_seconds: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        threads: 4,
        minutes: 10.0,
        seed: 1,
        round_seconds: 30.0,
    };
    common::parse_flags(USAGE, |flag, v| {
        match flag {
            "--threads" => {
                args.threads = common::parse_value(v, "thread count", |&n| n >= 1)?;
            }
            "--minutes" => args.minutes = common::parse_duration(v)?,
            "--seed" => args.seed = common::parse_value(v, "seed", |_| true)?,
            "--round-seconds" => {
                args.round_seconds =
                    common::parse_value(v, "duration", |s: &f64| s.is_finite() && *s > 0.0)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => return common::usage_error("soak", USAGE, &e),
    };
    let total = Duration::from_secs_f64(args.minutes * 60.0);
    let round_time = Duration::from_secs_f64(args.round_seconds);
    println!(
        "soak: {} threads for {:.1} minutes, rounds of {:.0} s from seed {}, allocator {} \
         (GODEBUG={})",
        args.threads,
        args.minutes,
        args.round_seconds,
        args.seed,
        allocator(),
        std::env::var("GODEBUG").unwrap_or_default()
    );
    let t0 = Instant::now();
    let (mut rounds, mut ops, mut checkpoints, mut cycles, mut forced) = (0u64, 0, 0, 0, 0);
    let mut max_reachable = 0;
    // At least one round, however short the time.
    while rounds == 0 || t0.elapsed() < total {
        let seed = args.seed.wrapping_add(rounds);
        let left = total.saturating_sub(t0.elapsed());
        let p = Params {
            threads: args.threads,
            ops_per_thread: u64::MAX,
            checkpoint_every: 5_000,
            max_time: Some(round_time.min(left)),
            ballast: 100_000,
            live_soft_limit: 20_000,
            hang_after: Duration::from_secs(120),
            ..Params::short(seed, 0, 0)
        };
        match run(&p) {
            Ok(r) => {
                println!("round {rounds}: {r}");
                rounds += 1;
                ops += r.ops;
                checkpoints += r.checkpoints;
                cycles += r.cycles;
                forced += r.forced;
                max_reachable = max_reachable.max(r.max_reachable);
            }
            Err(e) => {
                println!("round {rounds}: FAILED: {e}");
                println!(
                    "rerun this round: {}{}cargo run --release --example soak -- --threads {} \
                     --seed {seed} --minutes {}",
                    if ALLOC.counting() {
                        "SOAK_COUNTING=1 "
                    } else {
                        ""
                    },
                    std::env::var("GODEBUG").map_or(String::new(), |g| format!("GODEBUG={g} ")),
                    args.threads,
                    args.round_seconds / 60.0
                );
                println!(
                    "soak: threads={} minutes={:.2} rounds={rounds} ops={ops} \
                     checkpoints={checkpoints} cycles={cycles} failures=1",
                    args.threads,
                    t0.elapsed().as_secs_f64() / 60.0
                );
                return ExitCode::from(1);
            }
        }
    }
    let s = gc_core::mem_stats();
    println!(
        "soak: threads={} minutes={:.2} rounds={rounds} ops={ops} checkpoints={checkpoints} \
         cycles={cycles} forced={forced} max_reachable={max_reachable} \
         pause_total_ms={:.1} peak_rss_mb={} allocator={} external_total_mb={} failures=0",
        args.threads,
        t0.elapsed().as_secs_f64() / 60.0,
        s.pause_total_ns as f64 / 1e6,
        common::peak_rss_field(),
        allocator(),
        s.external_total_alloc >> 20
    );
    ExitCode::SUCCESS
}

/// The global allocator's name for the output lines.
fn allocator() -> &'static str {
    if ALLOC.counting() {
        "counting"
    } else {
        "system"
    }
}
