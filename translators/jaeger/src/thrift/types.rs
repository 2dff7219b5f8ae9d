//! The structs of jaeger-idl's `thrift/jaeger.thrift`, field for field.
//!
//! Optional list fields are plain `Vec`s (empty when absent): every consumer treats an absent
//! list and an empty one alike, and it saves an `Option` check per span on the hot path.

/// `enum TagType { STRING, DOUBLE, BOOL, LONG, BINARY }`. Thrift enums are open i32s on the wire;
/// an unknown value is kept (the Collector turns it into a placeholder string attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TagType {
    #[default]
    String,
    Double,
    Bool,
    Long,
    Binary,
    Unknown(i32),
}

impl TagType {
    pub fn from_i32(v: i32) -> Self {
        match v {
            0 => TagType::String,
            1 => TagType::Double,
            2 => TagType::Bool,
            3 => TagType::Long,
            4 => TagType::Binary,
            other => TagType::Unknown(other),
        }
    }

    pub fn to_i32(self) -> i32 {
        match self {
            TagType::String => 0,
            TagType::Double => 1,
            TagType::Bool => 2,
            TagType::Long => 3,
            TagType::Binary => 4,
            TagType::Unknown(v) => v,
        }
    }
}

/// A typed key/value pair; only the `v_*` field matching `v_type` is meaningful.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tag {
    pub key: String,
    pub v_type: TagType,
    pub v_str: Option<String>,
    pub v_double: Option<f64>,
    pub v_bool: Option<bool>,
    pub v_long: Option<i64>,
    pub v_binary: Option<Vec<u8>>,
}

impl Tag {
    pub fn string(key: impl Into<String>, v: impl Into<String>) -> Self {
        Tag {
            key: key.into(),
            v_type: TagType::String,
            v_str: Some(v.into()),
            ..Tag::default()
        }
    }
    pub fn double(key: impl Into<String>, v: f64) -> Self {
        Tag {
            key: key.into(),
            v_type: TagType::Double,
            v_double: Some(v),
            ..Tag::default()
        }
    }
    pub fn bool(key: impl Into<String>, v: bool) -> Self {
        Tag {
            key: key.into(),
            v_type: TagType::Bool,
            v_bool: Some(v),
            ..Tag::default()
        }
    }
    pub fn long(key: impl Into<String>, v: i64) -> Self {
        Tag {
            key: key.into(),
            v_type: TagType::Long,
            v_long: Some(v),
            ..Tag::default()
        }
    }
    pub fn binary(key: impl Into<String>, v: impl Into<Vec<u8>>) -> Self {
        Tag {
            key: key.into(),
            v_type: TagType::Binary,
            v_binary: Some(v.into()),
            ..Tag::default()
        }
    }
}

/// A timed event with fields; `timestamp` is in microseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Log {
    pub timestamp: i64,
    pub fields: Vec<Tag>,
}

/// `enum SpanRefType { CHILD_OF, FOLLOWS_FROM }`, open like [`TagType`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpanRefType {
    #[default]
    ChildOf,
    FollowsFrom,
    Unknown(i32),
}

impl SpanRefType {
    pub fn from_i32(v: i32) -> Self {
        match v {
            0 => SpanRefType::ChildOf,
            1 => SpanRefType::FollowsFrom,
            other => SpanRefType::Unknown(other),
        }
    }

    pub fn to_i32(self) -> i32 {
        match self {
            SpanRefType::ChildOf => 0,
            SpanRefType::FollowsFrom => 1,
            SpanRefType::Unknown(v) => v,
        }
    }
}

/// A causal reference to another span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpanRef {
    pub ref_type: SpanRefType,
    pub trace_id_low: i64,
    pub trace_id_high: i64,
    pub span_id: i64,
}

/// One unit of work. Times are microseconds; ids are the bits of unsigned 64-bit values.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Span {
    pub trace_id_low: i64,
    pub trace_id_high: i64,
    pub span_id: i64,
    pub parent_span_id: i64,
    pub operation_name: String,
    pub references: Vec<SpanRef>,
    /// 1 = sampled, 2 = debug.
    pub flags: i32,
    pub start_time: i64,
    pub duration: i64,
    pub tags: Vec<Tag>,
    pub logs: Vec<Log>,
}

/// The traced process: the service name and its tags (host, client version, ...).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Process {
    pub service_name: String,
    pub tags: Vec<Tag>,
}

/// Client-side drop counters some clients attach to a batch (read and kept, never translated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientStats {
    pub full_queue_dropped_spans: i64,
    pub too_large_dropped_spans: i64,
    pub failed_to_emit_spans: i64,
}

/// The spans of one process, as a client reports them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Batch {
    pub process: Process,
    pub spans: Vec<Span>,
    pub seq_no: Option<i64>,
    pub stats: Option<ClientStats>,
}
