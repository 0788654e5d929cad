//! The runtime's objects, written once for every collector: `define_values!` expands, in a
//! backend's module, the value enum and the heap objects (environments, closures, classes,
//! instances, lists, maps), deriving the backend's `Trace` and the extra derives given
//! (rust-gc's `Finalize`).
//!
//! The expansion expects the backend module to provide: `Trace` (its derive), `Gc<T>` (its pointer), `Cell<T>`
//! (its mutable cell, with `borrow`/`borrow_mut`), `Str` (a string in its heap),
//! `new_str(String) -> Str`, and `FunRef` (a function's `Arc<FunDecl>`, wrapped so its
//! collector does not look inside).
//!
//! Objects, as an interpreter author writes them: an environment is a heap object whose
//! slots sit in a cell, so closures share it (capture by reference); a closure is a
//! declaration and the environment it was made in; a method is bound by making an
//! environment holding `this` and a new closure over it (as Crafting Interpreters' jlox).

macro_rules! define_values {
    ($($derive:ident),*) => {
        use crate::ast::Sym;
        use crate::shared::FastHash;
        use std::collections::HashMap;

        /// A Lox value. Everything but nil, booleans, numbers and natives is a `Gc`.
        #[derive(Trace $(, $derive)*)]
        #[derive(Clone)]
        pub enum Value {
            Nil,
            Bool(bool),
            Num(f64),
            Str(Str),
            /// An index into `shared::NATIVES`.
            Native(u8),
            Fun(Gc<Closure>),
            Class(Gc<Class>),
            Instance(Gc<Instance>),
            List(Gc<List>),
            Map(Gc<Map>),
        }

        /// The variables of one block or call, in slots the resolver numbered.
        #[derive(Trace $(, $derive)*)]
        pub struct Env {
            pub slots: Cell<Vec<Value>>,
            pub parent: Option<Gc<Env>>,
        }

        #[derive(Trace $(, $derive)*)]
        pub struct Closure {
            pub decl: FunRef,
            pub env: Gc<Env>,
        }

        #[derive(Trace $(, $derive)*)]
        pub struct Class {
            pub name: Sym,
            pub superclass: Option<Gc<Class>>,
            pub methods: HashMap<Sym, Gc<Closure>, FastHash>,
        }

        #[derive(Trace $(, $derive)*)]
        pub struct Instance {
            pub class: Gc<Class>,
            pub fields: Cell<HashMap<Sym, Value, FastHash>>,
        }

        #[derive(Trace $(, $derive)*)]
        pub struct List {
            pub items: Cell<Vec<Value>>,
        }

        /// A map with string keys (the key's text, owned by the map).
        #[derive(Trace $(, $derive)*)]
        pub struct Map {
            pub entries: Cell<HashMap<String, Value, FastHash>>,
        }

        impl Env {
            /// An environment with `slots` (filled with nil up to `size`) under `parent`.
            pub fn new(mut slots: Vec<Value>, size: usize, parent: Option<Gc<Env>>) -> Gc<Env> {
                slots.resize(size, Value::Nil);
                Gc::new(Env {
                    slots: Cell::new(slots),
                    parent,
                })
            }

            /// The environment `hops` parents up.
            pub fn up(&self, hops: u32) -> &Env {
                let mut e = self;
                for _ in 0..hops {
                    e = e.parent.as_deref().expect("resolved depth within the chain");
                }
                e
            }
        }

        impl Class {
            /// The method `name` of this class or the nearest superclass that has one.
            pub fn find_method(&self, name: Sym) -> Option<Gc<Closure>> {
                let mut class = self;
                loop {
                    if let Some(m) = class.methods.get(&name) {
                        return Some(m.clone());
                    }
                    class = class.superclass.as_deref()?;
                }
            }
        }

        impl Value {
            pub fn truthy(&self) -> bool {
                !matches!(self, Value::Nil | Value::Bool(false))
            }

            /// `==`: by value for nil, booleans, numbers and strings, by identity otherwise.
            pub fn equals(&self, other: &Value) -> bool {
                match (self, other) {
                    (Value::Nil, Value::Nil) => true,
                    (Value::Bool(a), Value::Bool(b)) => a == b,
                    (Value::Num(a), Value::Num(b)) => a == b,
                    (Value::Str(a), Value::Str(b)) => as_str(a) == as_str(b),
                    (Value::Native(a), Value::Native(b)) => a == b,
                    (Value::Fun(a), Value::Fun(b)) => Gc::ptr_eq(a, b),
                    (Value::Class(a), Value::Class(b)) => Gc::ptr_eq(a, b),
                    (Value::Instance(a), Value::Instance(b)) => Gc::ptr_eq(a, b),
                    (Value::List(a), Value::List(b)) => Gc::ptr_eq(a, b),
                    (Value::Map(a), Value::Map(b)) => Gc::ptr_eq(a, b),
                    _ => false,
                }
            }

            /// The text `print` writes. Lists and maps print their elements (maps by key
            /// order), down to a few levels, so a list that holds itself still prints.
            pub fn show(&self, names: &[String], depth: usize) -> String {
                let name = |s: Sym| names[s as usize].as_str();
                match self {
                    Value::Nil => "nil".into(),
                    Value::Bool(b) => b.to_string(),
                    Value::Num(n) => crate::shared::format_num(*n),
                    Value::Str(s) => as_str(s).to_string(),
                    Value::Native(i) => format!("<native fn {}>", crate::shared::NATIVES[*i as usize].0),
                    Value::Fun(c) => format!("<fn {}>", name(c.decl.name)),
                    Value::Class(c) => name(c.name).to_string(),
                    Value::Instance(i) => format!("{} instance", name(i.class.name)),
                    _ if depth > 4 => "...".into(),
                    Value::List(l) => {
                        let items = l.items.borrow();
                        let shown: Vec<String> = items.iter().map(|v| v.show(names, depth + 1)).collect();
                        format!("[{}]", shown.join(", "))
                    }
                    Value::Map(m) => {
                        let entries = m.entries.borrow();
                        let mut keys: Vec<&String> = entries.keys().collect();
                        keys.sort();
                        let shown: Vec<String> = keys
                            .into_iter()
                            .map(|k| format!("{k}: {}", entries[k].show(names, depth + 1)))
                            .collect();
                        format!("{{{}}}", shown.join(", "))
                    }
                }
            }
        }

        impl std::ops::Deref for FunRef {
            type Target = crate::ast::FunDecl;
            fn deref(&self) -> &crate::ast::FunDecl {
                &self.0
            }
        }

        /// The text of a heap string (`Gc<str>` and `Gc<String>` alike).
        pub fn as_str(s: &Str) -> &str {
            s
        }
    };
}
