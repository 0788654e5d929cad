//! The resolver: decides where every variable lives before the program runs, as the
//! resolver of Crafting Interpreters does, but to slots rather than to depths alone. A block
//! or a function call gets one environment with a slot per declaration (parameters first),
//! and no environment at all if it declares nothing; a variable use becomes (environments
//! up, slot) or a global index. Top-level declarations and unknown names are globals (an
//! unknown one fails when it is read at run time: "Undefined variable").
//!
//! Also the static errors: reading a local in its own initializer, a name declared twice in
//! one scope, `return` outside a function or with a value in `init`, `this` outside a class,
//! `super` outside a subclass, a class inheriting from itself.

use crate::ast::*;
use std::collections::HashMap;
use std::sync::Arc;

struct Scope {
    /// Declared names in slot order, and whether each is defined yet.
    names: Vec<(Sym, bool)>,
    /// Whether the scope has an environment at run time (it declares something).
    materialized: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum ClassCtx {
    None,
    Class,
    Subclass,
}

struct Resolver<'a> {
    names: &'a [String],
    scopes: Vec<Scope>,
    global_ids: HashMap<Sym, u32>,
    globals: Vec<Sym>,
    fun: Option<FunKind>,
    class: ClassCtx,
}

type RResult = Result<(), String>;

/// Resolves `program` in place. `predefined` names (the natives) take the first global
/// slots, in order.
pub fn resolve(program: &mut Program, predefined: &[Sym]) -> RResult {
    let mut r = Resolver {
        names: &program.names,
        scopes: Vec::new(),
        global_ids: HashMap::new(),
        globals: Vec::new(),
        fun: None,
        class: ClassCtx::None,
    };
    for &name in predefined {
        r.global(name);
    }
    for s in &mut program.stmts {
        r.stmt(s)?;
    }
    program.globals = r.globals;
    Ok(())
}

/// The number of declarations directly in `stmts` (one slot each).
fn count_decls(stmts: &[Stmt]) -> u32 {
    stmts
        .iter()
        .filter(|s| matches!(s, Stmt::Var(..) | Stmt::Fun(..) | Stmt::Class(..)))
        .count() as u32
}

