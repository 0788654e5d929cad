//! Natives and indexing, written once for every collector: `define_natives!` expands, in a
//! backend's module (after `define_evaluator!`), the native functions of
//! `shared::NATIVES` and `list[i]` / `map["key"]` reads and writes.
//!
//! `clock()` seconds since the interpreter started; `len(s | list | map)`;
//! `push(list, v)`; `pop(list)`; `map()` a new empty map; `keys(map)` its keys as a sorted
//! list; `has(map, key)`; `str(v)` the text `print` would write; `floor(n)`;
//! `size(full, quick, test)` the argument for the run's input size (`shared::Size`). A
//! missing map key reads as nil.

macro_rules! define_natives {
    () => {
        use crate::shared::native;

        impl Interp {
            /// Calls native `i` with its arguments (arity already checked).
            fn native(&mut self, i: u8, args: Vec<Value>, line: u32) -> R<Value> {
                let name = NATIVES[i as usize].0;
                let bad = |what: &str| fail(line, format!("{name}() takes {what}."));
                Ok(match (i, args.as_slice()) {
                    (native::CLOCK, []) => Value::Num(self.start.elapsed().as_secs_f64()),
                    (native::LEN, [v]) => Value::Num(match v {
                        Value::Str(s) => as_str(s).len(),
                        Value::List(l) => l.items.borrow().len(),
                        Value::Map(m) => m.entries.borrow().len(),
                        _ => return bad("a string, a list or a map"),
                    } as f64),
                    (native::PUSH, [Value::List(l), v]) => {
                        l.items.borrow_mut().push(v.clone());
                        Value::Nil
                    }
                    (native::PUSH, _) => return bad("a list and a value"),
                    (native::POP, [Value::List(l)]) => match l.items.borrow_mut().pop() {
                        Some(v) => v,
                        None => return fail(line, "pop() from an empty list."),
                    },
                    (native::POP, _) => return bad("a list"),
                    (native::MAP, []) => Value::Map(Gc::new(Map {
                        entries: Cell::new(HashMap::default()),
                    })),
                    (native::KEYS, [Value::Map(m)]) => {
                        let mut keys: Vec<String> = m.entries.borrow().keys().cloned().collect();
                        keys.sort();
                        let items = keys.into_iter().map(|k| Value::Str(new_str(k))).collect();
                        Value::List(Gc::new(List {
                            items: Cell::new(items),
                        }))
                    }
                    (native::KEYS, _) => return bad("a map"),
                    (native::HAS, [Value::Map(m), Value::Str(k)]) => {
                        Value::Bool(m.entries.borrow().contains_key(as_str(k)))
                    }
                    (native::HAS, _) => return bad("a map and a string"),
                    (native::STR, [v @ Value::Str(_)]) => v.clone(),
                    (native::STR, [v]) => Value::Str(new_str(v.show(&self.names, 0))),
                    (native::FLOOR, [Value::Num(n)]) => Value::Num(n.floor()),
                    (native::FLOOR, _) => return bad("a number"),
                    (native::SIZE, [full, quick, test]) => match self.size {
                        Size::Full => full.clone(),
                        Size::Quick => quick.clone(),
                        Size::Test => test.clone(),
                    },
                    _ => unreachable!("arity checked against NATIVES"),
                })
            }
        }

        /// A list index: a whole number within `0..len`.
        fn list_index(n: f64, len: usize, line: u32) -> R<usize> {
            if n.fract() == 0.0 && n >= 0.0 && n < len as f64 {
                Ok(n as usize)
            } else {
                fail(
                    line,
                    format!(
                        "List index {} out of range 0..{len}.",
                        crate::shared::format_num(n)
                    ),
                )
            }
        }

        fn index_get(obj: &Value, idx: &Value, line: u32) -> R<Value> {
            match (obj, idx) {
                (Value::List(l), Value::Num(n)) => {
                    let items = l.items.borrow();
                    Ok(items[list_index(*n, items.len(), line)?].clone())
                }
                (Value::Map(m), Value::Str(k)) => Ok(m
                    .entries
                    .borrow()
                    .get(as_str(k))
                    .cloned()
                    .unwrap_or(Value::Nil)),
                (Value::List(_), _) => fail(line, "List index must be a number."),
                (Value::Map(_), _) => fail(line, "Map key must be a string."),
                _ => fail(line, "Only lists and maps can be indexed."),
            }
        }

        fn index_set(obj: &Value, idx: &Value, value: Value, line: u32) -> R<()> {
            match (obj, idx) {
                (Value::List(l), Value::Num(n)) => {
                    let mut items = l.items.borrow_mut();
                    let i = list_index(*n, items.len(), line)?;
                    items[i] = value;
                }
                (Value::Map(m), Value::Str(k)) => {
                    let mut entries = m.entries.borrow_mut();
                    match entries.get_mut(as_str(k)) {
                        Some(slot) => *slot = value,
                        None => {
                            entries.insert(as_str(k).to_string(), value);
                        }
                    }
                }
                (Value::List(_), _) => return fail(line, "List index must be a number."),
                (Value::Map(_), _) => return fail(line, "Map key must be a string."),
                _ => return fail(line, "Only lists and maps can be indexed."),
            }
            Ok(())
        }
    };
}
