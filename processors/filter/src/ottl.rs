//! A parser for the subset of OTTL boolean conditions (span context) the `filter` processor
//! supports. Anything outside the subset is a config error that names what is unsupported, so
//! a Collector config either means the same thing here or fails to load; it never silently
//! matches differently.
//!
//! Grammar (lowest precedence first), as OTTL's:
//! ```text
//! or   := and ("or" and)*          and  := not ("and" not)*
//! not  := "not" not | cmp          cmp  := sum (("=="|"!="|"<"|"<="|">"|">=") sum)?
//! sum  := prod (("+"|"-") prod)*   prod := atom (("*"|"/") atom)*
//! atom := "(" or ")" | literal | path | ENUM | Func "(" args ")"
//! ```

use regex::Regex;

use super::eval::{Expr, Func, Lit, MathOp, Path, CmpOp};

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Sym(&'static str),
}

const SYMBOLS: [&str; 16] = ["==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "(", ")", "[", "]", ".", ","];
const MAX_DEPTH: usize = 64;

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'"' {
            let mut v = String::new();
            let mut chars = s[i + 1..].char_indices();
            let mut end = None;
            while let Some((j, ch)) = chars.next() {
                match ch {
                    '"' => {
                        end = Some(i + 1 + j + 1);
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, 'n')) => v.push('\n'),
                        Some((_, 't')) => v.push('\t'),
                        Some((_, e)) => v.push(e),
                        None => break,
                    },
                    _ => v.push(ch),
                }
            }
            i = end.ok_or("unterminated string")?;
            out.push(Tok::Str(v));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.' || b[i] == b'_') {
                i += 1;
            }
            let text = s[start..i].replace('_', "");
            if text.contains('.') {
                out.push(Tok::Float(text.parse().map_err(|_| format!("bad number {text:?}"))?));
            } else {
                out.push(Tok::Int(text.parse().map_err(|_| format!("bad number {text:?}"))?));
            }
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Ident(s[start..i].to_string()));
        } else if let Some(sym) = SYMBOLS.iter().find(|sym| s[i..].starts_with(**sym)) {
            out.push(Tok::Sym(sym));
            i += sym.len();
        } else {
            let ch = s[i..].chars().next().unwrap_or('?');
            return Err(format!("unexpected character {ch:?}"));
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

/// Parses one condition into a boolean expression.
pub fn parse_condition(src: &str) -> Result<Expr, String> {
    let mut p = Parser { toks: tokenize(src)?, pos: 0, depth: 0 };
    let e = p.or()?;
    if let Some(t) = p.peek() {
        return Err(format!("unexpected {} after the condition", show(t)));
    }
    if !e.is_bool() {
        return Err("not a boolean condition: compare a value (==, !=, <, ...) or call IsMatch/IsRootSpan".into());
    }
    Ok(e)
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("{s:?}"),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Int(i) => i.to_string(),
        Tok::Float(f) => f.to_string(),
        Tok::Sym(s) => format!("{s:?}"),
    }
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn eat_sym(&mut self, sym: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Sym(s)) if *s == sym) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn eat_word(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Ident(s)) if s == word) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect_sym(&mut self, sym: &str) -> Result<(), String> {
        if self.eat_sym(sym) { Ok(()) } else { Err(format!("expected {sym:?}, found {}", self.peek().map_or("the end".into(), show))) }
    }

    fn or(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("condition nests too deeply".into());
        }
        let mut items = vec![self.and()?];
        while self.eat_word("or") {
            items.push(self.and()?);
        }
        self.depth -= 1;
        bool_list(items, Expr::Or)
    }
    fn and(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.not()?];
        while self.eat_word("and") {
            items.push(self.not()?);
        }
        bool_list(items, Expr::And)
    }
    fn not(&mut self) -> Result<Expr, String> {
        if self.eat_word("not") {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err("condition nests too deeply".into());
            }
            let inner = self.not()?;
            self.depth -= 1;
            if !inner.is_bool() {
                return Err("\"not\" needs a boolean condition".into());
            }
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.cmp()
    }
    fn cmp(&mut self) -> Result<Expr, String> {
        let left = self.sum()?;
        let op = match self.peek() {
            Some(Tok::Sym("==")) => CmpOp::Eq,
            Some(Tok::Sym("!=")) => CmpOp::Ne,
            Some(Tok::Sym("<")) => CmpOp::Lt,
            Some(Tok::Sym("<=")) => CmpOp::Le,
            Some(Tok::Sym(">")) => CmpOp::Gt,
            Some(Tok::Sym(">=")) => CmpOp::Ge,
            _ => return Ok(left),
        };
        self.pos += 1;
        let right = self.sum()?;
        Ok(Expr::Cmp(Box::new(left), op, Box::new(right)))
    }
    fn sum(&mut self) -> Result<Expr, String> {
        let mut left = self.prod()?;
        loop {
            let op = if self.eat_sym("+") { MathOp::Add } else if self.eat_sym("-") { MathOp::Sub } else { return Ok(left) };
            left = Expr::Math(Box::new(left), op, Box::new(self.prod()?));
        }
    }
    fn prod(&mut self) -> Result<Expr, String> {
        let mut left = self.atom()?;
        loop {
            let op = if self.eat_sym("*") { MathOp::Mul } else if self.eat_sym("/") { MathOp::Div } else { return Ok(left) };
            left = Expr::Math(Box::new(left), op, Box::new(self.atom()?));
        }
    }
    fn atom(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::Sym("(")) => {
                let e = self.or()?;
                self.expect_sym(")")?;
                Ok(e)
            }
            Some(Tok::Sym("-")) => match self.next() {
                Some(Tok::Int(i)) => Ok(Expr::Lit(Lit::Int(-i))),
                Some(Tok::Float(f)) => Ok(Expr::Lit(Lit::Float(-f))),
                _ => Err("\"-\" must be followed by a number".into()),
            },
            Some(Tok::Str(s)) => Ok(Expr::Lit(Lit::Str(s))),
            Some(Tok::Int(i)) => Ok(Expr::Lit(Lit::Int(i))),
            Some(Tok::Float(f)) => Ok(Expr::Lit(Lit::Float(f))),
            Some(Tok::Ident(word)) => self.word(word),
            Some(t) => Err(format!("unexpected {}", show(&t))),
            None => Err("condition ends too early".into()),
        }
    }
    fn word(&mut self, word: String) -> Result<Expr, String> {
        match word.as_str() {
            "true" => return Ok(Expr::Lit(Lit::Bool(true))),
            "false" => return Ok(Expr::Lit(Lit::Bool(false))),
            "nil" => return Ok(Expr::Lit(Lit::Nil)),
            _ => {}
        }
        if let Some(v) = enum_value(&word) {
            return Ok(Expr::Lit(Lit::Int(v)));
        }
        if self.eat_sym("(") {
            return self.call(&word);
        }
        // A path: ident(.ident)* then an optional ["key"].
        let mut path = word;
        while self.eat_sym(".") {
            match self.next() {
                Some(Tok::Ident(part)) => {
                    path.push('.');
                    path.push_str(&part);
                }
                _ => return Err(format!("expected a field name after \"{path}.\"")),
            }
        }
        let key = if self.eat_sym("[") {
            let Some(Tok::Str(k)) = self.next() else { return Err(format!("{path}[...] needs a string key")) };
            self.expect_sym("]")?;
            if matches!(self.peek(), Some(Tok::Sym("["))) {
                return Err("nested map keys (x[\"a\"][\"b\"]) are not supported".into());
            }
            Some(k)
        } else {
            None
        };
        let path = path.strip_prefix("span.").unwrap_or(&path).to_string();
        resolve_path(&path, key)
    }
    fn call(&mut self, name: &str) -> Result<Expr, String> {
        let mut args = Vec::new();
        if !self.eat_sym(")") {
            loop {
                args.push(self.or()?);
                if self.eat_sym(")") {
                    break;
                }
                self.expect_sym(",")?;
            }
        }
        match (name, args.len()) {
            ("IsRootSpan", 0) => Ok(Expr::Func(Func::IsRootSpan)),
            ("IsMatch", 2) => {
                let pattern = match args.pop() {
                    Some(Expr::Lit(Lit::Str(p))) => p,
                    _ => return Err("IsMatch's pattern must be a string literal".into()),
                };
                let re = Regex::new(&pattern).map_err(|e| format!("invalid regex {pattern:?} in IsMatch: {e}"))?;
                let target = args.pop().ok_or("IsMatch needs a target")?;
                Ok(Expr::Func(Func::IsMatch(Box::new(target), re)))
            }
            ("IsRootSpan" | "IsMatch", n) => Err(format!("{name} does not take {n} arguments")),
            _ => Err(format!("function {name} is not supported (supported: IsMatch, IsRootSpan)")),
        }
    }
}

