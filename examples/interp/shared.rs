//! What the three backends share and what holds no garbage: compiling source to a resolved
//! program, the natives' table, input sizes, runtime errors, and number formatting.

use crate::ast::{Program, Sym};
use crate::{lexer, parser::Parser, resolve};

/// Which input size a script picks with the native `size(full, quick, test)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// The benchmark's size (0.5-3 s on the slowest backend).
    Full,
    /// `--quick`: for CI, a fraction of a second.
    Quick,
    /// The unit tests' size (tests build with little optimisation).
    #[cfg_attr(not(test), allow(dead_code))]
    Test,
}

/// The native functions, in global-slot order: name and arity.
pub const NATIVES: &[(&str, usize)] = &[
    ("clock", 0),
    ("len", 1),
    ("push", 2),
    ("pop", 1),
    ("map", 0),
    ("keys", 1),
    ("has", 2),
    ("str", 1),
    ("floor", 1),
    ("size", 3),
];

/// A native's index in `NATIVES`, as its value holds it.
pub mod native {
    pub const CLOCK: u8 = 0;
    pub const LEN: u8 = 1;
    pub const PUSH: u8 = 2;
    pub const POP: u8 = 3;
    pub const MAP: u8 = 4;
    pub const KEYS: u8 = 5;
    pub const HAS: u8 = 6;
    pub const STR: u8 = 7;
    pub const FLOOR: u8 = 8;
    pub const SIZE: u8 = 9;
}

/// A multiply-rotate hasher in the style of rustc's FxHash, for instance fields (`Sym`
/// keys) and map keys: interpreters do not pay for SipHash's flood resistance on every
/// property access, and neither do these (it would hide the collectors behind hashing).
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.write_u64(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        for &b in chunks.remainder() {
            self.write_u64(b as u64);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// `HashMap`'s hasher parameter for `FastHasher`.
pub type FastHash = std::hash::BuildHasherDefault<FastHasher>;

/// Lexes, parses and resolves `src`; the natives take the first global slots.
pub fn compile(src: &str) -> Result<Program, String> {
    let mut parser = Parser::new(lexer::lex(src)?);
    let natives: Vec<Sym> = NATIVES.iter().map(|(n, _)| parser.intern(n)).collect();
    let mut program = parser.parse()?;
    resolve::resolve(&mut program, &natives)?;
    Ok(program)
}

/// A runtime error: the message and the line it happened on.
#[derive(Clone, Debug, PartialEq)]
pub struct RuntimeError {
    pub msg: String,
    pub line: u32,
}

impl std::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[line {}] Runtime error: {}", self.line, self.msg)
    }
}

/// Why a run stopped early.
#[derive(Clone, Debug, PartialEq)]
pub enum RunError {
    /// A lexer, parser or resolver error (exit status 65).
    Compile(String),
    /// A runtime error (exit status 70).
    Runtime(RuntimeError),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Compile(e) => f.write_str(e),
            RunError::Runtime(e) => e.fmt(f),
        }
    }
}

/// Lox's number format: integers without a fractional part, others as Rust prints them.
pub fn format_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// The deepest call nesting before "Stack overflow." (the evaluator recurses on the Rust
/// stack; `run_on_big_stack` gives it room).
pub const MAX_CALL_DEPTH: usize = 2000;

/// Runs `f` on a thread with a 256 MiB stack (only what is touched becomes resident), so
/// that deep Lox recursion reaches `MAX_CALL_DEPTH` rather than the end of the stack.
/// rust-gc's and dumpster's heaps are per thread: everything a run allocates stays on it.
pub fn run_on_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .name("interp".into())
        .stack_size(256 << 20)
        .spawn(f)
        .expect("cannot start the interpreter thread")
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}
