//! Evaluation of parsed OTTL conditions against one span, with OTTL's comparison rules:
//! `nil` equals only `nil`; ints and doubles compare as numbers; strings compare by bytes;
//! bools only by `==`/`!=`; values of different types are never equal and never ordered.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use regex::Regex;
use tracegate_core::data::Span;

use tracegate_span_rules::cow::SpanCtx;
use tracegate_span_rules::value;

#[derive(Clone, Debug)]
pub enum Expr {
    Lit(Lit),
    Path(Path),
    Func(Func),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Cmp(Box<Expr>, CmpOp, Box<Expr>),
    Math(Box<Expr>, MathOp, Box<Expr>),
}

#[derive(Clone, Debug)]
pub enum Lit {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

#[derive(Clone, Debug)]
pub enum Path {
    Name,
    Kind,
    StatusCode,
    StatusMessage,
    Attr(String),
    ResourceAttr(String),
    ScopeName,
    ScopeVersion,
    StartTime,
    EndTime,
    TraceId,
    SpanId,
    ParentSpanId,
    TraceState,
}

#[derive(Clone, Debug)]
pub enum Func {
    IsMatch(Box<Expr>, Regex),
    IsRootSpan,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MathOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// A value during evaluation; borrowed from the span where it can be.
#[derive(Debug)]
enum Val<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    /// Bytes, lists and maps: only ever equal to nothing.
    Other,
}

impl Expr {
    /// True for nodes that yield a boolean (what a condition, `and`, `or` and `not` need).
    pub fn is_bool(&self) -> bool {
        matches!(self, Expr::Cmp(..) | Expr::And(_) | Expr::Or(_) | Expr::Not(_) | Expr::Func(_) | Expr::Lit(Lit::Bool(_)))
    }

    pub fn matches(&self, ctx: SpanCtx<'_>, span: &Span) -> Result<bool, String> {
        match self {
            Expr::And(items) => {
                for e in items {
                    if !e.matches(ctx, span)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Expr::Or(items) => {
                for e in items {
                    if e.matches(ctx, span)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Expr::Not(e) => Ok(!e.matches(ctx, span)?),
            Expr::Cmp(a, op, b) => Ok(compare(&a.value(ctx, span)?, *op, &b.value(ctx, span)?)),
            Expr::Func(Func::IsRootSpan) => Ok(span.parent_span_id.is_empty()),
            Expr::Func(Func::IsMatch(target, re)) => Ok(match target.value(ctx, span)? {
                Val::Str(s) => re.is_match(&s),
                Val::Int(i) => re.is_match(&i.to_string()),
                Val::Float(f) => re.is_match(&value::format_double(f)),
                Val::Bool(b) => re.is_match(&b.to_string()),
                Val::Nil | Val::Other => false,
            }),
            Expr::Lit(Lit::Bool(b)) => Ok(*b),
            // The parser admits only boolean nodes here.
            Expr::Lit(_) | Expr::Path(_) | Expr::Math(..) => Err("not a boolean condition".into()),
        }
    }

    fn value<'a>(&'a self, ctx: SpanCtx<'a>, span: &'a Span) -> Result<Val<'a>, String> {
        Ok(match self {
            Expr::Lit(Lit::Nil) => Val::Nil,
            Expr::Lit(Lit::Bool(b)) => Val::Bool(*b),
            Expr::Lit(Lit::Int(i)) => Val::Int(*i),
            Expr::Lit(Lit::Float(f)) => Val::Float(*f),
            Expr::Lit(Lit::Str(s)) => Val::Str(Cow::Borrowed(s)),
            Expr::Path(p) => path_value(p, ctx, span),
            Expr::Math(a, op, b) => math(a.value(ctx, span)?, *op, b.value(ctx, span)?)?,
            other => Val::Bool(other.matches(ctx, span)?),
        })
    }
}

fn attr<'a>(attrs: &'a [opentelemetry_proto::tonic::common::v1::KeyValue], key: &str) -> Val<'a> {
    match value::find(attrs, key).map(value::value_of) {
        None | Some(None) => Val::Nil,
        Some(Some(V::StringValue(s))) => Val::Str(Cow::Borrowed(s)),
        Some(Some(V::IntValue(i))) => Val::Int(*i),
        Some(Some(V::DoubleValue(d))) => Val::Float(*d),
        Some(Some(V::BoolValue(b))) => Val::Bool(*b),
        Some(Some(_)) => Val::Other,
    }
}

fn hex(bytes: &[u8]) -> Val<'static> {
    Val::Str(Cow::Owned(bytes.iter().map(|b| format!("{b:02x}")).collect()))
}

