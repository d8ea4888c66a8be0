//! Packet to records to triplets: the whole decode of one message, without the GIL.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use crate::avro::Cursor;
use crate::container::{parse_container, split_confluent, Block, Codec, OCF_MAGIC};
use crate::fits::read_stamp_limited;
use crate::inflate::Inflater;
use crate::limits::{exceeded, Limits};
use crate::preprocess::{make_triplet, Scratch, Version, TRIPLET};
use crate::schema::Schema;
use crate::walk::{Fields, Value, Walker};
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

/// What the decode of a batch reuses from one packet to the next: the inflater, the three
/// inflated stamps, the preprocessing scratch space, and the triplet rows produced so far.
#[derive(Default)]
pub struct Workspace {
    pub inflater: Inflater,
    stamps: [Vec<u8>; 3],
    scratch: Scratch,
    pub rows: Rows,
}

/// float32 triplets, `TRIPLET` values per row, in the order the records were read; only the
/// first `used` rows are the batch's (the buffer is kept, so that it is not zeroed again).
#[derive(Default)]
pub struct Rows {
    buf: Vec<f32>,
    used: usize,
}

impl Rows {
    /// Start a new batch.
    pub fn clear(&mut self) {
        self.used = 0;
    }

    pub fn count(&self) -> usize {
        self.used
    }

    /// The rows of the batch.
    pub fn as_slice(&self) -> &[f32] {
        &self.buf[..self.used * TRIPLET]
    }

    /// The next row to fill; `keep` makes it part of the batch.
    fn next(&mut self) -> &mut [f32] {
        let end = (self.used + 1) * TRIPLET;
        if self.buf.len() < end {
            self.buf.resize(end, 0.0);
        }
        &mut self.buf[end - TRIPLET..end]
    }

    fn keep(&mut self) -> usize {
        self.used += 1;
        self.used - 1
    }
}

/// One decoded record: its projected fields and its triplet row, or why it could not be read.
pub enum Record<'a> {
    Ok {
        fields: Fields<'a>,
        /// The row in `ws.rows`, None when triplets were not asked for.
        triplet: Result<Option<usize>, Fail>,
    },
    Failed(Fail),
}

/// What became of one packet.
pub enum Packet<'a> {
    /// The records and the tag of the plan that read them (0 for a packet-level failure).
    Records(Vec<Record<'a>>, u32),
    NeedJson(Vec<u8>),
    NeedId(u32),
    Python,
}

fn failed(fail: Fail) -> Packet<'static> {
    Packet::Records(vec![Record::Failed(fail)], 0)
}

/// Decode one packet under the default caps.
pub fn decode_packet<'a>(
    data: &'a [u8],
    plans: &Plans,
    ws: &mut Workspace,
    triplets: Option<Version>,
) -> Packet<'a> {
    decode_packet_limited(data, plans, ws, triplets, &Limits::default())
}

/// Decode one packet under `limits` (the Python wrapper's `DecodeLimits`).
pub fn decode_packet_limited<'a>(
    data: &'a [u8],
    plans: &Plans,
    ws: &mut Workspace,
    triplets: Option<Version>,
    limits: &Limits,
) -> Packet<'a> {
    let job = Job { triplets, limits };
    if data.starts_with(OCF_MAGIC) {
        decode_container(data, plans, ws, job)
    } else if data.len() >= 5 && data[0] == 0 {
        decode_confluent(data, plans, ws, job)
    } else {
        failed(Fail::new(
            "bad_framing",
            "neither an Avro container ('Obj\\x01') nor a Confluent frame",
        ))
    }
}

/// What a packet's decode is asked for: triplets of a version (or none), under caps.
#[derive(Clone, Copy)]
struct Job<'l> {
    triplets: Option<Version>,
    limits: &'l Limits,
}

