//! Avro object container files and Confluent frames, as `rbc1000.alerts.container` reads them.

use crate::inflate::{inflate_raw, unsnappy};
use crate::Fail;

pub const OCF_MAGIC: &[u8] = b"Obj\x01";
const SYNC: usize = 16;
pub const MAX_BLOCK_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Codec {
    Null,
    Deflate,
    Snappy,
    /// zstandard, bzip2, xz: valid, decoded by the Python path.
    Other,
}

pub struct Container<'a> {
    pub schema_json: &'a [u8],
    pub codec: Codec,
    data: &'a [u8],
    body_start: usize,
    sync: &'a [u8],
}

/// One data block: its record count and bytes, or why it cannot be read.
pub enum Block<'a> {
    Ok(i128, std::borrow::Cow<'a, [u8]>),
    Bad(Fail),
}

/// The container's Avro long: Python integers, at most 10 bytes.
fn read_varint(buf: &[u8], pos: usize) -> Result<(i128, usize), Fail> {
    let (mut acc, mut shift, mut pos) = (0i128, 0u32, pos);
    loop {
        let Some(&byte) = buf.get(pos) else {
            return Err(Fail::new(
                "truncated",
                "data ends inside a variable-length integer",
            ));
        };
        pos += 1;
        acc |= i128::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            return Ok(((acc >> 1) ^ -(acc & 1), pos));
        }
        shift += 7;
        if shift > 63 {
            return Err(Fail::new(
                "bad_container",
                "variable-length integer longer than 10 bytes",
            ));
        }
    }
}

fn read_bytes(data: &[u8], pos: usize) -> Result<(&[u8], usize), Fail> {
    let (size, pos) = read_varint(data, pos)?;
    if size < 0 || pos as i128 + size > data.len() as i128 {
        return Err(Fail::new(
            "truncated",
            "container header ends inside a string",
        ));
    }
    let end = pos + size as usize;
    Ok((&data[pos..end], end))
}

pub fn parse_container(data: &[u8]) -> Result<Container<'_>, Fail> {
    if !data.starts_with(OCF_MAGIC) {
        return Err(Fail::new(
            "bad_container",
            "missing Avro container magic 'Obj\\x01'",
        ));
    }
    let (mut schema, mut codec): (Option<&[u8]>, Option<&[u8]>) = (None, None);
    let mut pos = OCF_MAGIC.len();
    loop {
        let (mut count, next) = read_varint(data, pos)?;
        pos = next;
        if count == 0 {
            break;
        }
        if count < 0 {
            count = -count;
            pos = read_varint(data, pos)?.1;
        }
        for _ in 0..count {
            let (key, next) = read_bytes(data, pos)?;
            let (value, next) = read_bytes(data, next)?;
            pos = next;
            match key {
                b"avro.schema" => schema = Some(value),
                b"avro.codec" => codec = Some(value),
                _ => {}
            }
        }
    }
    if pos + SYNC > data.len() {
        return Err(Fail::new(
            "truncated",
            "container ends before its sync marker",
        ));
    }
    let schema_json = schema.filter(|s| !s.is_empty());
    let schema_json = schema_json
        .ok_or_else(|| Fail::new("bad_container", "container header has no avro.schema"))?;
    let codec = match codec.unwrap_or(b"null") {
        b"null" => Codec::Null,
        b"deflate" => Codec::Deflate,
        b"snappy" => Codec::Snappy,
        b"zstandard" | b"bzip2" | b"xz" => Codec::Other,
        other => {
            let name = String::from_utf8_lossy(other);
            return Err(Fail::new("unsupported_codec", &format!("codec {name:?}")));
        }
    };
    Ok(Container {
        schema_json,
        codec,
        data,
        body_start: pos + SYNC,
        sync: &data[pos..pos + SYNC],
    })
}

impl<'a> Container<'a> {
    /// Every block, in order; a corrupt block costs only itself (reading resumes at the next sync).
    pub fn blocks(&self) -> Vec<Block<'a>> {
        let (data, mut pos, mut out) = (self.data, self.body_start, Vec::new());
        while pos < data.len() {
            let mut last = pos;
            match self.block_at(&mut last) {
                Ok((count, start, end)) => {
                    out.push(match self.decompress(&data[start..end]) {
                        Ok(bytes) => Block::Ok(count, bytes),
                        Err(fail) => Block::Bad(fail),
                    });
                    pos = end + SYNC;
                    if let Some(Block::Bad(_)) = out.last() {
                        pos = start;
                        match find(data, self.sync, pos) {
                            Some(found) => pos = found + SYNC,
                            None => return out,
                        }
                    }
                }
                Err(fail) => {
                    out.push(Block::Bad(fail));
                    match find(data, self.sync, last) {
                        Some(found) => pos = found + SYNC,
                        None => return out,
                    }
                }
            }
        }
        out
    }

    /// Read a block header at `*pos` (left after the last varint read, as Python's `pos` is).
    fn block_at(&self, pos: &mut usize) -> Result<(i128, usize, usize), Fail> {
        let (count, next) = read_varint(self.data, *pos)?;
        *pos = next;
        let (size, next) = read_varint(self.data, *pos)?;
        *pos = next;
        let end = next as i128 + size;
        if count < 0 || size < 0 || end + SYNC as i128 > self.data.len() as i128 {
            return Err(Fail::new(
                "truncated",
                "block runs past the end of the data",
            ));
        }
        let end = end as usize;
        if &self.data[end..end + SYNC] != self.sync {
            return Err(Fail::new(
                "bad_container",
                "block is not followed by the sync marker",
            ));
        }
        Ok((count, next, end))
    }

    fn decompress(&self, raw: &'a [u8]) -> Result<std::borrow::Cow<'a, [u8]>, Fail> {
        let bad = |detail: String| Fail::new("bad_block", &detail);
        Ok(match self.codec {
            Codec::Null => std::borrow::Cow::Borrowed(raw),
            Codec::Deflate => {
                std::borrow::Cow::Owned(inflate_raw(raw, MAX_BLOCK_BYTES).map_err(bad)?)
            }
            Codec::Snappy => std::borrow::Cow::Owned(unsnappy(raw, MAX_BLOCK_BYTES).map_err(bad)?),
            Codec::Other => return Err(Fail::new("python", "codec decoded by the Python path")),
        })
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let hay = haystack.get(from..)?;
    hay.windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// Split a Confluent frame into (schema id, body); the caller has checked the magic byte.
pub fn split_confluent(data: &[u8]) -> Result<(u32, &[u8]), Fail> {
    if data.len() < 5 || data[0] != 0 {
        return Err(Fail::new(
            "bad_framing",
            "not a Confluent-framed message (magic byte 0 + 4-byte id)",
        ));
    }
    Ok((
        u32::from_be_bytes([data[1], data[2], data[3], data[4]]),
        &data[5..],
    ))
}
