//! Answers written within a byte budget, one element at a time.
//!
//! A search answer used to be built whole (every trace translated, then serialized at once),
//! so its size was whatever the store found. Here each element (a UI trace, or the OTLP
//! resource spans of one trace) is serialized straight into the answer's buffer through a
//! writer that refuses to grow it past the budget: an element that does not fit fails part
//! way, the buffer is cut back to before it, and the caller decides (stop the search with a
//! note, or refuse a single trace). Memory stays within the budget plus one element's model.
//!
//! The envelope around the elements is written by hand, byte for byte what serde_json writes
//! for the whole value (compact, or pretty with Go's four-space indent: a pretty element gets
//! its nesting depth's indent after each of its newlines, safe because JSON strings never
//! hold a raw newline). The budget of the elements leaves room for the envelope's end.

use std::io;

use serde::Serialize;

/// Room kept for the end of an envelope beyond the notes known up front: the closing
/// brackets and one note about the cut (its text is far shorter).
const TAIL_ROOM: usize = 1024;

/// Writes into `out` until `cap`, inserting `indent` after each newline.
struct Capped<'a> {
    out: &'a mut Vec<u8>,
    cap: usize,
    indent: &'a [u8],
}

impl io::Write for Capped<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let newlines = if self.indent.is_empty() { 0 } else { buf.iter().filter(|b| **b == b'\n').count() };
        if self.out.len() + buf.len() + newlines * self.indent.len() > self.cap {
            return Err(io::Error::other("over the answer's byte budget"));
        }
        if newlines == 0 {
            self.out.extend_from_slice(buf);
        } else {
            for (i, line) in buf.split(|b| *b == b'\n').enumerate() {
                if i > 0 {
                    self.out.push(b'\n');
                    self.out.extend_from_slice(self.indent);
                }
                self.out.extend_from_slice(line);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `value` serialized into `out` (compact, or pretty at the given indent) unless that would
/// take `out` past `cap`; on failure `out` is as it was.
fn write_capped<T: Serialize + ?Sized>(out: &mut Vec<u8>, cap: usize, pretty: Option<&[u8]>, value: &T) -> Result<(), Overflow> {
    let mark = out.len();
    let mut w = Capped { out, cap, indent: pretty.unwrap_or_default() };
    let written = match pretty {
        Some(_) => {
            let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            value.serialize(&mut serde_json::Serializer::with_formatter(&mut w, fmt))
        }
        None => value.serialize(&mut serde_json::Serializer::new(&mut w)),
    };
    match written {
        Ok(()) => Ok(()),
        Err(e) => {
            out.truncate(mark);
            if !e.is_io() {
                tracing::error!("cannot serialize part of a response: {e}");
            }
            Err(Overflow)
        }
    }
}

/// The element did not fit in the budget (nothing of it was written).
#[derive(Debug, PartialEq)]
pub struct Overflow;

/// A JSON array inside an envelope, written element by element within a budget.
pub struct ArrayWriter {
    out: Vec<u8>,
    /// Bytes the elements may reach (the budget less the room kept for the end).
    cap: usize,
    /// Pretty: the indent of the array's elements; compact: `None`.
    indent: Option<&'static [u8]>,
    count: usize,
}

impl ArrayWriter {
    /// `head` is written at once (it must fit); `tail_room` is kept free for the end.
    fn new(head: &[u8], budget: usize, tail_room: usize, indent: Option<&'static [u8]>) -> Self {
        let mut out = Vec::with_capacity(budget.min(64 << 10));
        out.extend_from_slice(head);
        Self { out, cap: budget.saturating_sub(tail_room), indent, count: 0 }
    }

    /// Elements written so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Appends the elements together, or none of them when they do not all fit.
    pub fn push_all<'a, T: Serialize + 'a>(&mut self, items: impl IntoIterator<Item = &'a T>) -> Result<(), Overflow> {
        let (mark, count) = (self.out.len(), self.count);
        for item in items {
            if let Err(e) = self.push_one(item) {
                self.out.truncate(mark);
                self.count = count;
                return Err(e);
            }
        }
        Ok(())
    }

    pub fn push<T: Serialize>(&mut self, item: &T) -> Result<(), Overflow> {
        self.push_all(std::iter::once(item))
    }

    fn push_one<T: Serialize>(&mut self, item: &T) -> Result<(), Overflow> {
        let mark = self.out.len();
        let separator: &[u8] = match (self.count, self.indent) {
            (0, None) => b"",
            (_, None) => b",",
            (0, Some(_)) => b"\n",
            (_, Some(_)) => b",\n",
        };
        let indent = self.indent.unwrap_or_default();
        if self.out.len() + separator.len() + indent.len() > self.cap {
            return Err(Overflow);
        }
        self.out.extend_from_slice(separator);
        self.out.extend_from_slice(indent);
        write_capped(&mut self.out, self.cap, self.indent, item).inspect_err(|_| self.out.truncate(mark))?;
        self.count += 1;
        Ok(())
    }
}

/// Jaeger's envelope after `data`: `{"total":..,"limit":..,"offset":..,"errors":..}`.
#[derive(Serialize)]
pub struct EnvelopeTail<'a, E: Serialize> {
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
    pub errors: Option<&'a [E]>,
}

/// Jaeger's `{"data":[...],"total":0,"limit":0,"offset":0,"errors":...}`, `data` written
/// element by element. `known_errors` are the notes already known (their room is kept).
pub fn envelope<E: Serialize>(pretty: bool, budget: usize, known_errors: &[E]) -> ArrayWriter {
    let tail = EnvelopeTail { total: 0, limit: 0, offset: 0, errors: Some(known_errors) };
    let room = tail_bytes(&tail, pretty) + TAIL_ROOM;
    if pretty {
        ArrayWriter::new(b"{\n    \"data\": [", budget, room, Some(b"        "))
    } else {
        ArrayWriter::new(b"{\"data\":[", budget, room, None)
    }
}

fn tail_bytes<E: Serialize>(tail: &EnvelopeTail<'_, E>, pretty: bool) -> usize {
    let mut out = Vec::new();
    // No cap: the tail is small and its size is what is being measured.
    let _ = write_capped(&mut out, usize::MAX, pretty.then_some(b"" as &[u8]), tail);
    out.len()
}

/// Closes the `data` array and writes the rest of the envelope and Go's trailing newline.
pub fn finish_envelope<E: Serialize>(w: ArrayWriter, tail: &EnvelopeTail<'_, E>) -> Vec<u8> {
    let ArrayWriter { mut out, indent, count, .. } = w;
    let pretty = indent.is_some();
    out.extend_from_slice(if pretty && count > 0 { b"\n    ]," } else { b"]," });
    let mut rest = Vec::new();
    let _ = write_capped(&mut rest, usize::MAX, pretty.then_some(b"" as &[u8]), tail);
    // The tail is an object of its own: drop its `{`, the envelope's is open.
    out.extend_from_slice(rest.get(1..).unwrap_or_default());
    out.push(b'\n');
    out
}

/// api_v3's `{"result":{"resourceSpans":[...]}}`, `{"result":{}}` when empty (protobuf JSON
/// leaves an empty list out).
pub fn v3_result(budget: usize) -> ArrayWriter {
    ArrayWriter::new(b"{\"result\":{\"resourceSpans\":[", budget, 16, None)
}

pub fn finish_v3_result(w: ArrayWriter) -> Vec<u8> {
    // No trailing newline: the gateway writes with protojson's Marshal, not json.Encoder.
    if w.count == 0 {
        return b"{\"result\":{}}".to_vec();
    }
    let mut out = w.out;
    out.extend_from_slice(b"]}}");
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The whole envelope, serialized at once (fields in Jaeger's order).
    #[derive(Serialize)]
    struct Whole<'a> {
        data: &'a [serde_json::Value],
        total: usize,
        limit: usize,
        offset: usize,
        errors: Option<&'a [serde_json::Value]>,
    }

    #[test]
    fn envelopes_are_byte_for_byte_what_serde_writes() {
        let items = [json!({"a": [1, {"b": "x\ny"}], "c": null}), json!({"d": []}), json!("s")];
        let errors = [json!({"msg": "m", "traceID": "01"})];
        for pretty in [false, true] {
            for n in 0..=items.len() {
                for errs in [None, Some(&errors[..])] {
                    let mut w = envelope(pretty, 1 << 20, errs.unwrap_or_default());
                    w.push_all(&items[..n]).expect("fits");
                    let tail = EnvelopeTail { total: 0, limit: 0, offset: 0, errors: errs };
                    let got = finish_envelope(w, &tail);
                    let want = crate::api::to_json(&Whole { data: &items[..n], total: 0, limit: 0, offset: 0, errors: errs }, pretty);
                    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want), "pretty {pretty}, {n} items");
                }
            }
        }
    }

    #[test]
    fn an_element_that_does_not_fit_leaves_nothing_behind() {
        let big = json!({"x": "y".repeat(900)});
        let small = json!({"x": 1});
        let none: &[serde_json::Value] = &[];
        for pretty in [false, true] {
            let budget = 2500;
            let mut w = envelope(pretty, budget, none);
            w.push(&big).expect("one fits");
            assert_eq!(w.push(&big), Err(Overflow), "two do not");
            w.push(&small).expect("a small one still fits");
            assert_eq!(w.push_all([&small, &big]), Err(Overflow));
            assert_eq!(w.count(), 2);
            let body = finish_envelope(w, &EnvelopeTail { total: 0, limit: 0, offset: 0, errors: Some(&[json!({"msg": "cut"})]) });
            assert!(body.len() <= budget, "{}", body.len());
            let v: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
            assert_eq!(v["data"], json!([big, small]));
        }
    }

    #[test]
    fn v3_results() {
        let w = v3_result(100);
        assert_eq!(finish_v3_result(w), b"{\"result\":{}}");
        let mut w = v3_result(100);
        w.push_all([&json!({"a": 1}), &json!({"b": 2})]).expect("fits");
        assert_eq!(w.push(&json!({"c": "x".repeat(100)})), Err(Overflow));
        assert_eq!(String::from_utf8_lossy(&finish_v3_result(w)), "{\"result\":{\"resourceSpans\":[{\"a\":1},{\"b\":2}]}}");
    }
}