impl Resolver<'_> {
    fn err(&self, line: u32, name: Sym, msg: &str) -> RResult {
        Err(format!(
            "[line {line}] Error at '{}': {msg}",
            self.names[name as usize]
        ))
    }

    fn global(&mut self, name: Sym) -> u32 {
        let next = self.globals.len() as u32;
        let id = *self.global_ids.entry(name).or_insert(next);
        if id == next {
            self.globals.push(name);
        }
        id
    }

    fn push(&mut self, names: Vec<(Sym, bool)>, materialized: bool) {
        self.scopes.push(Scope {
            names,
            materialized,
        });
    }

    /// Declares `v` in the innermost scope (defined at once if `defined`), or as a global
    /// at the top level.
    fn declare(&mut self, v: &mut Var, defined: bool) -> RResult {
        let Some(scope) = self.scopes.last_mut() else {
            v.loc = Loc::Global(self.global(v.name));
            return Ok(());
        };
        if scope.names.iter().any(|&(n, _)| n == v.name) {
            return self.err(
                v.line,
                v.name,
                "Already a variable with this name in this scope.",
            );
        }
        v.loc = Loc::Local {
            hops: 0,
            slot: scope.names.len() as u32,
        };
        scope.names.push((v.name, defined));
        Ok(())
    }

    fn define(&mut self, v: &Var) {
        if let (Some(scope), Loc::Local { slot, .. }) = (self.scopes.last_mut(), v.loc) {
            scope.names[slot as usize].1 = true;
        }
    }

    fn use_var(&mut self, v: &mut Var) -> RResult {
        let mut hops = 0;
        for scope in self.scopes.iter().rev() {
            if let Some(slot) = scope.names.iter().position(|&(n, _)| n == v.name) {
                if !scope.names[slot].1 {
                    return self.err(
                        v.line,
                        v.name,
                        "Can't read local variable in its own initializer.",
                    );
                }
                v.loc = Loc::Local {
                    hops,
                    slot: slot as u32,
                };
                return Ok(());
            }
            if scope.materialized {
                hops += 1;
            }
        }
        v.loc = Loc::Global(self.global(v.name));
        Ok(())
    }

    fn stmts(&mut self, stmts: &mut [Stmt]) -> RResult {
        stmts.iter_mut().try_for_each(|s| self.stmt(s))
    }

    fn stmt(&mut self, s: &mut Stmt) -> RResult {
        match s {
            Stmt::Expr(e) | Stmt::Print(e) => self.expr(e),
            Stmt::Var(v, init) => {
                self.declare(v, false)?;
                if let Some(e) = init {
                    self.expr(e)?;
                }
                self.define(v);
                Ok(())
            }
            Stmt::Block(b) => {
                b.slots = count_decls(&b.stmts);
                self.push(Vec::new(), b.slots > 0);
                self.stmts(&mut b.stmts)?;
                self.scopes.pop();
                Ok(())
            }
            Stmt::If(c, t, e) => {
                self.expr(c)?;
                self.stmt(t)?;
                e.as_mut().map_or(Ok(()), |e| self.stmt(e))
            }
            Stmt::While(c, body) => {
                self.expr(c)?;
                self.stmt(body)
            }
            Stmt::Fun(v, decl) => {
                self.declare(v, true)?;
                self.function(decl)
            }
            Stmt::Return(value, line) => match (self.fun, value) {
                (None, _) => Err(format!(
                    "[line {line}] Error at 'return': Can't return from top-level code."
                )),
                (Some(FunKind::Initializer), Some(_)) => Err(format!(
                    "[line {line}] Error at 'return': Can't return a value from an initializer."
                )),
                (_, Some(e)) => self.expr(e),
                (_, None) => Ok(()),
            },
            Stmt::Class(c) => self.class(c),
        }
    }

    fn function(&mut self, decl: &mut Arc<FunDecl>) -> RResult {
        let decl = Arc::get_mut(decl).expect("a declaration is not shared before it runs");
        decl.slots = decl.params.len() as u32 + count_decls(&decl.body);
        let mut params = Vec::with_capacity(decl.params.len());
        for &p in &decl.params {
            if params.iter().any(|&(n, _)| n == p) {
                return self.err(
                    decl.line,
                    p,
                    "Already a variable with this name in this scope.",
                );
            }
            params.push((p, true));
        }
        let outer = self.fun.replace(decl.kind);
        self.push(params, decl.slots > 0);
        let result = self.stmts(&mut decl.body);
        self.scopes.pop();
        self.fun = outer;
        result
    }

    fn class(&mut self, c: &mut ClassDecl) -> RResult {
        self.declare(&mut c.name, true)?;
        let outer = self.class;
        self.class = ClassCtx::Class;
        if let Some(sup) = &mut c.superclass {
            if sup.name == c.name.name {
                return self.err(sup.line, sup.name, "A class can't inherit from itself.");
            }
            self.use_var(sup)?;
            self.class = ClassCtx::Subclass;
            self.push(vec![(SYM_SUPER, true)], true);
        }
        for m in &mut c.methods {
            // `bind` makes an environment holding `this` around each method.
            self.push(vec![(SYM_THIS, true)], true);
            let r = self.function(m);
            self.scopes.pop();
            r?;
        }
        if c.superclass.is_some() {
            self.scopes.pop();
        }
        self.class = outer;
        Ok(())
    }

    fn expr(&mut self, e: &mut Expr) -> RResult {
        match e {
            Expr::Nil | Expr::Bool(_) | Expr::Num(_) | Expr::Str(_) => Ok(()),
            Expr::List(items) => items.iter_mut().try_for_each(|i| self.expr(i)),
            Expr::Map(entries, _) => entries.iter_mut().try_for_each(|(k, v)| {
                self.expr(k)?;
                self.expr(v)
            }),
            Expr::Var(v) => self.use_var(v),
            Expr::Assign(v, value) => {
                self.expr(value)?;
                self.use_var(v)
            }
            Expr::Unary(_, a, _) => self.expr(a),
            Expr::Binary(_, a, b, _) | Expr::Logical(_, a, b) | Expr::Index(a, b, _) => {
                self.expr(a)?;
                self.expr(b)
            }
            Expr::Call(callee, args, _) => {
                self.expr(callee)?;
                args.iter_mut().try_for_each(|a| self.expr(a))
            }
            Expr::Get(obj, _, _) => self.expr(obj),
            Expr::Set(obj, _, value, _) => {
                self.expr(value)?;
                self.expr(obj)
            }
            Expr::SetIndex(obj, idx, value, _) => {
                self.expr(obj)?;
                self.expr(idx)?;
                self.expr(value)
            }
            Expr::This(v) => {
                if self.class == ClassCtx::None {
                    return self.err(v.line, v.name, "Can't use 'this' outside of a class.");
                }
                self.use_var(v)
            }
            Expr::Super(sup, this, _) => {
                match self.class {
                    ClassCtx::None => {
                        return self.err(
                            sup.line,
                            sup.name,
                            "Can't use 'super' outside of a class.",
                        )
                    }
                    ClassCtx::Class => {
                        return self.err(
                            sup.line,
                            sup.name,
                            "Can't use 'super' in a class with no superclass.",
                        )
                    }
                    ClassCtx::Subclass => {}
                }
                self.use_var(sup)?;
                self.use_var(this)
            }
        }
    }
}
