//! Decompression with the semantics of the Python path's `decompressobj(...).decompress(data, cap)`.
//!
//! A complete, well-formed gzip stamp goes through libdeflate (as fast as ISA-L or faster).
//! Anything else takes a streaming inflater that behaves as zlib and ISA-L's decompress
//! objects do: a truncated stream yields what was inflated so far without error, bytes after
//! the end of the stream are ignored, and a gzip trailer is checked only when all 8 bytes are
//! there. Output past `cap` is an error.

use libdeflater::Decompressor;
use miniz_oxide::inflate::stream::{inflate, InflateState};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

pub struct Inflater {
    fast: Decompressor,
}

impl Default for Inflater {
    fn default() -> Self {
        Inflater {
            fast: Decompressor::new(),
        }
    }
}

/// How every error of output past the cap begins (callers turn it into `limit_exceeded`).
pub const PAST_CAP: &str = "inflates past";

// Deflate cannot expand data by more than about 1032:1.
const MAX_RATIO: usize = 1032;

impl Inflater {
    /// Inflate one gzip member (`data` starts with 1f 8b); Err(detail) on corrupt data.
    pub fn gunzip(&mut self, data: &[u8], cap: usize) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        let n = self.gunzip_into(data, cap, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    /// `gunzip` into `buf[..n]`, returning n; `buf` is reused and only grows (no zeroing of
    /// what it already holds).
    pub fn gunzip_into(
        &mut self,
        data: &[u8],
        cap: usize,
        buf: &mut Vec<u8>,
    ) -> Result<usize, String> {
        if data.len() >= 18 {
            let n = data.len();
            let isize =
                u32::from_le_bytes([data[n - 4], data[n - 3], data[n - 2], data[n - 1]]) as usize;
            if isize <= cap && isize <= n.saturating_mul(MAX_RATIO) {
                if buf.len() < isize {
                    buf.resize(isize, 0);
                }
                if let Ok(written) = self.fast.gzip_decompress(data, &mut buf[..isize]) {
                    if written == isize {
                        return Ok(isize);
                    }
                }
            }
        }
        *buf = gunzip_streaming(data, cap)?;
        Ok(buf.len())
    }
}

/// Raw deflate (the Avro `deflate` codec), streaming semantics, at most `cap` bytes out.
pub fn inflate_raw(data: &[u8], cap: usize) -> Result<Vec<u8>, String> {
    inflate_stream(data, cap).map(|(out, _, _)| out)
}

/// Inflate raw deflate; returns (output, input consumed, whether the stream ended).
fn inflate_stream(data: &[u8], cap: usize) -> Result<(Vec<u8>, usize, bool), String> {
    let mut state = InflateState::new_boxed(DataFormat::Raw);
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut pos = 0;
    loop {
        let res = inflate(&mut state, &data[pos..], &mut chunk, MZFlush::None);
        pos += res.bytes_consumed;
        if out.len() + res.bytes_written > cap {
            return Err(format!("{PAST_CAP} {cap} bytes"));
        }
        out.extend_from_slice(&chunk[..res.bytes_written]);
        match res.status {
            Ok(MZStatus::StreamEnd) => return Ok((out, pos, true)),
            Ok(_) if res.bytes_written > 0 || res.bytes_consumed > 0 => continue,
            Ok(_) | Err(MZError::Buf) => return Ok((out, pos, false)),
            Err(e) => return Err(format!("invalid deflate data ({e:?})")),
        }
    }
}

/// Length of a gzip header, None when the data ends inside it, Err when it is invalid.
fn gzip_header_len(data: &[u8]) -> Result<Option<usize>, String> {
    if data.len() < 10 {
        return Ok(None);
    }
    if data[2] != 8 {
        return Err("unknown compression method".into());
    }
    let flags = data[3];
    if flags & 0xE0 != 0 {
        return Err("unknown header flags set".into());
    }
    let mut pos = 10;
    if flags & 4 != 0 {
        let Some(x) = data.get(pos..pos + 2) else {
            return Ok(None);
        };
        pos += 2 + usize::from(u16::from_le_bytes([x[0], x[1]]));
    }
    for flag in [8u8, 16] {
        if flags & flag != 0 {
            let Some(nul) = data
                .get(pos..)
                .and_then(|rest| rest.iter().position(|&b| b == 0))
            else {
                return Ok(None);
            };
            pos += nul + 1;
        }
    }
    if flags & 2 != 0 {
        let Some(x) = data.get(pos..pos + 2) else {
            return Ok(None);
        };
        if u32::from(u16::from_le_bytes([x[0], x[1]])) != crc32fast::hash(&data[..pos]) & 0xFFFF {
            return Err("header crc mismatch".into());
        }
        pos += 2;
    }
    Ok(if pos <= data.len() { Some(pos) } else { None })
}

fn gunzip_streaming(data: &[u8], cap: usize) -> Result<Vec<u8>, String> {
    let Some(start) = gzip_header_len(data)? else {
        return Ok(Vec::new());
    };
    let (out, used, ended) = inflate_stream(&data[start..], cap)?;
    let trailer = &data[start + used..];
    if ended && trailer.len() >= 8 {
        let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
        if crc != crc32fast::hash(&out) || size != out.len() as u32 {
            return Err("incorrect checksum".into());
        }
    }
    Ok(out)
}

/// Avro's snappy codec: raw snappy plus the big-endian CRC-32 of the uncompressed data.
pub fn unsnappy(raw: &[u8], cap: usize) -> Result<Vec<u8>, String> {
    if raw.len() < 4 {
        return Err("snappy block shorter than its checksum".into());
    }
    let (body, crc) = raw.split_at(raw.len() - 4);
    let claimed =
        snap::raw::decompress_len(body).map_err(|e| format!("corrupt snappy block: {e}"))?;
    if claimed > cap {
        return Err(format!(
            "{PAST_CAP} {cap} bytes: snappy block claims {claimed}"
        ));
    }
    let out = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("corrupt snappy block: {e}"))?;
    if crc32fast::hash(&out) != u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return Err("snappy block fails its CRC-32 check".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gz(payload: &[u8]) -> Vec<u8> {
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
        let mut out = vec![0u8; c.gzip_compress_bound(payload.len())];
        let n = c.gzip_compress(payload, &mut out).unwrap();
        out.truncate(n);
        out
    }

    #[test]
    fn truncated_streams_yield_partial_output_like_zlib() {
        let payload: Vec<u8> = (0..20480u32).map(|i| (i % 251) as u8).collect();
        let data = gz(&payload);
        let mut inf = Inflater::default();
        assert_eq!(inf.gunzip(&data, 1 << 20).unwrap(), payload);
        for cut in 1..=8 {
            assert_eq!(
                inf.gunzip(&data[..data.len() - cut], 1 << 20).unwrap(),
                payload
            );
        }
        let mut bad = data.clone();
        let n = bad.len();
        bad[n - 6] ^= 1;
        assert!(inf.gunzip(&bad, 1 << 20).is_err());
        let mut trailing = data.clone();
        trailing.extend_from_slice(b"xyz");
        assert_eq!(inf.gunzip(&trailing, 1 << 20).unwrap(), payload);
        assert!(inf.gunzip(&data, 100).is_err());
    }
}
