#![allow(clippy::unwrap_used)]
use super::*;

#[test]
fn varints_follow_prost() {
    assert_eq!(read_varint(&mut &[0x96, 0x01][..]), Ok(150));
    let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    assert_eq!(read_varint(&mut &max[..]), Ok(u64::MAX));
    let mut over = max;
    over[9] = 0x02;
    assert_eq!(read_varint(&mut &over[..]), Err(WireError::InvalidVarint));
    assert_eq!(read_varint(&mut &[0x80][..]), Err(WireError::Truncated));
}

#[test]
fn groups_are_returned_whole_and_a_stray_end_is_an_error() {
    // Field 99: a group holding a varint field 1, then a lone end-group key.
    let group = [0x9b, 0x06, 0x08, 0x01, 0x9c, 0x06];
    let fields: Vec<_> = Reader::new(&group).collect();
    assert_eq!(fields, vec![Ok(Field { number: 99, value: Value::Group(&[0x08, 0x01]) })]);
    let stray = [0x9c, 0x06, 0x08, 0x01];
    let fields: Vec<_> = Reader::new(&stray).collect();
    assert_eq!(fields, vec![Err(WireError::UnexpectedEndGroup(99))], "nothing after an error");
}

#[test]
fn positions_count_what_was_read_and_keys_follow_prost() {
    // Field 1 varint 150, field 2 "hi", field 3 fixed32.
    let bytes = [0x08, 0x96, 0x01, 0x12, 0x02, b'h', b'i', 0x1d, 1, 0, 0, 0];
    let mut r = Reader::new(&bytes);
    assert_eq!(r.field().unwrap(), Some(Field { number: 1, value: Value::Varint(150) }));
    assert_eq!(r.position(), 3);
    assert_eq!(r.field().unwrap().unwrap().value.str(2, "s"), Ok("hi"));
    assert_eq!(r.field().unwrap().unwrap().value.fixed32(3), Ok(1));
    assert_eq!((r.position(), r.field()), (bytes.len(), Ok(None)));
    // Field number 0, wire type 6, and a length past the end.
    for bad in [&[0x00, 0x01][..], &[0x0e][..], &[0x0a, 0x05, 0x01][..]] {
        assert!(Reader::new(bad).field().is_err(), "{bad:?}");
    }
    assert_eq!(Value::Varint(1).bytes(4), Err(WireError::InvalidWireType { field: 4, wire_type: VARINT }));
}
