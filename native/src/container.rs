//! Avro object container files and Confluent frames, as `rbc1000.alerts.container` reads them.

use crate::inflate::{inflate_raw, unsnappy, PAST_CAP};
use crate::limits::{exceeded, Limits};
use crate::Fail;

pub const OCF_MAGIC: &[u8] = b"Obj\x01";
const SYNC: usize = 16;

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
    /// Every block, in order; a corrupt block costs only itself (reading resumes at the next
    /// sync). Blocks past `limits.max_message_bytes` are not read.
    pub fn blocks(&self, limits: &Limits) -> Vec<Block<'a>> {
        let (data, mut pos, mut out) = (self.data, self.body_start, Vec::new());
        let mut total = 0usize;
        while pos < data.len() {
            let mut last = pos;
            let index = out.len();
            match self.block_at(&mut last) {
                Ok((count, start, end)) => {
                    match self.checked_block(count, &data[start..end], index, limits) {
                        Ok(bytes) => {
                            total += bytes.len();
                            if total > limits.max_message_bytes {
                                let what = format!("{total} bytes by block {index}");
                                let cap = limits.max_message_bytes as u64;
                                out.push(Block::Bad(exceeded("max_message_bytes", cap, &what)));
                                return out;
                            }
                            out.push(Block::Ok(count, bytes));
                            pos = end + SYNC;
                        }
                        Err(fail) => {
                            out.push(Block::Bad(fail));
                            match find(data, self.sync, start) {
                                Some(found) => pos = found + SYNC,
                                None => return out,
                            }
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

    /// The block's bytes, decompressed, once its record count is within the caps.
    fn checked_block(
        &self,
        count: i128,
        raw: &'a [u8],
        index: usize,
        limits: &Limits,
    ) -> Result<std::borrow::Cow<'a, [u8]>, Fail> {
        let cap = limits.max_records_per_block;
        if count > i128::from(cap) {
            let what = format!("block {index} claims {count} records");
            return Err(exceeded("max_records_per_block", cap, &what));
        }
        let bytes = self.decompress(raw, limits)?;
        if count > bytes.len().max(1) as i128 {
            let what = format!(
                "block {index} claims {count} records in {} bytes",
                bytes.len()
            );
            return Err(exceeded("max_records_per_block", cap, &what));
        }
        Ok(bytes)
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

    fn decompress(
        &self,
        raw: &'a [u8],
        limits: &Limits,
    ) -> Result<std::borrow::Cow<'a, [u8]>, Fail> {
        let cap = limits.max_block_bytes;
        let bad = |detail: String| {
            if detail.starts_with(PAST_CAP) {
                exceeded(
                    "max_block_bytes",
                    cap as u64,
                    "block decompresses past the cap",
                )
            } else {
                Fail::new("bad_block", &detail)
            }
        };
        Ok(match self.codec {
            Codec::Null if raw.len() > cap => {
                let what = format!("block of {} bytes", raw.len());
                return Err(exceeded("max_block_bytes", cap as u64, &what));
            }
            Codec::Null => std::borrow::Cow::Borrowed(raw),
            Codec::Deflate => std::borrow::Cow::Owned(inflate_raw(raw, cap).map_err(bad)?),
            Codec::Snappy => std::borrow::Cow::Owned(unsnappy(raw, cap).map_err(bad)?),
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
