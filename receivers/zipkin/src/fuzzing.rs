//! What the fuzz targets `zipkin_v1_json`, `zipkin_v1_thrift`, `zipkin_v2_json` and
//! `zipkin_v2_proto` call (see `tracegate_core::fuzzing` and docs/fuzzing.md), public so the
//! tests replay the committed inputs through it.
//!
//! Any byte string through a decoder and the translation to OTLP: an error is fine; a panic,
//! a hang or an allocation out of proportion to the input is a bug. The first byte picks the
//! options, so both tag-typing paths and the debug flag are exercised.

use crate::{translate, Format, Options};

fn run(format: Format, data: &[u8]) {
    let (flags, body) = data.split_first().map_or((0, data), |(f, rest)| (*f, rest));
    let options = Options { parse_string_tags: flags & 1 == 1, debug: flags & 2 == 2 };
    let _ = translate(format, body, options);
}

/// The fuzz target `zipkin_v1_json`: a `POST /api/v1/spans` JSON body.
pub fn v1_json(data: &[u8]) {
    run(Format::V1Json, data);
}

/// The fuzz target `zipkin_v1_thrift`: a `POST /api/v1/spans` Thrift body.
pub fn v1_thrift(data: &[u8]) {
    run(Format::V1Thrift, data);
}

/// The fuzz target `zipkin_v2_json`: a `POST /api/v2/spans` JSON body.
pub fn v2_json(data: &[u8]) {
    run(Format::V2Json, data);
}

