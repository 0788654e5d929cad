//! The interpreter's tests. Every language test runs its program on all three backends and
//! checks that they print the same and fail the same way; the benchmark scripts must agree
//! too (at their test size). The last test checks that gc-core frees the cycles a program
//! makes (an instance that refers to itself, a closure whose environment holds it).

use crate::backends::{gccore, Backend};
use crate::bench::{scripts_dir, SCRIPTS};
use crate::shared::{self, run_on_big_stack, Size};

/// Runs `src` on every backend: the common output and error (checked identical).
fn run_all(src: &str) -> (String, Option<String>) {
    let mut first: Option<(Backend, String, Option<String>)> = None;
    for b in Backend::ALL {
        let src = src.to_string();
        let (out, result) = run_on_big_stack(move || b.run(&src, Size::Test));
        let err = result.err().map(|e| e.to_string());
        match &first {
            None => first = Some((b, out, err)),
            Some((fb, fout, ferr)) => {
                assert_eq!(
                    (fout, ferr),
                    (&out, &err),
                    "{} and {} differ",
                    fb.label(),
                    b.label()
                );
            }
        }
    }
    let (_, out, err) = first.expect("three backends");
    (out, err)
}

/// The output of a program that must succeed.
fn ok(src: &str) -> String {
    match run_all(src) {
        (out, None) => out,
        (out, Some(e)) => panic!("unexpected error {e}\noutput:\n{out}"),
    }
}

/// The error of a program that must fail.
fn fails(src: &str) -> String {
    run_all(src).1.expect("the program should fail")
}

#[test]
fn values_and_operators() {
    assert_eq!(
        ok(
            "print 1 + 2 * 3; print (1 + 2) * 3; print 7 % 3; print 1 / 4; print -2; \
            print !nil; print !0; print nil == false; print 1 == 1; print \"a\" != \"a\"; \
            print true and 3; print nil or \"x\"; print 3 >= 3;"
        ),
        "7\n9\n1\n0.25\n-2\ntrue\nfalse\nfalse\ntrue\nfalse\n3\nx\ntrue\n"
    );
}

#[test]
fn strings_concatenate_and_compare() {
    assert_eq!(
        ok(
            "var s = \"ab\" + \"cd\"; print s; print len(s); print s == \"abcd\"; \
            print \"abc\" < \"abd\"; print \"b\" > \"abc\"; print str(12) + str(0.5) + str(nil);"
        ),
        "abcd\n4\ntrue\ntrue\ntrue\n120.5nil\n"
    );
}

#[test]
fn scopes_shadow_and_resolve_statically() {
    assert_eq!(
        ok("var a = \"global\"; { fun show() { print a; } show(); var a = \"block\"; show(); print a; } \
            var x = 1; { var x = 2; { var x = 3; print x; } print x; } print x;"),
        "global\nglobal\nblock\n3\n2\n1\n"
    );
}

#[test]
fn control_flow() {
    assert_eq!(
        ok("var i = 0; while (i < 3) i = i + 1; print i; \
            for (var j = 0; j < 3; j = j + 1) { if (j == 1) print \"one\"; else print j; } \
            var k = 0; for (; k < 2;) k = k + 1; print k;"),
        "3\n0\none\n2\n2\n"
    );
}

#[test]
fn closures_capture_by_reference() {
    let src = "
        fun counter() { var n = 0; fun inc() { n = n + 1; return n; } return inc; }
        var a = counter(); var b = counter();
        a(); a(); print a(); print b();
        var get; var set;
        { var shared = 1; fun g() { return shared; } fun s(v) { shared = v; } get = g; set = s; }
        set(42); print get();
        fun fib(n) { if (n < 2) return n; return fib(n - 1) + fib(n - 2); }
        print fib(15);";
    assert_eq!(ok(src), "3\n1\n42\n610\n");
}

