//! libFuzzer target: any bytes through `decode_packet`, as the service hands it a message.
//!
//! Plans are compiled once from the vendored alerts' own writer schemas (ZTF and Rubin keep
//! lists as the Python wrapper sends them, `keep/`), with the Rubin schema also under the
//! Confluent id 900 that `confluent_seeds.py` frames its seeds with. A packet whose schema
//! or id has no plan (a mutated header) gets one compiled from that schema on the spot, so
//! the schema compiler is fuzzed too. Must never panic, abort or hang; the outcome itself is
//! free (failures are typed results, checked for parity with Python elsewhere).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rbc1000_native::container::parse_container;
use rbc1000_native::decode::{decode_packet, Packet, Plans, Workspace};
use rbc1000_native::preprocess::Version;

const ZTF_KEEP: &str = include_str!("../keep/ztf.json");
const LSST_KEEP: &str = include_str!("../keep/lsst.json");
const CONFLUENT_ID: u32 = 900;

struct Known {
    plans: Plans,
    lsst_schema: Vec<u8>,
}

fn keep_for(schema_json: &[u8]) -> &'static str {
    let rubin = schema_json.windows(9).any(|w| w == b"diaSource");
    if rubin {
        LSST_KEEP
    } else {
        ZTF_KEEP
    }
}

fn known() -> &'static Known {
    static KNOWN: OnceLock<Known> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/alerts");
        let mut plans = Plans::default();
        let mut lsst_schema = Vec::new();
        for entry in std::fs::read_dir(dir).expect("tests/data/alerts").flatten() {
            let Ok(data) = std::fs::read(entry.path()) else { continue };
            let Ok(container) = parse_container(&data) else { continue };
            let schema = container.schema_json;
            let keep = keep_for(schema);
            if keep == LSST_KEEP && lsst_schema.is_empty() {
                lsst_schema = schema.to_vec();
                plans.add_id(CONFLUENT_ID, rbc1000_native::compile_plan(schema, keep, 2));
            }
            plans.add_json(schema, rbc1000_native::compile_plan(schema, keep, 1));
        }
        Known { plans, lsst_schema }
    })
}

fn decode(data: &[u8], plans: &Plans, ws: &mut Workspace, version: Version) -> Option<Plans> {
    match decode_packet(data, plans, ws, Some(version)) {
        Packet::NeedJson(schema) => {
            let mut fresh = Plans::default();
            fresh.add_json(&schema, rbc1000_native::compile_plan(&schema, keep_for(&schema), 1));
            Some(fresh)
        }
        Packet::NeedId(id) => {
            let schema = &known().lsst_schema;
            let mut fresh = Plans::default();
            fresh.add_id(id, rbc1000_native::compile_plan(schema, LSST_KEEP, 2));
            Some(fresh)
        }
        Packet::Records(..) | Packet::Python => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let known = known();
    let mut ws = Workspace::default();
    // Both preprocessing versions, chosen by length so a seed keeps its meaning under mutation.
    let version = if data.len() % 2 == 0 { Version::Pp2 } else { Version::Pp1 };
    if let Some(fresh) = decode(data, &known.plans, &mut ws, version) {
        decode(data, &fresh, &mut ws, version);
    }
});
