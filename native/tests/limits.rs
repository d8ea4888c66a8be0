//! The caps of `Limits`: hostile headers end in `limit_exceeded`, as on the Python path
//! (tests/unit/alerts/test_decode_limits.py checks the two paths agree on every hostile case).

use std::path::PathBuf;

use rbc1000_native::container::{parse_container, Block};
use rbc1000_native::fits::read_stamp_limited;
use rbc1000_native::inflate::Inflater;
use rbc1000_native::limits::Limits;

const SYNC: &[u8; 16] = b"rbc-hostile-sync";

fn zigzag(value: i128) -> Vec<u8> {
    let mut n = ((value << 1) ^ (value >> 127)) as u128;
    let mut out = Vec::new();
    while n > 0x7F {
        out.push((n as u8 & 0x7F) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out
}

fn ocf(schema: &[u8], count: i128, payload: &[u8]) -> Vec<u8> {
    let mut out = b"Obj\x01".to_vec();
    out.extend(zigzag(1));
    out.extend(zigzag(11));
    out.extend(b"avro.schema");
    out.extend(zigzag(schema.len() as i128));
    out.extend(schema);
    out.extend(zigzag(0));
    out.extend(SYNC);
    out.extend(zigzag(count));
    out.extend(zigzag(payload.len() as i128));
    out.extend(payload);
    out.extend(SYNC);
    out
}

fn reasons(data: &[u8], limits: &Limits) -> Vec<&'static str> {
    let container = parse_container(data).expect("header");
    container
        .blocks(limits)
        .iter()
        .map(|b| match b {
            Block::Ok(..) => "ok",
            Block::Bad(fail) => fail.reason,
        })
        .collect()
}

#[test]
fn a_block_claiming_more_records_than_bytes_is_refused() {
    let schema = br#"{"type":"record","name":"b","fields":[{"name":"candidate","type":"null"}]}"#;
    let limits = Limits::default();
    assert_eq!(
        reasons(&ocf(schema, 1 << 62, b""), &limits),
        ["limit_exceeded"]
    );
    assert_eq!(reasons(&ocf(schema, 2, b""), &limits), ["limit_exceeded"]);
    assert_eq!(reasons(&ocf(schema, 1, b""), &limits), ["ok"]);
    assert_eq!(reasons(&ocf(schema, 3, b"abc"), &limits), ["ok"]);
}

#[test]
fn block_and_message_caps_come_from_the_limits() {
    let schema = br#"{"type":"record","name":"b","fields":[]}"#;
    let data = ocf(schema, 1, &[7u8; 5000]);
    assert_eq!(reasons(&data, &Limits::default()), ["ok"]);
    let small_block = Limits {
        max_block_bytes: 4096,
        ..Limits::default()
    };
    assert_eq!(reasons(&data, &small_block), ["limit_exceeded"]);
    let small_message = Limits {
        max_message_bytes: 4096,
        ..Limits::default()
    };
    assert_eq!(reasons(&data, &small_message), ["limit_exceeded"]);
}

fn fits(cards: &[(&str, &str)]) -> Vec<u8> {
    let mut header = String::new();
    for (key, value) in [("SIMPLE", "T")].iter().chain(cards) {
        header += &format!("{key:<8}= {value:>20}{:50}", "");
    }
    header += &format!("{:<80}", "END");
    while header.len() % 2880 != 0 {
        header.push(' ');
    }
    header.into_bytes()
}

#[test]
fn pixel_counts_past_the_cap_or_overflowing_are_refused() {
    let huge = fits(&[
        ("BITPIX", "16"),
        ("NAXIS", "2"),
        ("NAXIS1", "1099511627776"),
        ("NAXIS2", "1099511627776"),
    ]);
    let mut buf = Vec::new();
    let fail = read_stamp_limited(
        &huge,
        &mut Inflater::default(),
        &mut buf,
        &Limits::default(),
    )
    .err()
    .expect("refused");
    assert_eq!(fail.reason, "limit_exceeded");
    assert!(fail.detail.contains("max_stamp_pixels"));
}

#[test]
fn real_alerts_fit_the_default_caps() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/alerts");
    for entry in std::fs::read_dir(dir).expect("tests/data/alerts") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|x| x == "avro") {
            let data = std::fs::read(&path).expect("read");
            assert!(
                reasons(&data, &Limits::default())
                    .iter()
                    .all(|r| *r == "ok"),
                "{path:?}"
            );
        }
    }
}
