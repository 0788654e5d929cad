//! A small dynamic language, a Lox subset, as the reference workload for interpreters on
//! a collector: one tree-walking interpreter whose runtime is instantiated on three
//! collectors, gc-core, rust-gc (`gc`) and dumpster, so the same scripts compare them.
//!
//! ```text
//! cargo run --release --example interp -- FILE [--backend gc|rustgc|dumpster] [--quick]
//! cargo run --release --example interp -- --bench [--runs N] [--quick]
//! ```
//!
//! A run prints what the script printed on stdout, then one summary line on stderr:
//!
//! ```text
//! interp: backend=gc script=fib.lox size=full time_ms=.. peak_rss_mb=.. gc_cycles=..
//! ```
//!
//! `time_ms` covers compiling, running and dropping the interpreter; `peak_rss_mb` is the
//! process's `VmHWM`; `gc_cycles` is gc-core's `num_gc` (`-` for the others). `--quick`
//! makes the script's `size(full, quick, test)` pick its second argument. `--bench` runs
//! every script in `scripts/` on every backend, each run in a child process of its own
//! (peak RSS is per process; the order of the backends rotates between runs), checks that
//! the three outputs are identical (and fails if not), and prints a table of medians
//! (`bench.rs`).
//!
//! The language: numbers, strings (`+` concatenates, `<` compares), booleans, nil, `var`,
//! blocks, `if`/`while`/`for`, `fun` with closures and recursion, `class` with fields,
//! methods, `this`, `init`, inheritance and `super`, lists (`[1, 2]`, `l[i]`, `l[i] = v`),
//! maps (`{"a": 1}`, `m["a"]`, `m["a"] = v`), `print`, and the natives of `natives.rs`.
//! Pipeline: `lexer.rs` -> `parser.rs` (`ast.rs`) -> `resolve.rs` -> the evaluator
//! (`values.rs`, `eval.rs`, `natives.rs`), expanded per collector in `backends.rs`.

#[path = "../common/mod.rs"]
mod common;

/// Every backend runs with gc-core's counting allocator, as an interpreter on gc-core would
/// install it (README, "Memory outside the heap"): the pacer then sees the `Vec`s, maps and
/// strings that heap objects own in `malloc`. It only counts, so rust-gc and dumpster pay
/// its few atomic additions per allocation too, and nothing else.
#[global_allocator]
static ALLOC: gc_core::CountingAllocator = gc_core::CountingAllocator::system();

#[macro_use]
mod values;
#[macro_use]
mod eval;
#[macro_use]
mod natives;

mod ast;
mod backends;
mod bench;
mod lexer;
mod parser;
mod resolve;
mod shared;
#[cfg(test)]
mod tests;

use backends::Backend;
use shared::Size;
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "usage: interp FILE [--backend gc|rustgc|dumpster] [--quick]\n       \
                     interp --bench [--runs N] [--quick]";

enum Mode {
    Run { file: String, backend: Backend },
    Bench { runs: usize },
}

fn parse_args() -> Result<(Mode, bool), String> {
    let mut file = None;
    let mut backend = Backend::GcCore;
    let mut bench = false;
    let mut runs = 3;
    let mut quick = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--backend" => {
                let v = it.next().ok_or("--backend needs a value")?;
                backend = Backend::parse(&v).ok_or(format!("unknown backend {v:?}"))?;
            }
            "--bench" => bench = true,
            "--quick" => quick = true,
            "--runs" => {
                let v = it.next().ok_or("--runs needs a value")?;
                runs = common::parse_value(&v, "run count", |&n| n >= 1)?;
            }
            _ if a.starts_with("--") => return Err(format!("unknown argument {a:?}")),
            _ if file.is_none() => file = Some(a),
            _ => return Err(format!("unexpected argument {a:?}")),
        }
    }
    let mode = match (bench, file) {
        (true, None) => Mode::Bench { runs },
        (false, Some(file)) => Mode::Run { file, backend },
        (true, Some(_)) => return Err("--bench runs every script: give no FILE".into()),
        (false, None) => return Err("no script given".into()),
    };
    Ok((mode, quick))
}

/// Runs one script and prints its output and the summary line; exit status 65 for a
/// compile error, 70 for a runtime error (as clox).
fn run_file(file: &str, backend: Backend, size: Size) -> ExitCode {
    let src = match std::fs::read_to_string(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("interp: cannot read {file}: {e}");
            return ExitCode::from(66);
        }
    };
    let start = Instant::now();
    let (out, result) = shared::run_on_big_stack(move || backend.run(&src, size));
    let elapsed = start.elapsed();
    print!("{out}");
    let status = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            let compile_error = matches!(e, shared::RunError::Compile(_));
            return ExitCode::from(if compile_error { 65 } else { 70 });
        }
    };
    let cycles = match backend {
        Backend::GcCore => gc_core::mem_stats().num_gc.to_string(),
        _ => "-".into(),
    };
    let script = std::path::Path::new(file)
        .file_name()
        .map_or(file.into(), |n| n.to_string_lossy());
    eprintln!(
        "interp: backend={} script={script} size={} time_ms={:.1} peak_rss_mb={} gc_cycles={cycles}",
        backend.name(),
        if size == Size::Quick { "quick" } else { "full" },
        elapsed.as_secs_f64() * 1e3,
        common::peak_rss_field(),
    );
    status
}

fn main() -> ExitCode {
    let (mode, quick) = match parse_args() {
        Ok(m) => m,
        Err(e) => return common::usage_error("interp", USAGE, &e),
    };
    let size = if quick { Size::Quick } else { Size::Full };
    match mode {
        Mode::Run { file, backend } => run_file(&file, backend, size),
        Mode::Bench { runs } => bench::bench(runs, quick),
    }
}
