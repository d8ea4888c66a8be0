//! Mutation fuzzing of the decode core without libFuzzer: truncations, bit flips and random
//! bytes of the vendored real packets must never panic or hang. `RBC_FUZZ_CASES` sets how
//! many cases per sample (scripts/fuzz-native.sh runs many; `cargo test` runs a few).

use std::path::PathBuf;

use rbc1000_native::container::parse_container;
use rbc1000_native::decode::{decode_packet, Plans, Workspace};
use rbc1000_native::preprocess::Version;

const ZTF_KEEP: &str = r#"{"schemavsn": null, "objectId": null, "candid": null,
  "candidate": {"candid": null, "jd": null, "fid": null, "ra": null, "dec": null, "magpsf": null,
  "sigmapsf": null, "rb": null, "drb": null, "fwhm": null, "isdiffpos": null},
  "cutoutScience": null, "cutoutTemplate": null, "cutoutDifference": null}"#;

/// A small xorshift generator: reproducible cases without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn samples() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/alerts");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "avro"));
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn plans_for(samples: &[Vec<u8>]) -> Plans {
    let mut plans = Plans::default();
    for data in samples {
        if let Ok(c) = parse_container(data) {
            plans.add_json(
                c.schema_json,
                rbc1000_native::compile_plan(c.schema_json, ZTF_KEEP, 1),
            );
        }
    }
    plans
}

#[test]
fn mutated_packets_never_panic() {
    let cases: usize = std::env::var("RBC_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let seed: u64 = std::env::var("RBC_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x9E37_79B9);
    let samples = samples();
    assert!(!samples.is_empty(), "no vendored samples found");
    let plans = plans_for(&samples);
    let mut ws = Workspace::default();
    let mut rng = Rng(seed | 1);
    for data in &samples {
        for _ in 0..cases {
            let cut = rng.below(data.len() + 1);
            decode_packet(&data[..cut], &plans, &mut ws, Some(Version::Pp2));
            let mut flipped = data.clone();
            for _ in 0..=rng.below(8) {
                let at = rng.below(flipped.len());
                flipped[at] ^= 1 << rng.below(8);
            }
            decode_packet(&flipped, &plans, &mut ws, Some(Version::Pp2));
            let noise: Vec<u8> = (0..rng.below(512)).map(|_| rng.next() as u8).collect();
            for prefix in [&b""[..], b"Obj\x01", b"\x00\x00\x00\x03\x84"] {
                decode_packet(
                    &[prefix, &noise].concat(),
                    &plans,
                    &mut ws,
                    Some(Version::Pp2),
                );
            }
        }
    }
}
