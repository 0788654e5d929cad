//! The parser: tokens to the syntax tree, by recursive descent over Lox's grammar (with
//! list and map literals, indexing and `%` added). Identifiers are interned here; string
//! literals go into the program's constant table. `for` is desugared into `while` inside a
//! block, as in Crafting Interpreters. Variables are left unresolved (`resolve.rs`).

use crate::ast::*;
use crate::lexer::{Tok, Token};
use std::collections::HashMap;
use std::sync::Arc;

/// The most parameters or arguments a call may have (Lox's limit).
const MAX_ARGS: usize = 255;

pub struct Parser {
    toks: Vec<Token>,
    pos: usize,
    names: Vec<String>,
    name_ids: HashMap<String, Sym>,
    strings: Vec<String>,
}

type PResult<T> = Result<T, String>;

impl Parser {
    pub fn new(toks: Vec<Token>) -> Parser {
        let mut p = Parser {
            toks,
            pos: 0,
            names: Vec::new(),
            name_ids: HashMap::new(),
            strings: Vec::new(),
        };
        for (want, name) in [(SYM_INIT, "init"), (SYM_THIS, "this"), (SYM_SUPER, "super")] {
            assert_eq!(p.intern(name), want);
        }
        p
    }

    /// Parses the whole program; globals are filled in by the resolver.
    pub fn parse(mut self) -> PResult<Program> {
        let mut stmts = Vec::new();
        while !self.check(&Tok::Eof) {
            stmts.push(self.declaration()?);
        }
        Ok(Program {
            stmts,
            names: self.names,
            strings: self.strings,
            globals: Vec::new(),
        })
    }

    /// The id of an identifier, interning it on first sight.
    pub fn intern(&mut self, name: &str) -> Sym {
        if let Some(&id) = self.name_ids.get(name) {
            return id;
        }
        let id = self.names.len() as Sym;
        self.names.push(name.to_string());
        self.name_ids.insert(name.to_string(), id);
        id
    }

    // ---- token helpers

    fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }

    fn line(&self) -> u32 {
        self.toks[self.pos].line
    }

    fn check(&self, t: &Tok) -> bool {
        self.peek() == t
    }

    fn advance(&mut self) -> Tok {
        let t = self.toks[self.pos].tok.clone();
        if t != Tok::Eof {
            self.pos += 1;
        }
        t
    }

    fn matches(&mut self, t: &Tok) -> bool {
        if self.check(t) {
            self.advance();
            true
        } else {
            false
        }
    }

    fn error<T>(&self, msg: &str) -> PResult<T> {
        let at = match self.peek() {
            Tok::Eof => "end".to_string(),
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Str(s) => format!("'\"{s}\"'"),
            Tok::Num(n) => format!("'{n}'"),
            t => format!("{t:?}"),
        };
        Err(format!("[line {}] Error at {at}: {msg}", self.line()))
    }

    fn expect(&mut self, t: &Tok, msg: &str) -> PResult<()> {
        if self.matches(t) {
            Ok(())
        } else {
            self.error(msg)
        }
    }

    fn ident(&mut self, msg: &str) -> PResult<Sym> {
        if let Tok::Ident(name) = self.peek().clone() {
            self.advance();
            Ok(self.intern(&name))
        } else {
            self.error(msg)
        }
    }

    // ---- declarations and statements

    fn declaration(&mut self) -> PResult<Stmt> {
        if self.matches(&Tok::Class) {
            self.class_decl()
        } else if self.matches(&Tok::Fun) {
            let line = self.line();
            let f = self.function(FunKind::Function)?;
            Ok(Stmt::Fun(Var::new(f.name, line), Arc::new(f)))
        } else if self.matches(&Tok::Var) {
            self.var_decl()
        } else {
            self.statement()
        }
    }

    fn class_decl(&mut self) -> PResult<Stmt> {
        let line = self.line();
        let name = self.ident("Expect class name.")?;
        let superclass = if self.matches(&Tok::Less) {
            let line = self.line();
            Some(Var::new(self.ident("Expect superclass name.")?, line))
        } else {
            None
        };
        self.expect(&Tok::LBrace, "Expect '{' before class body.")?;
        let mut methods = Vec::new();
        while !self.check(&Tok::RBrace) && !self.check(&Tok::Eof) {
            let kind = match self.peek() {
                Tok::Ident(n) if n == "init" => FunKind::Initializer,
                _ => FunKind::Method,
            };
            methods.push(Arc::new(self.function(kind)?));
        }
        self.expect(&Tok::RBrace, "Expect '}' after class body.")?;
        Ok(Stmt::Class(ClassDecl {
            name: Var::new(name, line),
            superclass,
            methods,
        }))
    }

    fn function(&mut self, kind: FunKind) -> PResult<FunDecl> {
        let line = self.line();
        let name = self.ident("Expect function name.")?;
        self.expect(&Tok::LParen, "Expect '(' after function name.")?;
        let mut params = Vec::new();
        if !self.check(&Tok::RParen) {
            loop {
                if params.len() == MAX_ARGS {
                    return self.error("Can't have more than 255 parameters.");
                }
                params.push(self.ident("Expect parameter name.")?);
                if !self.matches(&Tok::Comma) {
                    break;
                }
            }
        }
        self.expect(&Tok::RParen, "Expect ')' after parameters.")?;
        self.expect(&Tok::LBrace, "Expect '{' before function body.")?;
        let body = self.block_body()?;
        Ok(FunDecl {
            name,
            params,
            body,
            slots: 0,
            kind,
            line,
        })
    }

    fn var_decl(&mut self) -> PResult<Stmt> {
        let line = self.line();
        let name = self.ident("Expect variable name.")?;
        let init = if self.matches(&Tok::Equal) {
            Some(self.expression()?)
        } else {
            None
        };
        self.expect(&Tok::Semicolon, "Expect ';' after variable declaration.")?;
        Ok(Stmt::Var(Var::new(name, line), init))
    }

    fn statement(&mut self) -> PResult<Stmt> {
        let line = self.line();
        match self.peek() {
            Tok::Print => {
                self.advance();
                let e = self.expression()?;
                self.expect(&Tok::Semicolon, "Expect ';' after value.")?;
                Ok(Stmt::Print(e))
            }
            Tok::LBrace => {
                self.advance();
                Ok(Stmt::Block(Block {
                    stmts: self.block_body()?,
                    slots: 0,
                }))
            }
            Tok::If => {
                self.advance();
                self.expect(&Tok::LParen, "Expect '(' after 'if'.")?;
                let cond = self.expression()?;
                self.expect(&Tok::RParen, "Expect ')' after if condition.")?;
                let then = Box::new(self.statement()?);
                let otherwise = if self.matches(&Tok::Else) {
                    Some(Box::new(self.statement()?))
                } else {
                    None
                };
                Ok(Stmt::If(cond, then, otherwise))
            }
            Tok::While => {
                self.advance();
                self.expect(&Tok::LParen, "Expect '(' after 'while'.")?;
                let cond = self.expression()?;
                self.expect(&Tok::RParen, "Expect ')' after condition.")?;
                Ok(Stmt::While(cond, Box::new(self.statement()?)))
            }
            Tok::For => {
                self.advance();
                self.for_stmt()
            }
            Tok::Return => {
                self.advance();
                let value = if self.check(&Tok::Semicolon) {
                    None
                } else {
                    Some(self.expression()?)
                };
                self.expect(&Tok::Semicolon, "Expect ';' after return value.")?;
                Ok(Stmt::Return(value, line))
            }
            _ => {
                let e = self.expression()?;
                self.expect(&Tok::Semicolon, "Expect ';' after expression.")?;
                Ok(Stmt::Expr(e))
            }
        }
    }

    /// `for (init; cond; incr) body` becomes `{ init; while (cond) { body; incr; } }`.
    fn for_stmt(&mut self) -> PResult<Stmt> {
        self.expect(&Tok::LParen, "Expect '(' after 'for'.")?;
        let init = if self.matches(&Tok::Semicolon) {
            None
        } else if self.matches(&Tok::Var) {
            Some(self.var_decl()?)
        } else {
            let e = self.expression()?;
            self.expect(&Tok::Semicolon, "Expect ';' after loop initializer.")?;
            Some(Stmt::Expr(e))
        };
        let cond = if self.check(&Tok::Semicolon) {
            Expr::Bool(true)
        } else {
            self.expression()?
        };
        self.expect(&Tok::Semicolon, "Expect ';' after loop condition.")?;
        let incr = if self.check(&Tok::RParen) {
            None
        } else {
            Some(self.expression()?)
        };
        self.expect(&Tok::RParen, "Expect ')' after for clauses.")?;
        let mut body = self.statement()?;
        if let Some(incr) = incr {
            body = Stmt::Block(Block {
                stmts: vec![body, Stmt::Expr(incr)],
                slots: 0,
            });
        }
        let looped = Stmt::While(cond, Box::new(body));
        Ok(match init {
            Some(init) => Stmt::Block(Block {
                stmts: vec![init, looped],
                slots: 0,
            }),
            None => looped,
        })
    }

    /// The statements up to the closing `}` (the `{` is already consumed).
    fn block_body(&mut self) -> PResult<Vec<Stmt>> {
        let mut stmts = Vec::new();
        while !self.check(&Tok::RBrace) && !self.check(&Tok::Eof) {
            stmts.push(self.declaration()?);
        }
        self.expect(&Tok::RBrace, "Expect '}' after block.")?;
        Ok(stmts)
    }

    // ---- expressions, lowest precedence first

    fn expression(&mut self) -> PResult<Expr> {
        self.assignment()
    }

    fn assignment(&mut self) -> PResult<Expr> {
        let target = self.or()?;
        if !self.check(&Tok::Equal) {
            return Ok(target);
        }
        let line = self.line();
        self.advance();
        let value = Box::new(self.assignment()?);
        match target {
            Expr::Var(v) => Ok(Expr::Assign(v, value)),
            Expr::Get(obj, name, _) => Ok(Expr::Set(obj, name, value, line)),
            Expr::Index(obj, idx, _) => Ok(Expr::SetIndex(obj, idx, value, line)),
            _ => Err(format!(
                "[line {line}] Error at '=': Invalid assignment target."
            )),
        }
    }

    fn or(&mut self) -> PResult<Expr> {
        let mut e = self.and()?;
        while self.matches(&Tok::Or) {
            e = Expr::Logical(false, Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> PResult<Expr> {
        let mut e = self.binary(0)?;
        while self.matches(&Tok::And) {
            e = Expr::Logical(true, Box::new(e), Box::new(self.binary(0)?));
        }
        Ok(e)
    }

    /// Left-associative binary operators by level: equality, comparison, term, factor.
    fn binary(&mut self, level: usize) -> PResult<Expr> {
        if level == 4 {
            return self.unary();
        }
        let mut e = self.binary(level + 1)?;
        loop {
            let op = match (level, self.peek()) {
                (0, Tok::EqualEqual) => BinOp::Eq,
                (0, Tok::BangEqual) => BinOp::Ne,
                (1, Tok::Less) => BinOp::Lt,
                (1, Tok::LessEqual) => BinOp::Le,
                (1, Tok::Greater) => BinOp::Gt,
                (1, Tok::GreaterEqual) => BinOp::Ge,
                (2, Tok::Plus) => BinOp::Add,
                (2, Tok::Minus) => BinOp::Sub,
                (3, Tok::Star) => BinOp::Mul,
                (3, Tok::Slash) => BinOp::Div,
                (3, Tok::Percent) => BinOp::Rem,
                _ => return Ok(e),
            };
            let line = self.line();
            self.advance();
            let rhs = self.binary(level + 1)?;
            e = Expr::Binary(op, Box::new(e), Box::new(rhs), line);
        }
    }

    fn unary(&mut self) -> PResult<Expr> {
        let line = self.line();
        let op = match self.peek() {
            Tok::Minus => UnOp::Neg,
            Tok::Bang => UnOp::Not,
            _ => return self.call(),
        };
        self.advance();
        Ok(Expr::Unary(op, Box::new(self.unary()?), line))
    }

    fn call(&mut self) -> PResult<Expr> {
        let mut e = self.primary()?;
        loop {
            let line = self.line();
            if self.matches(&Tok::LParen) {
                let mut args = Vec::new();
                if !self.check(&Tok::RParen) {
                    loop {
                        if args.len() == MAX_ARGS {
                            return self.error("Can't have more than 255 arguments.");
                        }
                        args.push(self.expression()?);
                        if !self.matches(&Tok::Comma) {
                            break;
                        }
                    }
                }
                self.expect(&Tok::RParen, "Expect ')' after arguments.")?;
                e = Expr::Call(Box::new(e), args, line);
            } else if self.matches(&Tok::Dot) {
                let name = self.ident("Expect property name after '.'.")?;
                e = Expr::Get(Box::new(e), name, line);
            } else if self.matches(&Tok::LBracket) {
                let idx = self.expression()?;
                self.expect(&Tok::RBracket, "Expect ']' after index.")?;
                e = Expr::Index(Box::new(e), Box::new(idx), line);
            } else {
                return Ok(e);
            }
        }
    }

    fn primary(&mut self) -> PResult<Expr> {
        let line = self.line();
        let e = match self.peek().clone() {
            Tok::False => Expr::Bool(false),
            Tok::True => Expr::Bool(true),
            Tok::Nil => Expr::Nil,
            Tok::Num(n) => Expr::Num(n),
            Tok::Str(s) => {
                self.strings.push(s);
                Expr::Str(self.strings.len() as u32 - 1)
            }
            Tok::Ident(name) => Expr::Var(Var::new(self.intern(&name), line)),
            Tok::This => Expr::This(Var::new(SYM_THIS, line)),
            Tok::Super => {
                self.advance();
                self.expect(&Tok::Dot, "Expect '.' after 'super'.")?;
                let method = self.ident("Expect superclass method name.")?;
                return Ok(Expr::Super(
                    Var::new(SYM_SUPER, line),
                    Var::new(SYM_THIS, line),
                    method,
                ));
            }
            Tok::LParen => {
                self.advance();
                let e = self.expression()?;
                self.expect(&Tok::RParen, "Expect ')' after expression.")?;
                return Ok(e);
            }
            Tok::LBracket => {
                self.advance();
                let mut items = Vec::new();
                while !self.check(&Tok::RBracket) {
                    items.push(self.expression()?);
                    if !self.matches(&Tok::Comma) {
                        break;
                    }
                }
                self.expect(&Tok::RBracket, "Expect ']' after list elements.")?;
                return Ok(Expr::List(items));
            }
            Tok::LBrace => {
                self.advance();
                let mut entries = Vec::new();
                while !self.check(&Tok::RBrace) {
                    let key = self.expression()?;
                    self.expect(&Tok::Colon, "Expect ':' after map key.")?;
                    entries.push((key, self.expression()?));
                    if !self.matches(&Tok::Comma) {
                        break;
                    }
                }
                self.expect(&Tok::RBrace, "Expect '}' after map entries.")?;
                return Ok(Expr::Map(entries, line));
            }
            _ => return self.error("Expect expression."),
        };
        self.advance();
        Ok(e)
    }
}
