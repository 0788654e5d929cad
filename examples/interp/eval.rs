//! The tree-walking evaluator, written once for every collector: `define_evaluator!`
//! expands, in a backend's module (after `define_values!`), the interpreter state and the
//! evaluation of statements and expressions. Natives are in `natives.rs`.
//!
//! Environments are passed down as `&Gc<Env>`; a block that declares something and every
//! call whose function has parameters or locals make a new one. Calls recurse on the Rust
//! stack (up to `MAX_CALL_DEPTH`). `return` unwinds as `Err(Ctrl::Return)`, runtime errors
//! as `Err(Ctrl::Error)`.

macro_rules! define_evaluator {
    () => {
        use crate::ast::{BinOp, Expr, FunDecl, FunKind, Loc, Program, Stmt, UnOp, Var, SYM_INIT};
        use crate::shared::{RunError, RuntimeError, Size, MAX_CALL_DEPTH, NATIVES};

        /// How evaluation leaves a statement early.
        pub enum Ctrl {
            Return(Value),
            Error(RuntimeError),
        }

        pub type R<T> = Result<T, Ctrl>;

        /// A runtime error at `line`.
        pub fn fail<T>(line: u32, msg: impl Into<String>) -> R<T> {
            Err(Ctrl::Error(RuntimeError {
                msg: msg.into(),
                line,
            }))
        }

        /// The interpreter: globals, the string constants, and where `print` writes.
        pub struct Interp {
            globals: Vec<Option<Value>>,
            consts: Vec<Str>,
            names: Vec<String>,
            #[allow(dead_code)] // read by `global`, which only gc-core's tests call
            global_names: Vec<Sym>,
            root: Gc<Env>,
            depth: usize,
            size: Size,
            start: std::time::Instant,
            /// What `print` wrote so far.
            pub out: String,
        }

        /// Compiles and runs `src`: what it printed, and the compile or runtime error that
        /// stopped it, if any.
        pub fn run(src: &str, size: Size) -> (String, Result<(), RunError>) {
            let program = match crate::shared::compile(src) {
                Ok(p) => p,
                Err(e) => return (String::new(), Err(RunError::Compile(e))),
            };
            let mut interp = Interp::new(&program, size);
            let result = interp.run(&program).map_err(RunError::Runtime);
            (std::mem::take(&mut interp.out), result)
        }

        impl Interp {
            pub fn new(program: &Program, size: Size) -> Interp {
                let mut globals = vec![None; program.globals.len()];
                for (i, g) in globals.iter_mut().take(NATIVES.len()).enumerate() {
                    *g = Some(Value::Native(i as u8));
                }
                Interp {
                    globals,
                    consts: program.strings.iter().map(|s| new_str(s.clone())).collect(),
                    names: program.names.clone(),
                    global_names: program.globals.clone(),
                    root: Env::new(Vec::new(), 0, None),
                    depth: 0,
                    size,
                    start: std::time::Instant::now(),
                    out: String::new(),
                }
            }

            pub fn run(&mut self, program: &Program) -> Result<(), RuntimeError> {
                let root = self.root.clone();
                for s in &program.stmts {
                    match self.exec(s, &root) {
                        Ok(()) => {}
                        Err(Ctrl::Error(e)) => return Err(e),
                        Err(Ctrl::Return(_)) => {
                            unreachable!("the resolver rejects a top-level return")
                        }
                    }
                }
                Ok(())
            }

            /// The value of the global `name`, if the program defined it (for tests).
            #[allow(dead_code)]
            pub fn global(&self, name: &str) -> Option<Value> {
                let i = self
                    .global_names
                    .iter()
                    .position(|&s| self.names[s as usize] == name)?;
                self.globals[i].clone()
            }

            fn name(&self, s: Sym) -> &str {
                &self.names[s as usize]
            }

            // ---- variables

            fn lookup(&self, v: &Var, env: &Gc<Env>) -> R<Value> {
                match v.loc {
                    Loc::Local { hops, slot } => {
                        Ok(env.up(hops).slots.borrow()[slot as usize].clone())
                    }
                    Loc::Global(i) => match &self.globals[i as usize] {
                        Some(value) => Ok(value.clone()),
                        None => fail(
                            v.line,
                            format!("Undefined variable '{}'.", self.name(v.name)),
                        ),
                    },
                    Loc::Unresolved => unreachable!("the resolver resolves every variable"),
                }
            }

            fn assign(&mut self, v: &Var, env: &Gc<Env>, value: Value) -> R<()> {
                match v.loc {
                    Loc::Local { hops, slot } => {
                        env.up(hops).slots.borrow_mut()[slot as usize] = value;
                        Ok(())
                    }
                    Loc::Global(i) => match &mut self.globals[i as usize] {
                        Some(g) => {
                            *g = value;
                            Ok(())
                        }
                        None => fail(
                            v.line,
                            format!("Undefined variable '{}'.", self.name(v.name)),
                        ),
                    },
                    Loc::Unresolved => unreachable!("the resolver resolves every variable"),
                }
            }

            fn define(&mut self, v: &Var, env: &Gc<Env>, value: Value) {
                match v.loc {
                    Loc::Local { slot, .. } => env.slots.borrow_mut()[slot as usize] = value,
                    Loc::Global(i) => self.globals[i as usize] = Some(value),
                    Loc::Unresolved => unreachable!("the resolver resolves every variable"),
                }
            }

            // ---- statements

            fn exec_all(&mut self, stmts: &[Stmt], env: &Gc<Env>) -> R<()> {
                for s in stmts {
                    self.exec(s, env)?;
                }
                Ok(())
            }

            fn exec(&mut self, s: &Stmt, env: &Gc<Env>) -> R<()> {
                match s {
                    Stmt::Expr(e) => {
                        self.eval(e, env)?;
                    }
                    Stmt::Print(e) => {
                        let v = self.eval(e, env)?;
                        let text = v.show(&self.names, 0);
                        self.out.push_str(&text);
                        self.out.push('\n');
                    }
                    Stmt::Var(v, init) => {
                        let value = match init {
                            Some(e) => self.eval(e, env)?,
                            None => Value::Nil,
                        };
                        self.define(v, env, value);
                    }
                    Stmt::Block(b) if b.slots == 0 => self.exec_all(&b.stmts, env)?,
                    Stmt::Block(b) => {
                        let inner = Env::new(Vec::new(), b.slots as usize, Some(env.clone()));
                        self.exec_all(&b.stmts, &inner)?;
                    }
                    Stmt::If(cond, then, otherwise) => {
                        if self.eval(cond, env)?.truthy() {
                            self.exec(then, env)?;
                        } else if let Some(o) = otherwise {
                            self.exec(o, env)?;
                        }
                    }
                    Stmt::While(cond, body) => {
                        while self.eval(cond, env)?.truthy() {
                            self.exec(body, env)?;
                        }
                    }
                    Stmt::Fun(v, decl) => {
                        let f = Gc::new(Closure {
                            decl: FunRef(decl.clone()),
                            env: env.clone(),
                        });
                        self.define(v, env, Value::Fun(f));
                    }
                    Stmt::Return(value, _) => {
                        let v = match value {
                            Some(e) => self.eval(e, env)?,
                            None => Value::Nil,
                        };
                        return Err(Ctrl::Return(v));
                    }
                    Stmt::Class(c) => {
                        let superclass = match &c.superclass {
                            None => None,
                            Some(v) => match &self.lookup(v, env)? {
                                Value::Class(k) => Some(k.clone()),
                                _ => return fail(v.line, "Superclass must be a class."),
                            },
                        };
                        // Methods of a subclass close over an environment holding `super`.
                        let method_env = match &superclass {
                            Some(k) => {
                                Env::new(vec![Value::Class(k.clone())], 1, Some(env.clone()))
                            }
                            None => env.clone(),
                        };
                        let methods = c
                            .methods
                            .iter()
                            .map(|m| {
                                let f = Closure {
                                    decl: FunRef(m.clone()),
                                    env: method_env.clone(),
                                };
                                (m.name, Gc::new(f))
                            })
                            .collect();
                        let class = Gc::new(Class {
                            name: c.name.name,
                            superclass,
                            methods,
                        });
                        self.define(&c.name, env, Value::Class(class));
                    }
                }
                Ok(())
            }

            // ---- expressions

            fn eval(&mut self, e: &Expr, env: &Gc<Env>) -> R<Value> {
                Ok(match e {
                    Expr::Nil => Value::Nil,
                    Expr::Bool(b) => Value::Bool(*b),
                    Expr::Num(n) => Value::Num(*n),
                    Expr::Str(i) => Value::Str(self.consts[*i as usize].clone()),
                    Expr::Var(v) | Expr::This(v) => self.lookup(v, env)?,
                    Expr::Assign(v, value) => {
                        let value = self.eval(value, env)?;
                        self.assign(v, env, value.clone())?;
                        value
                    }
                    Expr::Unary(op, a, line) => match (op, self.eval(a, env)?) {
                        (UnOp::Not, v) => Value::Bool(!v.truthy()),
                        (UnOp::Neg, Value::Num(n)) => Value::Num(-n),
                        (UnOp::Neg, _) => return fail(*line, "Operand must be a number."),
                    },
                    Expr::Binary(op, a, b, line) => {
                        let a = self.eval(a, env)?;
                        let b = self.eval(b, env)?;
                        binary(*op, &a, &b, *line)?
                    }
                    Expr::Logical(is_and, a, b) => {
                        let a = self.eval(a, env)?;
                        if a.truthy() == *is_and {
                            self.eval(b, env)?
                        } else {
                            a
                        }
                    }
                    Expr::Call(callee, args, line) => {
                        let f = self.eval(callee, env)?;
                        self.call_value(&f, args, env, *line)?
                    }
                    Expr::Get(obj, name, line) => {
                        let obj = self.eval(obj, env)?;
                        self.get(obj, *name, *line)?
                    }
                    Expr::Set(obj, name, value, line) => {
                        let obj = self.eval(obj, env)?;
                        let value = self.eval(value, env)?;
                        match &obj {
                            Value::Instance(i) => {
                                i.fields.borrow_mut().insert(*name, value.clone());
                            }
                            _ => return fail(*line, "Only instances have fields."),
                        }
                        value
                    }
                    Expr::Index(obj, idx, line) => {
                        let obj = self.eval(obj, env)?;
                        let idx = self.eval(idx, env)?;
                        index_get(&obj, &idx, *line)?
                    }
                    Expr::SetIndex(obj, idx, value, line) => {
                        let obj = self.eval(obj, env)?;
                        let idx = self.eval(idx, env)?;
                        let value = self.eval(value, env)?;
                        index_set(&obj, &idx, value.clone(), *line)?;
                        value
                    }
                    Expr::Super(sup, this, method) => {
                        let Value::Class(superclass) = &self.lookup(sup, env)? else {
                            unreachable!("`super` holds the superclass")
                        };
                        let this = self.lookup(this, env)?;
                        match superclass.find_method(*method) {
                            Some(m) => Value::Fun(bind(&m, this)),
                            None => {
                                return fail(
                                    sup.line,
                                    format!("Undefined property '{}'.", self.name(*method)),
                                )
                            }
                        }
                    }
                    Expr::List(items) => {
                        let mut values = Vec::with_capacity(items.len());
                        for item in items {
                            values.push(self.eval(item, env)?);
                        }
                        Value::List(Gc::new(List {
                            items: Cell::new(values),
                        }))
                    }
                    Expr::Map(entries, line) => {
                        let mut map =
                            HashMap::with_capacity_and_hasher(entries.len(), FastHash::default());
                        for (k, v) in entries {
                            let Value::Str(key) = &self.eval(k, env)? else {
                                return fail(*line, "Map keys must be strings.");
                            };
                            let value = self.eval(v, env)?;
                            map.insert(as_str(key).to_string(), value);
                        }
                        Value::Map(Gc::new(Map {
                            entries: Cell::new(map),
                        }))
                    }
                })
            }

            /// A property: a field, else a method bound to the instance.
            fn get(&mut self, obj: Value, name: Sym, line: u32) -> R<Value> {
                let Value::Instance(inst) = &obj else {
                    return fail(line, "Only instances have properties.");
                };
                if let Some(v) = inst.fields.borrow().get(&name) {
                    return Ok(v.clone());
                }
                match inst.class.find_method(name) {
                    Some(m) => Ok(Value::Fun(bind(&m, obj.clone()))),
                    None => fail(line, format!("Undefined property '{}'.", self.name(name))),
                }
            }

            // ---- calls

            fn args(&mut self, args: &[Expr], env: &Gc<Env>, capacity: usize) -> R<Vec<Value>> {
                let mut values = Vec::with_capacity(capacity.max(args.len()));
                for a in args {
                    values.push(self.eval(a, env)?);
                }
                Ok(values)
            }

            fn call_value(
                &mut self,
                f: &Value,
                args: &[Expr],
                env: &Gc<Env>,
                line: u32,
            ) -> R<Value> {
                match f {
                    Value::Fun(c) => {
                        check_arity(c.decl.params.len(), args.len(), line)?;
                        let values = self.args(args, env, c.decl.slots as usize)?;
                        self.call(c, values, line)
                    }
                    Value::Class(class) => {
                        let inst = Value::Instance(Gc::new(Instance {
                            class: class.clone(),
                            fields: Cell::new(HashMap::default()),
                        }));
                        match class.find_method(SYM_INIT) {
                            Some(init) => {
                                check_arity(init.decl.params.len(), args.len(), line)?;
                                let values = self.args(args, env, init.decl.slots as usize)?;
                                self.call(&bind(&init, inst.clone()), values, line)?;
                            }
                            None => check_arity(0, args.len(), line)?,
                        }
                        Ok(inst)
                    }
                    Value::Native(i) => {
                        let (_, arity) = NATIVES[*i as usize];
                        check_arity(arity, args.len(), line)?;
                        let values = self.args(args, env, 0)?;
                        self.native(*i, values, line)
                    }
                    _ => fail(line, "Can only call functions and classes."),
                }
            }

            /// Calls a closure with its arguments (already checked against its arity).
            fn call(&mut self, c: &Gc<Closure>, args: Vec<Value>, line: u32) -> R<Value> {
                if self.depth == MAX_CALL_DEPTH {
                    return fail(line, "Stack overflow.");
                }
                let decl: &FunDecl = &c.decl;
                self.depth += 1;
                let result = if decl.slots == 0 {
                    self.exec_all(&decl.body, &c.env)
                } else {
                    let env = Env::new(args, decl.slots as usize, Some(c.env.clone()));
                    self.exec_all(&decl.body, &env)
                };
                self.depth -= 1;
                let value = match result {
                    Ok(()) => Value::Nil,
                    Err(Ctrl::Return(v)) => v,
                    Err(e) => return Err(e),
                };
                if decl.kind == FunKind::Initializer {
                    // `init` returns `this`, the only slot of the environment `bind` made.
                    return Ok(c.env.slots.borrow()[0].clone());
                }
                Ok(value)
            }
        }

        fn check_arity(want: usize, got: usize, line: u32) -> R<()> {
            if want == got {
                Ok(())
            } else {
                fail(line, format!("Expected {want} arguments but got {got}."))
            }
        }

        /// A method bound to `this`: a new closure over an environment holding it.
        fn bind(method: &Gc<Closure>, this: Value) -> Gc<Closure> {
            Gc::new(Closure {
                decl: FunRef(method.decl.0.clone()),
                env: Env::new(vec![this], 1, Some(method.env.clone())),
            })
        }

        fn binary(op: BinOp, a: &Value, b: &Value, line: u32) -> R<Value> {
            use std::cmp::Ordering::{Equal, Greater, Less};
            if let BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge = op {
                let ordering = match (a, b) {
                    (Value::Num(x), Value::Num(y)) => x.partial_cmp(y),
                    (Value::Str(x), Value::Str(y)) => Some(as_str(x).cmp(as_str(y))),
                    _ => return fail(line, "Operands must be two numbers or two strings."),
                };
                return Ok(Value::Bool(match op {
                    BinOp::Lt => ordering == Some(Less),
                    BinOp::Le => matches!(ordering, Some(Less | Equal)),
                    BinOp::Gt => ordering == Some(Greater),
                    _ => matches!(ordering, Some(Greater | Equal)),
                }));
            }
            Ok(match (op, a, b) {
                (BinOp::Eq, ..) => Value::Bool(a.equals(b)),
                (BinOp::Ne, ..) => Value::Bool(!a.equals(b)),
                (BinOp::Add, Value::Num(x), Value::Num(y)) => Value::Num(x + y),
                (BinOp::Add, Value::Str(x), Value::Str(y)) => {
                    let (x, y) = (as_str(x), as_str(y));
                    let mut s = String::with_capacity(x.len() + y.len());
                    s.push_str(x);
                    s.push_str(y);
                    Value::Str(new_str(s))
                }
                (BinOp::Add, ..) => {
                    return fail(line, "Operands must be two numbers or two strings.")
                }
                (BinOp::Sub, Value::Num(x), Value::Num(y)) => Value::Num(x - y),
                (BinOp::Mul, Value::Num(x), Value::Num(y)) => Value::Num(x * y),
                (BinOp::Div, Value::Num(x), Value::Num(y)) => Value::Num(x / y),
                (BinOp::Rem, Value::Num(x), Value::Num(y)) => Value::Num(x % y),
                _ => return fail(line, "Operands must be numbers."),
            })
        }
    };
}