#[test]
fn classes_with_init_methods_and_this() {
    let src = "
        class Point {
          init(x, y) { this.x = x; this.y = y; }
          sum() { return this.x + this.y; }
          scaled(k) { return Point(this.x * k, this.y * k); }
        }
        var p = Point(1, 2);
        print p.sum(); print p.scaled(10).sum(); print p; print Point;
        var m = p.sum; p.x = 5; print m();
        p.extra = \"field\"; print p.extra;
        print p.init(7, 8) == p; print p.x;
        class Empty {} print Empty();";
    assert_eq!(
        ok(src),
        "3\n30\nPoint instance\nPoint\n7\nfield\ntrue\n7\nEmpty instance\n"
    );
}

#[test]
fn inheritance_and_super() {
    let src = "
        class A { init(n) { this.n = n; } name() { return \"A\" + str(this.n); } who() { return this.name(); } }
        class B < A { init(n) { super.init(n * 2); } name() { return \"B/\" + super.name(); } }
        class C < B {}
        print B(1).who(); print C(2).who(); print C(3).n;";
    assert_eq!(ok(src), "B/A2\nB/A4\n6\n");
}

#[test]
fn lists() {
    let src = "
        var l = [1, \"two\", [3]]; print l; print len(l); print l[2][0];
        push(l, 4); l[0] = 10; print l; print pop(l); print len(l);
        var e = []; print e; print len(e);
        var self = [1]; push(self, self); print len(self);";
    assert_eq!(
        ok(src),
        "[1, two, [3]]\n3\n3\n[10, two, [3], 4]\n4\n3\n[]\n0\n2\n"
    );
}

#[test]
fn maps() {
    let src = "
        var m = {\"b\": 2, \"a\": 1}; print m; print m[\"a\"]; print m[\"zz\"];
        m[\"c\"] = 3; m[\"a\"] = 10; print m; print len(m); print keys(m);
        print has(m, \"c\"); print has(m, \"d\");
        var n = map(); n[\"k\" + str(1)] = [1]; print n[\"k1\"];";
    assert_eq!(
        ok(src),
        "{a: 1, b: 2}\n1\nnil\n{a: 10, b: 2, c: 3}\n3\n[a, b, c]\ntrue\nfalse\n[1]\n"
    );
}

#[test]
fn runtime_errors() {
    let cases = [
        (
            "print 1 + nil;",
            "[line 1] Runtime error: Operands must be two numbers or two strings.",
        ),
        (
            "print \"a\" - 1;",
            "[line 1] Runtime error: Operands must be numbers.",
        ),
        (
            "print -\"a\";",
            "[line 1] Runtime error: Operand must be a number.",
        ),
        (
            "print \"a\" < 1;",
            "[line 1] Runtime error: Operands must be two numbers or two strings.",
        ),
        (
            "print nope;",
            "[line 1] Runtime error: Undefined variable 'nope'.",
        ),
        (
            "nope = 1;",
            "[line 1] Runtime error: Undefined variable 'nope'.",
        ),
        (
            "var x = 1;\nx();",
            "[line 2] Runtime error: Can only call functions and classes.",
        ),
        (
            "fun f(a) {}\nf(1, 2);",
            "[line 2] Runtime error: Expected 1 arguments but got 2.",
        ),
        (
            "class A {}\nA(1);",
            "[line 2] Runtime error: Expected 0 arguments but got 1.",
        ),
        (
            "class A {}\nprint A().x;",
            "[line 2] Runtime error: Undefined property 'x'.",
        ),
        (
            "print 1 .x;",
            "[line 1] Runtime error: Only instances have properties.",
        ),
        (
            "var s = \"a\"; s.x = 1;",
            "[line 1] Runtime error: Only instances have fields.",
        ),
        (
            "var x = 1; class A < x {}",
            "[line 1] Runtime error: Superclass must be a class.",
        ),
        (
            "print [1][1];",
            "[line 1] Runtime error: List index 1 out of range 0..1.",
        ),
        (
            "print [1][0.5];",
            "[line 1] Runtime error: List index 0.5 out of range 0..1.",
        ),
        (
            "print [1][\"a\"];",
            "[line 1] Runtime error: List index must be a number.",
        ),
        (
            "print {\"a\": 1}[1];",
            "[line 1] Runtime error: Map key must be a string.",
        ),
        (
            "print {1: 1};",
            "[line 1] Runtime error: Map keys must be strings.",
        ),
        (
            "print 1[0];",
            "[line 1] Runtime error: Only lists and maps can be indexed.",
        ),
        (
            "print len(1);",
            "[line 1] Runtime error: len() takes a string, a list or a map.",
        ),
        (
            "pop([]);",
            "[line 1] Runtime error: pop() from an empty list.",
        ),
        (
            "push(1, 2);",
            "[line 1] Runtime error: push() takes a list and a value.",
        ),
        (
            "clock(1);",
            "[line 1] Runtime error: Expected 0 arguments but got 1.",
        ),
        (
            "fun f(n) { return f(n + 1); }\nf(0);",
            "[line 1] Runtime error: Stack overflow.",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(fails(src), want, "for {src:?}");
    }
    // What was printed before the error stays printed.
    assert_eq!(
        run_all("print 1;\nprint 2 + nil;\nprint 3;"),
        (
            "1\n".to_string(),
            Some("[line 2] Runtime error: Operands must be two numbers or two strings.".into())
        )
    );
}

#[test]
fn compile_errors() {
    let cases = [
        ("print 1", "[line 1] Error at end: Expect ';' after value."),
        (
            "1 = 2;",
            "[line 1] Error at '=': Invalid assignment target.",
        ),
        (
            "return 1;",
            "[line 1] Error at 'return': Can't return from top-level code.",
        ),
        (
            "print this;",
            "[line 1] Error at 'this': Can't use 'this' outside of a class.",
        ),
        (
            "class A { f() { super.f(); } }",
            "[line 1] Error at 'super': Can't use 'super' in a class with no superclass.",
        ),
        (
            "class A < A {}",
            "[line 1] Error at 'A': A class can't inherit from itself.",
        ),
        (
            "{ var a = 1; var a = 2; }",
            "[line 1] Error at 'a': Already a variable with this name in this scope.",
        ),
        (
            "{ var a = a; }",
            "[line 1] Error at 'a': Can't read local variable in its own initializer.",
        ),
        (
            "class A { init() { return 1; } }",
            "[line 1] Error at 'return': Can't return a value from an initializer.",
        ),
        ("var s = \"open;", "[line 1] Error: Unterminated string."),
    ];
    for (src, want) in cases {
        assert_eq!(fails(src), want, "for {src:?}");
    }
}

#[test]
fn scripts_agree_on_every_backend() {
    for script in SCRIPTS {
        let src = std::fs::read_to_string(scripts_dir().join(script)).expect("script");
        let out = ok(&src);
        assert!(!out.is_empty(), "{script} printed nothing");
        let last = out.lines().last().unwrap_or_default().to_string();
        match script {
            "fib.lox" => assert_eq!(last, "144"),
            "binary_trees.lox" => assert_eq!(last, "long lived tree of depth 6 check: 127"),
            _ => {}
        }
    }
}

#[test]
fn gc_core_frees_cycles_made_by_the_language() {
    let src = "
        class Node { init() { this.me = this; this.list = [this]; } }
        var node = Node();
        fun make() { fun f() { return f; } return f; }
        var f = make();
        for (var i = 0; i < 1000; i = i + 1) { var n = Node(); make(); }";
    let (weak_node, weak_fun) = run_on_big_stack(move || {
        let program = shared::compile(src).expect("compiles");
        let mut interp = gccore::Interp::new(&program, Size::Test);
        interp.run(&program).expect("runs");
        let (Some(gccore::Value::Instance(node)), Some(gccore::Value::Fun(f))) =
            (interp.global("node"), interp.global("f"))
        else {
            panic!("node and f are an instance and a function");
        };
        gc_core::collect();
        assert!(
            Gc::downgrade(&node).upgrade().is_some(),
            "live while the program holds it"
        );
        (Gc::downgrade(&node), Gc::downgrade(&f))
    });
    // The interpreter is gone: the instance (which holds itself, also through a list) and
    // the closure (whose environment holds it) are only reachable from themselves.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while weak_node.upgrade().is_some() || weak_fun.upgrade().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "cycles not freed after 10 s of collects"
        );
        gc_core::collect();
    }
}

use gc_core::Gc;
