//! W3C tracestate probability sampling (OTEP 235): the `ot` entry's `rv` (56-bit explicit
//! randomness) and `th` (rejection threshold) values, with the arithmetic of the Collector's
//! `pkg/sampling`. A threshold is an unsigned 56-bit count: a span is kept when
//! `threshold <= randomness`; 0 keeps everything and 2^56 nothing.

/// 2^56: the number of distinct randomness values, and the "never sample" threshold.
pub const MAX_ADJUSTED_COUNT: u64 = 1 << 56;
pub const MIN_SAMPLING_PROBABILITY: f64 = 1.0 / MAX_ADJUSTED_COUNT as f64;
const NUM_HEX_DIGITS: usize = 14;

/// A rejection threshold in `[0, 2^56]`.
pub type Threshold = u64;
pub const ALWAYS_SAMPLE: Threshold = 0;
pub const NEVER_SAMPLE: Threshold = MAX_ADJUSTED_COUNT;

/// `ProbabilityToThresholdWithPrecision`: `None` when `prob` is out of `[2^-56, 1]`.
/// Precision 0 means all 14 digits; near 0 and 1 it is raised by the leading `0`/`f` digits,
/// so the relative error stays small.
pub fn probability_to_threshold(prob: f64, precision: u8) -> Option<Threshold> {
    if !(MIN_SAMPLING_PROBABILITY..=1.0).contains(&prob) {
        return None;
    }
    if prob == 1.0 {
        return Some(ALWAYS_SAMPLE);
    }
    let precision = if precision == 0 { NUM_HEX_DIGITS as i32 } else { i32::from(precision) };
    let extra = |x: f64| -frexp_exp(x) / 4;
    let precision = (NUM_HEX_DIGITS as i32).min((precision + extra(prob)).max(precision + extra(1.0 - prob)));
    let scaled = (prob * MAX_ADJUSTED_COUNT as f64).round() as u64;
    let mut threshold = MAX_ADJUSTED_COUNT - scaled;
    let shift = 4 * (NUM_HEX_DIGITS as i32 - precision);
    if shift != 0 {
        threshold += 1 << (shift - 1);
        threshold >>= shift;
        threshold <<= shift;
    }
    Some(threshold)
}

/// The exponent of Go's `math.Frexp` for a positive normal `x`: `x = f * 2^e`, `f` in [0.5, 1).
fn frexp_exp(x: f64) -> i32 {
    ((x.to_bits() >> 52) & 0x7ff) as i32 - 1022
}

pub fn threshold_probability(t: Threshold) -> f64 {
    (MAX_ADJUSTED_COUNT - t.min(MAX_ADJUSTED_COUNT)) as f64 / MAX_ADJUSTED_COUNT as f64
}

/// The `th` encoding: 14 hex digits with trailing zeros removed; "0" for always-sample.
pub fn threshold_tvalue(t: Threshold) -> String {
    if t == ALWAYS_SAMPLE {
        return "0".to_string();
    }
    let digits = format!("{:014x}", t);
    digits.trim_end_matches('0').to_string()
}

