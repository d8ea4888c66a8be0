//! Avro binary reading with the semantics of fastavro's reader, which the Python path uses.
//!
//! The Python reference decodes with `fastavro.schemaless_reader` over a `BytesIO`, so a
//! malformed record must fail (or not) exactly where fastavro's does:
//! - longs have no length limit and wrap at 64 bits (the shift count wraps mod 64);
//! - a *read* value checks its length, but a *skipped* bytes, string, fixed, float or double
//!   is a `BytesIO.read(n)` that silently stops at the end (a negative n reads everything);
//! - a skipped array or map block with a negative count seeks by its byte size, which may
//!   land past the end (later reads then fail) or clamp to the start;
//! - union and enum indexes follow Python list indexing, so -1 is the last branch.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct AvroError(pub String);

impl fmt::Display for AvroError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub type AvroResult<T> = Result<T, AvroError>;

pub fn eof(what: &str) -> AvroError {
    AvroError(format!("EOFError: data ends inside {what}"))
}

/// A read position over one decompressed block or Confluent body; may point past the end.
pub struct Cursor<'a> {
    pub data: &'a [u8],
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Cursor { data, pos: 0 }
    }

    pub fn read_long(&mut self) -> AvroResult<i64> {
        self.long().ok_or_else(|| eof("a long"))
    }

    /// `read_long`, None when the data ends inside the long.
    #[inline]
    pub fn long(&mut self) -> Option<i64> {
        let mut acc: u64 = 0;
        let mut shift: u32 = 0;
        loop {
            let byte = *self.data.get(self.pos)?;
            self.pos += 1;
            acc |= u64::from(byte & 0x7F).wrapping_shl(shift);
            if byte & 0x80 == 0 {
                return Some(((acc >> 1) as i64) ^ -((acc & 1) as i64));
            }
            shift = shift.wrapping_add(7);
        }
    }

    /// `BytesIO.read(n)` whose result is discarded: stops at the end, n < 0 reads all.
    #[inline]
    pub fn skip_unchecked(&mut self, n: i64) {
        if self.pos >= self.data.len() {
            return;
        }
        let left = (self.data.len() - self.pos) as u64;
        self.pos += if n < 0 { left } else { (n as u64).min(left) } as usize;
    }

    /// `BytesIO.seek(n, SEEK_CUR)`: clamps at 0, may go past the end.
    pub fn seek_relative(&mut self, n: i64) {
        let target = self.pos as i128 + i128::from(n);
        self.pos = target.clamp(0, (usize::MAX / 2) as i128) as usize;
    }

    pub fn read_exact(&mut self, n: i64, what: &str) -> AvroResult<&'a [u8]> {
        let start = self.pos;
        if n < 0 || start > self.data.len() || ((self.data.len() - start) as u64) < (n as u64) {
            return Err(AvroError(format!(
                "EOFError: expected {n} bytes for {what}"
            )));
        }
        self.pos += n as usize;
        Ok(&self.data[start..self.pos])
    }

    pub fn read_sized(&mut self, what: &str) -> AvroResult<&'a [u8]> {
        let n = self.read_long()?;
        self.read_exact(n, what)
    }

    pub fn read_string(&mut self) -> AvroResult<&'a str> {
        let raw = self.read_sized("a string")?;
        std::str::from_utf8(raw).map_err(|e| AvroError(format!("UnicodeDecodeError: {e}")))
    }

    pub fn read_bool(&mut self) -> AvroResult<bool> {
        Ok(self.read_exact(1, "a boolean")?[0] != 0)
    }

    pub fn read_f32(&mut self) -> AvroResult<f32> {
        let raw = self.read_exact(4, "a float")?;
        Ok(f32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]))
    }

    pub fn read_f64(&mut self) -> AvroResult<f64> {
        let raw = self.read_exact(8, "a double")?;
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(raw);
        Ok(f64::from_le_bytes(bytes))
    }
}

/// Python list indexing: `items[index]` for a list of `len` items, negative from the end.
pub fn py_index(index: i64, len: usize, what: &str) -> AvroResult<usize> {
    index_in(index, len)
        .ok_or_else(|| AvroError(format!("IndexError: {what} index {index} out of range")))
}

/// `py_index` without its error message.
#[inline]
pub fn index_in(index: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let resolved = if index < 0 {
        index.checked_add(len)?
    } else {
        index
    };
    (0..len).contains(&resolved).then_some(resolved as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_wraps_like_fastavro() {
        let mut data = vec![0x81u8; 11];
        data.push(0x01);
        assert_eq!(
            Cursor::new(&data).read_long().unwrap(),
            -4647998506761465953
        );
        let mut ten = vec![0xFFu8; 9];
        ten.push(0x7F);
        assert_eq!(Cursor::new(&ten).read_long().unwrap(), i64::MIN);
    }

    #[test]
    fn skips_stop_at_the_end_and_seeks_clamp() {
        let data = [1u8, 2, 3];
        let mut c = Cursor::new(&data);
        c.skip_unchecked(10);
        assert_eq!(c.pos, 3);
        c.seek_relative(-10);
        assert_eq!(c.pos, 0);
        c.skip_unchecked(-1);
        assert_eq!(c.pos, 3);
        assert!(c.read_exact(1, "x").is_err());
    }

    #[test]
    fn python_indexing() {
        assert_eq!(py_index(-1, 3, "u").unwrap(), 2);
        assert!(py_index(-4, 3, "u").is_err());
        assert!(py_index(3, 3, "u").is_err());
    }
}
