//! Packet to records to triplets: the whole decode of one message, without the GIL.

use std::collections::HashMap;
use std::sync::Arc;

use crate::avro::Cursor;
use crate::container::{parse_container, split_confluent, Block, Codec, OCF_MAGIC};
use crate::fits::{read_stamp, Image};
use crate::inflate::Inflater;
use crate::preprocess::{make_triplet, TRIPLET};
use crate::schema::Schema;
use crate::walk::{Value, Walker};
use crate::Fail;

const CUTOUTS: [(&str, &str); 3] = [
    ("cutoutScience", "science"),
    ("cutoutTemplate", "template"),
    ("cutoutDifference", "difference"),
];

/// How records of one writer schema are read: natively, or by the Python path.
pub enum Plan {
    /// A compiled schema and the caller's tag for it (echoed with each packet it reads).
    Native(Schema, u32),
    Python,
}

/// Plans by writer schema JSON (containers) and by Confluent schema id.
#[derive(Default)]
pub struct Plans {
    by_json: HashMap<u32, Vec<(Vec<u8>, Arc<Plan>)>>,
    by_id: HashMap<u32, Arc<Plan>>,
}

impl Plans {
    pub fn for_json(&self, schema_json: &[u8]) -> Option<Arc<Plan>> {
        let bucket = self.by_json.get(&crc32fast::hash(schema_json))?;
        bucket
            .iter()
            .find(|(k, _)| k == schema_json)
            .map(|(_, p)| p.clone())
    }

    pub fn add_json(&mut self, schema_json: &[u8], plan: Plan) {
        let bucket = self
            .by_json
            .entry(crc32fast::hash(schema_json))
            .or_default();
        bucket.retain(|(k, _)| k != schema_json);
        bucket.push((schema_json.to_vec(), Arc::new(plan)));
    }

    pub fn for_id(&self, id: u32) -> Option<Arc<Plan>> {
        self.by_id.get(&id).cloned()
    }

    pub fn add_id(&mut self, id: u32, plan: Plan) {
        self.by_id.insert(id, Arc::new(plan));
    }
}

/// One decoded record: its projected fields, or why it could not be read.
pub enum Record {
    Ok {
        fields: Vec<(String, Value)>,
        triplet: Result<Vec<f32>, Fail>,
    },
    Failed(Fail),
}

/// What became of one packet.
pub enum Packet {
    /// The records and the tag of the plan that read them (0 for a packet-level failure).
    Records(Vec<Record>, u32),
    NeedJson(Vec<u8>),
    NeedId(u32),
    Python,
}

fn failed(fail: Fail) -> Packet {
    Packet::Records(vec![Record::Failed(fail)], 0)
}

pub fn decode_packet(
    data: &[u8],
    plans: &Plans,
    inflater: &mut Inflater,
    triplets: bool,
) -> Packet {
    if data.starts_with(OCF_MAGIC) {
        decode_container(data, plans, inflater, triplets)
    } else if data.len() >= 5 && data[0] == 0 {
        decode_confluent(data, plans, inflater, triplets)
    } else {
        failed(Fail::new(
            "bad_framing",
            "neither an Avro container ('Obj\\x01') nor a Confluent frame",
        ))
    }
}

fn decode_container(data: &[u8], plans: &Plans, inflater: &mut Inflater, triplets: bool) -> Packet {
    let container = match parse_container(data) {
        Ok(c) => c,
        Err(fail) => return failed(fail),
    };
    let plan = match plans.for_json(container.schema_json) {
        Some(plan) => plan,
        None => return Packet::NeedJson(container.schema_json.to_vec()),
    };
    let Plan::Native(schema, tag) = plan.as_ref() else {
        return Packet::Python;
    };
    if container.codec == Codec::Other {
        return Packet::Python;
    }
    let mut out = Vec::new();
    for block in container.blocks() {
        match block {
            Block::Bad(fail) => out.push(Record::Failed(fail)),
            Block::Ok(count, bytes) => {
                read_records(schema, &bytes, count, &mut out, inflater, triplets);
            }
        }
    }
    Packet::Records(out, *tag)
}

fn decode_confluent(data: &[u8], plans: &Plans, inflater: &mut Inflater, triplets: bool) -> Packet {
    let (id, body) = match split_confluent(data) {
        Ok(split) => split,
        Err(fail) => return failed(fail),
    };
    let plan = match plans.for_id(id) {
        Some(plan) => plan,
        None => return Packet::NeedId(id),
    };
    let Plan::Native(schema, tag) = plan.as_ref() else {
        return Packet::Python;
    };
    let mut out = Vec::new();
    let end = read_records(schema, body, 1, &mut out, inflater, triplets);
    if end < body.len() && matches!(out[0], Record::Ok { .. }) {
        let left = body.len() - end;
        let detail = format!("{left} bytes left after the record: wrong schema id?");
        out[0] = Record::Failed(Fail::new("bad_record", &detail));
    }
    Packet::Records(out, *tag)
}

/// Read `count` records of `data` into `out`; return where reading stopped (past the end on failure).
fn read_records(
    schema: &Schema,
    data: &[u8],
    count: i128,
    out: &mut Vec<Record>,
    inflater: &mut Inflater,
    triplets: bool,
) -> usize {
    let mut cursor = Cursor::new(data);
    let mut walker = Walker::new(schema);
    let mut done: i128 = 0;
    while done < count {
        match walker.read_top(&mut cursor) {
            Ok(fields) => {
                let triplet = if triplets {
                    triplet_of(&fields, inflater)
                } else {
                    Ok(Vec::new())
                };
                out.push(Record::Ok { fields, triplet });
            }
            Err(e) => {
                out.push(Record::Failed(Fail::new("bad_record", &e.0)));
                return data.len();
            }
        }
        done += 1;
    }
    cursor.pos
}

/// The stamp bytes of a cutout value (`surveys._stamp`): None when absent, Err when malformed.
fn stamp_of(value: Option<&Value>) -> Result<Option<&[u8]>, Fail> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bytes(b)) => Ok(Some(b)),
        Some(dict @ Value::Dict(_)) => Ok(match dict.get("stampData") {
            Some(Value::Bytes(b)) => Some(b),
            _ => None,
        }),
        Some(_) => Err(Fail::new("bad_cutout", "unexpected cutout value")),
    }
}

fn triplet_of(fields: &[(String, Value)], inflater: &mut Inflater) -> Result<Vec<f32>, Fail> {
    let lookup = |name: &str| fields.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v);
    let mut stamps = Vec::with_capacity(3);
    let mut missing = Vec::new();
    for (field, label) in CUTOUTS {
        match stamp_of(lookup(field))? {
            Some(bytes) => stamps.push(bytes),
            None => missing.push(label),
        }
    }
    if !missing.is_empty() {
        return Err(Fail::new(
            "missing_cutouts",
            &format!("alert has no {} cutout", missing.join(", ")),
        ));
    }
    let images: Vec<Image> = stamps
        .iter()
        .map(|s| read_stamp(s, inflater))
        .collect::<Result<_, _>>()?;
    let mut out = vec![0f32; TRIPLET];
    make_triplet([&images[0], &images[1], &images[2]], &mut out)?;
    Ok(out)
}