fn path_value<'a>(p: &'a Path, ctx: SpanCtx<'a>, span: &'a Span) -> Val<'a> {
    let nanos = |t: u64| Val::Int(i64::try_from(t).unwrap_or(i64::MAX));
    match p {
        Path::Name => Val::Str(Cow::Borrowed(&span.name)),
        Path::Kind => Val::Int(i64::from(span.kind)),
        Path::StatusCode => Val::Int(span.status.as_ref().map_or(0, |s| i64::from(s.code))),
        Path::StatusMessage => Val::Str(Cow::Borrowed(span.status.as_ref().map_or("", |s| s.message.as_str()))),
        Path::Attr(k) => attr(&span.attributes, k),
        Path::ResourceAttr(k) => ctx.resource.map_or(Val::Nil, |r| attr(&r.attributes, k)),
        Path::ScopeName => Val::Str(Cow::Borrowed(ctx.scope.map_or("", |s| s.name.as_str()))),
        Path::ScopeVersion => Val::Str(Cow::Borrowed(ctx.scope.map_or("", |s| s.version.as_str()))),
        Path::StartTime => nanos(span.start_time_unix_nano),
        Path::EndTime => nanos(span.end_time_unix_nano),
        Path::TraceId => hex(&span.trace_id),
        Path::SpanId => hex(&span.span_id),
        Path::ParentSpanId => hex(&span.parent_span_id),
        Path::TraceState => Val::Str(Cow::Borrowed(&span.trace_state)),
    }
}

fn math<'a>(a: Val<'_>, op: MathOp, b: Val<'_>) -> Result<Val<'a>, String> {
    let ints = |x: i64, y: i64| match op {
        MathOp::Add => x.checked_add(y),
        MathOp::Sub => x.checked_sub(y),
        MathOp::Mul => x.checked_mul(y),
        MathOp::Div => x.checked_div(y),
    };
    let floats = |x: f64, y: f64| match op {
        MathOp::Add => x + y,
        MathOp::Sub => x - y,
        MathOp::Mul => x * y,
        MathOp::Div => x / y,
    };
    match (a, b) {
        (Val::Int(x), Val::Int(y)) => ints(x, y).map(Val::Int).ok_or_else(|| format!("integer overflow or division by zero in {x} {op:?} {y}")),
        (Val::Float(x), Val::Float(y)) => Ok(Val::Float(floats(x, y))),
        (Val::Int(x), Val::Float(y)) => Ok(Val::Float(floats(x as f64, y))),
        (Val::Float(x), Val::Int(y)) => Ok(Val::Float(floats(x, y as f64))),
        (a, b) => Err(format!("cannot do arithmetic on {a:?} and {b:?}")),
    }
}

fn compare(a: &Val<'_>, op: CmpOp, b: &Val<'_>) -> bool {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (a, b) {
        (Val::Nil, Val::Nil) => Some(Ordering::Equal),
        (Val::Int(x), Val::Int(y)) => Some(x.cmp(y)),
        (Val::Float(x), Val::Float(y)) => x.partial_cmp(y),
        (Val::Int(x), Val::Float(y)) => (*x as f64).partial_cmp(y),
        (Val::Float(x), Val::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Val::Str(x), Val::Str(y)) => Some(x.as_ref().cmp(y.as_ref())),
        (Val::Bool(x), Val::Bool(y)) => {
            return match op {
                CmpOp::Eq => x == y,
                CmpOp::Ne => x != y,
                _ => false,
            }
        }
        _ => None,
    };
    match (op, ord) {
        (CmpOp::Eq, o) => o == Some(Ordering::Equal),
        (CmpOp::Ne, o) => o != Some(Ordering::Equal),
        // nil is equal to nil but never ordered.
        (_, _) if matches!(a, Val::Nil) => false,
        (_, None) => false,
        (CmpOp::Lt, Some(o)) => o == Ordering::Less,
        (CmpOp::Le, Some(o)) => o != Ordering::Greater,
        (CmpOp::Gt, Some(o)) => o == Ordering::Greater,
        (CmpOp::Ge, Some(o)) => o != Ordering::Less,
    }
}