fn bool_list(mut items: Vec<Expr>, make: fn(Vec<Expr>) -> Expr) -> Result<Expr, String> {
    if items.len() == 1 {
        return Ok(items.remove(0));
    }
    if items.iter().any(|e| !e.is_bool()) {
        return Err("\"and\"/\"or\" need boolean conditions on both sides".into());
    }
    Ok(make(items))
}

fn enum_value(word: &str) -> Option<i64> {
    Some(match word {
        "SPAN_KIND_UNSPECIFIED" => 0,
        "SPAN_KIND_INTERNAL" => 1,
        "SPAN_KIND_SERVER" => 2,
        "SPAN_KIND_CLIENT" => 3,
        "SPAN_KIND_PRODUCER" => 4,
        "SPAN_KIND_CONSUMER" => 5,
        "STATUS_CODE_UNSET" => 0,
        "STATUS_CODE_OK" => 1,
        "STATUS_CODE_ERROR" => 2,
        _ => return None,
    })
}

const PATHS: &str = "name, kind, status.code, status.message, attributes[\"k\"], resource.attributes[\"k\"], \
instrumentation_scope.name, instrumentation_scope.version, start_time_unix_nano, end_time_unix_nano, \
trace_id.string, span_id.string, parent_span_id.string, trace_state";

fn resolve_path(path: &str, key: Option<String>) -> Result<Expr, String> {
    let p = match (path, key) {
        ("attributes", Some(k)) => Path::Attr(k),
        ("resource.attributes", Some(k)) => Path::ResourceAttr(k),
        (_, Some(_)) => return Err(format!("{path}[...] is not supported (supported paths: {PATHS})")),
        ("name", None) => Path::Name,
        ("kind", None) => Path::Kind,
        ("status.code", None) => Path::StatusCode,
        ("status.message", None) => Path::StatusMessage,
        ("instrumentation_scope.name", None) => Path::ScopeName,
        ("instrumentation_scope.version", None) => Path::ScopeVersion,
        ("start_time_unix_nano", None) => Path::StartTime,
        ("end_time_unix_nano", None) => Path::EndTime,
        ("trace_id.string", None) => Path::TraceId,
        ("span_id.string", None) => Path::SpanId,
        ("parent_span_id.string", None) => Path::ParentSpanId,
        ("trace_state", None) => Path::TraceState,
        _ => return Err(format!("path {path} is not supported (supported paths: {PATHS})")),
    };
    Ok(Expr::Path(p))
}