/// The randomness the W3C spec assigns a trace id: its last 7 bytes, big-endian.
pub fn trace_id_randomness(trace_id: &[u8]) -> Option<u64> {
    if trace_id.len() != 16 || trace_id.iter().all(|b| *b == 0) {
        return None;
    }
    Some(trace_id[9..].iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceStateError {
    #[error("r-value must have 14 hex digits")]
    RValue,
    #[error("t-value must have 1 to 14 hex digits")]
    TValue,
    #[error("malformed tracestate entry {0:?}")]
    Entry(String),
}

/// A parsed tracestate: the `ot` entry's fields, and everything else kept verbatim.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct W3cTraceState {
    /// `rv` as written (case kept) and its value.
    pub rvalue: Option<(String, u64)>,
    /// `th` as written and its threshold.
    pub tvalue: Option<(String, Threshold)>,
    /// Other `ot` sub-keys, in order.
    ot_extra: Vec<String>,
    /// Other vendors' entries, in order.
    others: Vec<String>,
}

fn parse_hex(s: &str, max: usize) -> Option<u64> {
    if s.is_empty() || s.len() > max || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

impl W3cTraceState {
    pub fn parse(raw: &str) -> Result<Self, TraceStateError> {
        let mut ts = Self::default();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((key, value)) = entry.split_once('=') else {
                return Err(TraceStateError::Entry(entry.to_string()));
            };
            if key != "ot" {
                ts.others.push(entry.to_string());
                continue;
            }
            for field in value.split(';').filter(|f| !f.is_empty()) {
                match field.split_once(':') {
                    Some(("rv", v)) => {
                        let r = (v.len() == NUM_HEX_DIGITS).then(|| parse_hex(v, NUM_HEX_DIGITS)).flatten();
                        ts.rvalue = Some((v.to_string(), r.ok_or(TraceStateError::RValue)?));
                    }
                    Some(("th", v)) => {
                        let t = parse_hex(v, NUM_HEX_DIGITS).ok_or(TraceStateError::TValue)?;
                        ts.tvalue = Some((v.to_string(), t << (4 * (NUM_HEX_DIGITS - v.len()))));
                    }
                    Some(_) => ts.ot_extra.push(field.to_string()),
                    None => return Err(TraceStateError::Entry(field.to_string())),
                }
            }
        }
        Ok(ts)
    }

    pub fn threshold(&self) -> Option<Threshold> {
        self.tvalue.as_ref().map(|(_, t)| *t)
    }

    pub fn clear_threshold(&mut self) {
        self.tvalue = None;
    }

    /// Records a kept span's new threshold. Raising the probability over an arriving `th`
    /// would inflate counts downstream, so that is refused (the Collector's
    /// `UpdateTValueWithSampling`) and the arriving value stays.
    pub fn update_threshold(&mut self, t: Threshold) -> bool {
        if t >= NEVER_SAMPLE {
            self.tvalue = None;
            return true;
        }
        if matches!(self.tvalue, Some((_, old)) if old > t) {
            return false;
        }
        self.tvalue = Some((threshold_tvalue(t), t));
        true
    }

    /// `ot` first (a modified entry moves to the front, per W3C), then the others.
    pub fn serialize(&self) -> String {
        let mut ot: Vec<String> = Vec::new();
        if let Some((rv, _)) = &self.rvalue {
            ot.push(format!("rv:{rv}"));
        }
        if let Some((th, _)) = &self.tvalue {
            ot.push(format!("th:{th}"));
        }
        ot.extend(self.ot_extra.iter().cloned());
        let mut out: Vec<String> = Vec::new();
        if !ot.is_empty() {
            out.push(format!("ot={}", ot.join(";")));
        }
        out.extend(self.others.iter().cloned());
        out.join(",")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn thresholds_match_the_collectors_encodings() {
        let tv = |p: f64, prec: u8| threshold_tvalue(probability_to_threshold(p, prec).unwrap());
        assert_eq!(tv(1.0, 4), "0");
        assert_eq!(tv(0.5, 4), "8");
        assert_eq!(tv(0.25, 4), "c");
        assert_eq!(tv(0.01, 0), "fd70a3d70a3d71");
        assert_eq!(tv(0.01, 4), "fd70a");
        assert_eq!(tv(0.01, 3), "fd71");
        // The Collector takes the percentage as a float32.
        assert_eq!(tv(f64::from(99.99992_f64 as f32) / 100.0, 10), "00000cccccccd");
        assert_eq!(tv(1.0 / 16384.0, 4), "fffc");
        assert_eq!(tv(0.4, 3), "99a");
        assert_eq!(tv(0.4, 6), "99999a");
        assert_eq!(tv(0.2, 6), "cccccd");
        assert_eq!(probability_to_threshold(0.0, 4), None);
    }

    #[test]
    fn parses_and_reserializes_ot_values() {
        let ts = W3cTraceState::parse("ot=th:8;rv:70000000000000,vendor=x").unwrap();
        assert_eq!(ts.threshold(), Some(0x8 << 52));
        assert_eq!(ts.rvalue.as_ref().unwrap().1, 0x70000000000000);
        assert_eq!(ts.serialize(), "ot=rv:70000000000000;th:8,vendor=x");
        assert_eq!(W3cTraceState::parse("ot=rv:abababababababab"), Err(TraceStateError::RValue));
        assert_eq!(W3cTraceState::parse("ot=th:abababababababab"), Err(TraceStateError::TValue));
        assert_eq!(W3cTraceState::parse("ot=th:-1"), Err(TraceStateError::TValue));
        assert_eq!(W3cTraceState::parse("").unwrap().serialize(), "");
    }

    #[test]
    fn trace_id_randomness_is_the_low_56_bits() {
        let mut tid = [0xfeu8; 16];
        tid[9..].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0]);
        assert_eq!(trace_id_randomness(&tid), Some(0x80000000000000));
        assert_eq!(trace_id_randomness(&[0u8; 16]), None);
        assert_eq!(trace_id_randomness(&[1u8; 3]), None);
    }
}