fn decode_container<'a>(data: &'a [u8], plans: &Plans, ws: &mut Workspace, job: Job) -> Packet<'a> {
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
    let cap = job.limits.max_records_per_message;
    for block in container.blocks(job.limits) {
        let claimed = match &block {
            Block::Ok(count, _) => *count,
            Block::Bad(_) => 1,
        };
        if out.len() as i128 + claimed > i128::from(cap) {
            let what = format!("more than {cap} records in the message");
            out.push(Record::Failed(exceeded(
                "max_records_per_message",
                cap,
                &what,
            )));
            break;
        }
        match block {
            Block::Bad(fail) => out.push(Record::Failed(fail)),
            Block::Ok(count, Cow::Borrowed(bytes)) => {
                read_records(schema, bytes, count, &mut out, ws, job);
            }
            Block::Ok(count, Cow::Owned(bytes)) => {
                // The inflated block is freed below: its records keep copies of what they borrow.
                let mut records: Vec<Record<'_>> = Vec::new();
                read_records(schema, &bytes, count, &mut records, ws, job);
                out.extend(records.into_iter().map(|r| r.into_owned()));
            }
        }
    }
    Packet::Records(out, *tag)
}

fn decode_confluent<'a>(data: &'a [u8], plans: &Plans, ws: &mut Workspace, job: Job) -> Packet<'a> {
    let (id, body) = match split_confluent(data) {
        Ok(split) => split,
        Err(fail) => return failed(fail),
    };
    let cap = job.limits.max_message_bytes;
    if body.len() > cap {
        let what = format!("Confluent body of {} bytes", body.len());
        return failed(exceeded("max_message_bytes", cap as u64, &what));
    }
    let plan = match plans.for_id(id) {
        Some(plan) => plan,
        None => return Packet::NeedId(id),
    };
    let Plan::Native(schema, tag) = plan.as_ref() else {
        return Packet::Python;
    };
    let mut out = Vec::new();
    let used_before = ws.rows.used;
    let end = read_records(schema, body, 1, &mut out, ws, job);
    if end < body.len() && matches!(out[0], Record::Ok { .. }) {
        let left = body.len() - end;
        let detail = format!("{left} bytes left after the record: wrong schema id?");
        out[0] = Record::Failed(Fail::new("bad_record", &detail));
        ws.rows.used = used_before;
    }
    Packet::Records(out, *tag)
}

impl Record<'_> {
    fn into_owned(self) -> Record<'static> {
        match self {
            Record::Ok { fields, triplet } => Record::Ok {
                fields: fields
                    .into_iter()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect(),
                triplet,
            },
            Record::Failed(fail) => Record::Failed(fail),
        }
    }
}

/// Read `count` records of `data` into `out`; return where reading stopped (past the end on failure).
fn read_records<'a>(
    schema: &Schema,
    data: &'a [u8],
    count: i128,
    out: &mut Vec<Record<'a>>,
    ws: &mut Workspace,
    job: Job,
) -> usize {
    let mut cursor = Cursor::new(data);
    let mut walker = Walker::new(schema);
    let mut done: i128 = 0;
    while done < count {
        match walker.read_top(&mut cursor) {
            Ok(fields) => {
                let triplet = match job.triplets {
                    Some(version) => triplet_of(&fields, version, ws, job.limits).map(Some),
                    None => Ok(None),
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
fn stamp_of<'v>(value: Option<&'v Value>) -> Result<Option<&'v [u8]>, Fail> {
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

/// The record's triplet, added to `ws.rows`; its row number.
fn triplet_of(
    fields: &Fields,
    version: Version,
    ws: &mut Workspace,
    limits: &Limits,
) -> Result<usize, Fail> {
    let lookup = |name: &str| {
        fields
            .iter()
            .rev()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, v)| v)
    };
    let mut stamps: [&[u8]; 3] = [&[]; 3];
    let mut missing = Vec::new();
    for (i, (field, label)) in CUTOUTS.iter().enumerate() {
        match stamp_of(lookup(field))? {
            Some(bytes) => stamps[i] = bytes,
            None => missing.push(*label),
        }
    }
    if !missing.is_empty() {
        return Err(Fail::new(
            "missing_cutouts",
            &format!("alert has no {} cutout", missing.join(", ")),
        ));
    }
    let [b0, b1, b2] = &mut ws.stamps;
    let located = [
        read_stamp_limited(stamps[0], &mut ws.inflater, b0, limits)?,
        read_stamp_limited(stamps[1], &mut ws.inflater, b1, limits)?,
        read_stamp_limited(stamps[2], &mut ws.inflater, b2, limits)?,
    ];
    let out = ws.rows.next();
    make_triplet(
        [&located[0], &located[1], &located[2]],
        version,
        out,
        &mut ws.scratch,
    )?;
    Ok(ws.rows.keep())
}
