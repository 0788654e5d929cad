//! The lexer: source text to tokens, each with its line. The language is a Lox subset
//! (Crafting Interpreters) plus list and map literals, `%`, and brackets for indexing.
//! Strings have no escapes, as in Lox; `//` starts a comment.

/// A token kind. Literals carry their value; identifiers their text.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Colon,
    Semicolon,
    Minus,
    Plus,
    Slash,
    Star,
    Percent,
    Bang,
    BangEqual,
    Equal,
    EqualEqual,
    Greater,
    GreaterEqual,
    Less,
    LessEqual,
    Ident(String),
    Str(String),
    Num(f64),
    And,
    Class,
    Else,
    False,
    For,
    Fun,
    If,
    Nil,
    Or,
    Print,
    Return,
    Super,
    This,
    True,
    Var,
    While,
    Eof,
}

/// A token and the line it starts on.
#[derive(Clone, Debug)]
pub struct Token {
    pub tok: Tok,
    pub line: u32,
}

fn keyword(word: &str) -> Option<Tok> {
    Some(match word {
        "and" => Tok::And,
        "class" => Tok::Class,
        "else" => Tok::Else,
        "false" => Tok::False,
        "for" => Tok::For,
        "fun" => Tok::Fun,
        "if" => Tok::If,
        "nil" => Tok::Nil,
        "or" => Tok::Or,
        "print" => Tok::Print,
        "return" => Tok::Return,
        "super" => Tok::Super,
        "this" => Tok::This,
        "true" => Tok::True,
        "var" => Tok::Var,
        "while" => Tok::While,
        _ => return None,
    })
}

/// Splits `src` into tokens, ending with `Tok::Eof`; the error is `[line N] Error: ...`.
pub fn lex(src: &str) -> Result<Vec<Token>, String> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut line = 1u32;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        i += 1;
        // The byte after `c`, if it is `want`: consumed.
        let mut next_is = |want: u8| {
            if bytes.get(i) == Some(&want) {
                i += 1;
                true
            } else {
                false
            }
        };
        let tok = match c {
            b'\n' => {
                line += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' => continue,
            b'(' => Tok::LParen,
            b')' => Tok::RParen,
            b'{' => Tok::LBrace,
            b'}' => Tok::RBrace,
            b'[' => Tok::LBracket,
            b']' => Tok::RBracket,
            b',' => Tok::Comma,
            b'.' => Tok::Dot,
            b':' => Tok::Colon,
            b';' => Tok::Semicolon,
            b'-' => Tok::Minus,
            b'+' => Tok::Plus,
            b'*' => Tok::Star,
            b'%' => Tok::Percent,
            b'!' if next_is(b'=') => Tok::BangEqual,
            b'!' => Tok::Bang,
            b'=' if next_is(b'=') => Tok::EqualEqual,
            b'=' => Tok::Equal,
            b'>' if next_is(b'=') => Tok::GreaterEqual,
            b'>' => Tok::Greater,
            b'<' if next_is(b'=') => Tok::LessEqual,
            b'<' => Tok::Less,
            b'/' if next_is(b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' => Tok::Slash,
            b'"' => {
                let first_line = line;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\n' {
                        line += 1;
                    }
                    i += 1;
                }
                if i == bytes.len() {
                    return Err(format!("[line {first_line}] Error: Unterminated string."));
                }
                i += 1; // the closing quote
                out.push(Token {
                    tok: Tok::Str(src[start + 1..i - 1].to_string()),
                    line: first_line,
                });
                continue;
            }
            b'0'..=b'9' => {
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                // A fractional part needs a digit after the dot (`1.foo` is not a number).
                if bytes.get(i) == Some(&b'.') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                Tok::Num(src[start..i].parse().expect("digits parse as f64"))
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let word = &src[start..i];
                keyword(word).unwrap_or_else(|| Tok::Ident(word.to_string()))
            }
            _ => {
                let ch = src[start..].chars().next().expect("in bounds");
                return Err(format!("[line {line}] Error: Unexpected character '{ch}'."));
            }
        };
        out.push(Token { tok, line });
    }
    out.push(Token {
        tok: Tok::Eof,
        line,
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok> {
        lex(src).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn tokens_and_lines() {
        assert_eq!(
            kinds("var x = 1.5 <= 2; // comment\nprint \"a b\";"),
            vec![
                Tok::Var,
                Tok::Ident("x".into()),
                Tok::Equal,
                Tok::Num(1.5),
                Tok::LessEqual,
                Tok::Num(2.0),
                Tok::Semicolon,
                Tok::Print,
                Tok::Str("a b".into()),
                Tok::Semicolon,
                Tok::Eof,
            ]
        );
        let toks = lex("a\n\nb").unwrap();
        assert_eq!((toks[0].line, toks[1].line), (1, 3));
        assert_eq!(
            kinds("1.foo"),
            vec![Tok::Num(1.0), Tok::Dot, Tok::Ident("foo".into()), Tok::Eof]
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            lex("\"open").unwrap_err(),
            "[line 1] Error: Unterminated string."
        );
        assert_eq!(
            lex("\n@").unwrap_err(),
            "[line 2] Error: Unexpected character '@'."
        );
    }
}
