//! Time each stage of the native decode on a directory of ZTF alert files (development aid):
//! `cargo run --release --no-default-features --example stages -- DIR [ROUNDS]`.
use std::time::Instant;

use rbc1000_native::container::parse_container;
use rbc1000_native::decode::{decode_packet, Packet, Plans, Record, Workspace};
use rbc1000_native::fits::read_stamp;
use rbc1000_native::inflate::Inflater;
use rbc1000_native::preprocess::{make_triplet, Scratch, Version, TRIPLET};
use rbc1000_native::walk::Value;

const ZTF_KEEP: &str = r#"{"schemavsn": null, "objectId": null, "candid": null,
  "candidate": {"candid": null, "jd": null, "fid": null, "ra": null, "dec": null, "magpsf": null,
  "sigmapsf": null, "rb": null, "drb": null, "fwhm": null, "isdiffpos": null},
  "cutoutScience": null, "cutoutTemplate": null, "cutoutDifference": null}"#;

/// The three stamps of a packet's first record, as the walk reads them.
fn stamps_of(data: &[u8], plans: &Plans, ws: &mut Workspace) -> Option<[Vec<u8>; 3]> {
    let Packet::Records(records, _) = decode_packet(data, plans, ws, None) else {
        return None;
    };
    let Some(Record::Ok { fields, .. }) = records.first() else {
        return None;
    };
    let stamp = |name: &str| {
        let (_, value) = fields.iter().find(|(k, _)| k.as_str() == name)?;
        match value.get("stampData") {
            Some(Value::Bytes(b)) => Some(b.to_vec()),
            _ => None,
        }
    };
    Some([
        stamp("cutoutScience")?,
        stamp("cutoutTemplate")?,
        stamp("cutoutDifference")?,
    ])
}

/// Nanoseconds this thread has run on a CPU (Linux schedstat): steadier than wall time on a
/// machine shared with other jobs.
fn cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn time(label: &str, n: usize, rounds: usize, mut f: impl FnMut()) {
    let (mut wall, mut cpu) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..rounds {
        let (t, c) = (Instant::now(), cpu_ns());
        f();
        wall = wall.min(t.elapsed().as_secs_f64());
        if let (Some(c0), Some(c1)) = (c, cpu_ns()) {
            cpu = cpu.min((c1 - c0) as f64 * 1e-9);
        }
    }
    let per = |s: f64| s * 1e6 / n as f64;
    println!(
        "{label:<22} {:7.1} us/alert wall, {:7.1} CPU (best of {rounds})",
        per(wall),
        per(cpu)
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("usage: stages DIR [ROUNDS]");
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(5);
    let mut packets = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        packets.push(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let mut plans = Plans::default();
    for data in &packets {
        if let Ok(c) = parse_container(data) {
            plans.add_json(
                c.schema_json,
                rbc1000_native::compile_plan(c.schema_json, ZTF_KEEP, 1),
            );
        }
    }
    let n = packets.len();
    let mut ws = Workspace::default();
    let stamps: Vec<[Vec<u8>; 3]> = packets
        .iter()
        .filter_map(|p| stamps_of(p, &plans, &mut ws))
        .collect();
    time("walk only", n, rounds, || {
        for p in &packets {
            decode_packet(p, &plans, &mut ws, None);
        }
    });
    let mut inf = Inflater::default();
    let mut bufs: [Vec<u8>; 3] = Default::default();
    time("gunzip x3", n, rounds, || {
        for s in &stamps {
            for (stamp, buf) in s.iter().zip(bufs.iter_mut()) {
                let _ = inf.gunzip_into(stamp, 1 << 26, buf);
            }
        }
    });
    time("read_stamp x3", n, rounds, || {
        for s in &stamps {
            for (stamp, buf) in s.iter().zip(bufs.iter_mut()) {
                let _ = read_stamp(stamp, &mut inf, buf);
            }
        }
    });
    let mut out = vec![0f32; TRIPLET];
    let mut scratch = Scratch::default();
    time("read_stamp + triplet", n, rounds, || {
        for s in &stamps {
            let [b0, b1, b2] = &mut bufs;
            let located = [
                read_stamp(&s[0], &mut inf, b0),
                read_stamp(&s[1], &mut inf, b1),
                read_stamp(&s[2], &mut inf, b2),
            ];
            if let [Ok(a), Ok(b), Ok(c)] = &located {
                let _ = make_triplet([a, b, c], Version::Pp1, &mut out, &mut scratch);
            }
        }
    });
    let fits: Vec<Vec<Vec<u8>>> = stamps
        .iter()
        .map(|s| {
            s.iter()
                .map(|st| inf.gunzip(st, 1 << 26).unwrap())
                .collect()
        })
        .collect();
    let mut empty: [Vec<u8>; 3] = Default::default();
    time("triplet (inflated)", n, rounds, || {
        for f in &fits {
            let [b0, b1, b2] = &mut empty;
            let located = [
                read_stamp(&f[0], &mut inf, b0),
                read_stamp(&f[1], &mut inf, b1),
                read_stamp(&f[2], &mut inf, b2),
            ];
            if let [Ok(a), Ok(b), Ok(c)] = &located {
                let _ = make_triplet([a, b, c], Version::Pp1, &mut out, &mut scratch);
            }
        }
    });
    time("whole packet", n, rounds, || {
        ws.rows.clear();
        for p in &packets {
            decode_packet(p, &plans, &mut ws, Some(Version::Pp1));
        }
    });
}