/// The fuzz target `zipkin_v2_proto`: a `POST /api/v2/spans` protobuf body.
pub fn v2_proto(data: &[u8]) {
    run(Format::V2Proto, data);
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use thrift::protocol::{
        TBinaryOutputProtocol, TFieldIdentifier, TListIdentifier, TOutputProtocol, TStructIdentifier, TType,
    };
    use tracegate_core::fuzzing::{replay, write_seed};

    use super::*;
    use crate::v2_proto::proto;

    #[test]
    fn committed_inputs_replay() {
        replay("zipkin_v1_json", v1_json);
        replay("zipkin_v1_thrift", v1_thrift);
        replay("zipkin_v2_json", v2_json);
        replay("zipkin_v2_proto", v2_proto);
    }

    /// A v1 Thrift `list<Span>` with one span, an annotation and a binary annotation.
    fn v1_thrift_body() -> thrift::Result<Vec<u8>> {
        let mut buf = Vec::new();
        let mut p = TBinaryOutputProtocol::new(&mut buf, true);
        let field = |p: &mut TBinaryOutputProtocol<&mut Vec<u8>>, t, id| p.write_field_begin(&TFieldIdentifier::new("f", t, id));
        let endpoint = |p: &mut TBinaryOutputProtocol<&mut Vec<u8>>| -> thrift::Result<()> {
            p.write_struct_begin(&TStructIdentifier::new("Endpoint"))?;
            field(p, TType::I32, 1)?;
            p.write_i32(0x0a00_0001)?;
            field(p, TType::I16, 2)?;
            p.write_i16(8080)?;
            field(p, TType::String, 3)?;
            p.write_string("frontend")?;
            p.write_field_stop()?;
            p.write_struct_end()
        };
        p.write_list_begin(&TListIdentifier::new(TType::Struct, 1))?;
        p.write_struct_begin(&TStructIdentifier::new("Span"))?;
        field(&mut p, TType::I64, 1)?;
        p.write_i64(0x1122_3344_5566_7788)?;
        field(&mut p, TType::String, 3)?;
        p.write_string("get /users")?;
        field(&mut p, TType::I64, 4)?;
        p.write_i64(42)?;
        field(&mut p, TType::I64, 5)?;
        p.write_i64(7)?;
        field(&mut p, TType::List, 6)?;
        p.write_list_begin(&TListIdentifier::new(TType::Struct, 1))?;
        p.write_struct_begin(&TStructIdentifier::new("Annotation"))?;
        field(&mut p, TType::I64, 1)?;
        p.write_i64(1_700_000_000_000_000)?;
        field(&mut p, TType::String, 2)?;
        p.write_string("sr")?;
        field(&mut p, TType::Struct, 3)?;
        endpoint(&mut p)?;
        p.write_field_stop()?;
        p.write_struct_end()?;
        field(&mut p, TType::List, 8)?;
        p.write_list_begin(&TListIdentifier::new(TType::Struct, 1))?;
        p.write_struct_begin(&TStructIdentifier::new("BinaryAnnotation"))?;
        field(&mut p, TType::String, 1)?;
        p.write_string("http.path")?;
        field(&mut p, TType::String, 2)?;
        p.write_bytes(b"/users")?;
        field(&mut p, TType::I32, 3)?;
        p.write_i32(6)?;
        field(&mut p, TType::Struct, 4)?;
        endpoint(&mut p)?;
        p.write_field_stop()?;
        p.write_struct_end()?;
        field(&mut p, TType::I64, 10)?;
        p.write_i64(1_700_000_000_000_000)?;
        field(&mut p, TType::I64, 11)?;
        p.write_i64(2500)?;
        p.write_field_stop()?;
        p.write_struct_end()?;
        p.flush()?;
        drop(p);
        Ok(buf)
    }

    #[test]
    #[ignore = "writes fuzz/seeds; run by hand when a format changes"]
    fn write_fuzz_seeds() {
        // Each input starts with the options byte (see `run`).
        let with_flags = |flags: u8, body: &[u8]| [&[flags][..], body].concat();
        write_seed(
            "zipkin_v2_json",
            "sample",
            &with_flags(0, br#"[{"traceId":"5af7183fb1d4cf5f","parentId":"6b221d5bc9e6496c","id":"352bff9a74ca9ad2","kind":"SERVER","name":"get /api","timestamp":1556604172355737,"duration":1431,"localEndpoint":{"serviceName":"backend","ipv4":"192.168.99.1","port":3306},"remoteEndpoint":{"ipv6":"::1","port":58648},"annotations":[{"timestamp":1556604172355800,"value":"retry"}],"tags":{"http.method":"GET","http.path":"/api","error":"boom"},"shared":true}]"#),
        );
        write_seed(
            "zipkin_v1_json",
            "sample",
            &with_flags(1, br#"[{"traceId":"5af7183fb1d4cf5f","name":"get","id":"352bff9a74ca9ad2","parentId":"6b221d5bc9e6496c","timestamp":1556604172355737,"duration":1431,"annotations":[{"timestamp":1556604172355737,"value":"sr","endpoint":{"serviceName":"backend","ipv4":"192.168.99.1","port":9000}},{"timestamp":1556604172357168,"value":"ss","endpoint":{"serviceName":"backend","ipv4":"192.168.99.1","port":9000}}],"binaryAnnotations":[{"key":"http.path","value":"/api","endpoint":{"serviceName":"backend"}},{"key":"count","value":"12","type":"I32"},{"key":"sa","value":true,"endpoint":{"serviceName":"db","ipv6":"::1","port":3306}}]}]"#),
        );
        let span = proto::Span {
            trace_id: vec![0x5a, 0xf7, 0x18, 0x3f, 0xb1, 0xd4, 0xcf, 0x5f],
            parent_id: vec![0x6b, 0x22, 0x1d, 0x5b, 0xc9, 0xe6, 0x49, 0x6c],
            id: vec![0x35, 0x2b, 0xff, 0x9a, 0x74, 0xca, 0x9a, 0xd2],
            kind: proto::span::Kind::Client as i32,
            name: "get /api".into(),
            timestamp: 1_556_604_172_355_737,
            duration: 1431,
            local_endpoint: Some(proto::Endpoint { service_name: "frontend".into(), ipv4: vec![10, 0, 0, 1], port: 8080, ..Default::default() }),
            remote_endpoint: Some(proto::Endpoint { ipv6: vec![0; 16], port: 3306, ..Default::default() }),
            annotations: vec![proto::Annotation { timestamp: 1_556_604_172_355_800, value: "retry".into() }],
            tags: [("http.method".to_string(), "GET".to_string())].into_iter().collect(),
            ..Default::default()
        };
        let mut body = vec![2];
        body.extend_from_slice(&proto::ListOfSpans { spans: vec![span] }.encode_to_vec());
        write_seed("zipkin_v2_proto", "sample", &body);
        let mut thrift = vec![0];
        thrift.extend_from_slice(&v1_thrift_body().expect("thrift"));
        write_seed("zipkin_v1_thrift", "sample", &thrift);
        for (target, format) in [
            ("zipkin_v1_json", Format::V1Json),
            ("zipkin_v1_thrift", Format::V1Thrift),
            ("zipkin_v2_json", Format::V2Json),
            ("zipkin_v2_proto", Format::V2Proto),
        ] {
            for (path, data) in tracegate_core::fuzzing::inputs(target) {
                let body = data.get(1..).unwrap_or_default();
                let spans = translate(format, body, Options::default()).map(|rs| rs.len());
                assert!(matches!(spans, Ok(1..)), "{}: {spans:?}", path.display());
            }
        }
    }
}
