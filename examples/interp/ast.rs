//! The syntax tree. It is not garbage: the parser builds it with `Box` and `Vec`, and a
//! function's declaration is an `Arc<FunDecl>` shared by every closure made from it (`Arc`
//! rather than `Rc` because gc-core's objects must be `Send + Sync`). Names are interned
//! (`Sym`), and the resolver (`resolve.rs`) fills in where each variable lives before the
//! program runs, so the evaluator never looks a local up by name.

use std::sync::Arc;

/// An interned identifier: an index into `Program::names`.
pub type Sym = u32;

/// `init`, `this` and `super` are interned first, in this order.
pub const SYM_INIT: Sym = 0;
pub const SYM_THIS: Sym = 1;
pub const SYM_SUPER: Sym = 2;

/// Where a variable lives, decided by the resolver.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Loc {
    /// Not resolved yet (only between parsing and resolving).
    Unresolved,
    /// Slot `slot` of the environment `hops` parents up from the current one.
    Local { hops: u32, slot: u32 },
    /// Index into the global table.
    Global(u32),
}

/// A use or a declaration of a variable.
#[derive(Clone, Debug)]
pub struct Var {
    pub name: Sym,
    pub loc: Loc,
    pub line: u32,
}

impl Var {
    pub fn new(name: Sym, line: u32) -> Var {
        Var {
            name,
            loc: Loc::Unresolved,
            line,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnOp {
    Neg,
    Not,
}

#[derive(Debug)]
pub enum Expr {
    Nil,
    Bool(bool),
    Num(f64),
    /// A string literal: an index into `Program::strings` (each backend allocates the
    /// literals once, as constants).
    Str(u32),
    List(Vec<Expr>),
    /// `{"key": value, ...}`
    Map(Vec<(Expr, Expr)>, u32),
    Var(Var),
    Assign(Var, Box<Expr>),
    Unary(UnOp, Box<Expr>, u32),
    Binary(BinOp, Box<Expr>, Box<Expr>, u32),
    /// `and` (true) or `or` (false).
    Logical(bool, Box<Expr>, Box<Expr>),
    Call(Box<Expr>, Vec<Expr>, u32),
    Get(Box<Expr>, Sym, u32),
    Set(Box<Expr>, Sym, Box<Expr>, u32),
    Index(Box<Expr>, Box<Expr>, u32),
    SetIndex(Box<Expr>, Box<Expr>, Box<Expr>, u32),
    This(Var),
    /// `super.method`: the `super` variable, the `this` variable, the method's name.
    Super(Var, Var, Sym),
}

#[derive(Debug)]
pub enum Stmt {
    Expr(Expr),
    Print(Expr),
    /// `var name = init;` (a declaration: the resolver gives it hops 0 or a global).
    Var(Var, Option<Expr>),
    Block(Block),
    If(Expr, Box<Stmt>, Option<Box<Stmt>>),
    While(Expr, Box<Stmt>),
    Fun(Var, Arc<FunDecl>),
    Return(Option<Expr>, u32),
    Class(ClassDecl),
}

/// A block; it gets an environment of its own only if it declares something (`slots > 0`).
#[derive(Debug)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub slots: u32,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FunKind {
    Function,
    Method,
    Initializer,
}

/// A function or method. A call makes one environment holding the parameters and the
/// body's own declarations (`slots` of them; none at all when `slots == 0`).
#[derive(Debug)]
pub struct FunDecl {
    pub name: Sym,
    pub params: Vec<Sym>,
    pub body: Vec<Stmt>,
    pub slots: u32,
    pub kind: FunKind,
    pub line: u32,
}

#[derive(Debug)]
pub struct ClassDecl {
    pub name: Var,
    pub superclass: Option<Var>,
    pub methods: Vec<Arc<FunDecl>>,
}

/// A parsed and resolved program.
#[derive(Debug)]
pub struct Program {
    pub stmts: Vec<Stmt>,
    /// Interned identifiers (`Sym` indexes this).
    pub names: Vec<String>,
    /// String literals (`Expr::Str` indexes this).
    pub strings: Vec<String>,
    /// The name of each global slot (`Loc::Global` indexes this).
    pub globals: Vec<Sym>,
}
