//! The first 2-D image of a (possibly gzipped) FITS stamp, as `rbc1000.alerts.fits.read_stamp` reads it.

use crate::inflate::Inflater;
use crate::Fail;

const BLOCK: usize = 2880;
const CARD: usize = 80;
pub const MAX_STAMP_BYTES: usize = 64 * 1024 * 1024;
const LAYOUT_KEYS: [&[u8]; 6] = [
    b"BITPIX", b"BSCALE", b"BZERO", b"BLANK", b"PCOUNT", b"GCOUNT",
];

pub struct Image {
    pub h: usize,
    pub w: usize,
    pub px: Vec<f32>,
}

fn bad(detail: &str) -> Fail {
    Fail::new("bad_fits", detail)
}

pub fn read_stamp(data: &[u8], inflater: &mut Inflater) -> Result<Image, Fail> {
    let inflated;
    let raw: &[u8] = if data.starts_with(b"\x1f\x8b") {
        inflated = inflater
            .gunzip(data, MAX_STAMP_BYTES)
            .map_err(|e| bad(&format!("corrupt gzip stream: {e}")))?;
        &inflated
    } else {
        data
    };
    if !raw.starts_with(b"SIMPLE  =") {
        return Err(bad("stamp does not start with a FITS SIMPLE card"));
    }
    let mut offset = 0usize;
    while offset < raw.len() {
        let (cards, data_start) = read_header(raw, offset)?;
        let layout = Layout::from_cards(&cards)?;
        if layout.shape.len() == 2 {
            return image(raw, data_start, &layout, &cards);
        }
        let block = BLOCK as i128;
        let padded = (layout.nbytes + block - 1) / block * block;
        offset = (data_start as i128 + padded).min(usize::MAX as i128 / 2) as usize;
    }
    Err(bad("no 2-D image HDU in stamp"))
}

type Cards = Vec<(Vec<u8>, Vec<u8>)>;

fn get<'c>(cards: &'c Cards, key: &[u8]) -> Option<&'c [u8]> {
    cards
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_slice())
}

fn read_header(raw: &[u8], offset: usize) -> Result<(Cards, usize), Fail> {
    let mut pos = offset;
    while pos + BLOCK <= raw.len() {
        let block = &raw[pos..pos + BLOCK];
        pos += BLOCK;
        for card in (0..BLOCK).step_by(CARD) {
            if &block[card..card + 3] == b"END"
                && block[card + 3..card + CARD].iter().all(|&b| b == b' ')
            {
                return Ok((layout_cards(&raw[offset..pos - BLOCK + card]), pos));
            }
        }
    }
    Err(bad("FITS header has no END card (truncated stamp)"))
}

/// `(KEY) *= +([^ /]+)` at the start of each card; a later card wins.
fn layout_cards(header: &[u8]) -> Cards {
    let mut out = Vec::new();
    for start in (0..header.len()).step_by(CARD) {
        let text = &header[start..];
        let Some(key_len) = match_key(text) else {
            continue;
        };
        let mut i = key_len;
        while text.get(i) == Some(&b' ') {
            i += 1;
        }
        if text.get(i) != Some(&b'=') || text.get(i + 1) != Some(&b' ') {
            continue;
        }
        i += 1;
        while text.get(i) == Some(&b' ') {
            i += 1;
        }
        let value_len = text[i..]
            .iter()
            .take_while(|&&b| b != b' ' && b != b'/')
            .count();
        if value_len > 0 {
            out.push((text[..key_len].to_vec(), text[i..i + value_len].to_vec()));
        }
    }
    out
}

fn match_key(text: &[u8]) -> Option<usize> {
    if text.starts_with(b"BITPIX") {
        return Some(6);
    }
    if text.starts_with(b"NAXIS") {
        return Some(
            5 + text[5..]
                .iter()
                .take(3)
                .take_while(|b| b.is_ascii_digit())
                .count(),
        );
    }
    LAYOUT_KEYS[1..]
        .iter()
        .find(|k| text.starts_with(k))
        .map(|k| k.len())
}

/// Python's `str.strip()` of an ASCII card value (non-ASCII bytes never parse).
fn py_strip(value: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(value).ok().filter(|t| t.is_ascii())?;
    Some(text.trim_matches(|c: char| {
        c.is_ascii_whitespace() || c == '\x0b' || ('\x1c'..='\x1f').contains(&c)
    }))
}

/// Python's `int(value)` for decimal text: sign, digits, single underscores between digits.
fn py_int(value: &[u8]) -> Option<i128> {
    let text = py_strip(value)?;
    let (neg, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let mut n: i128 = 0;
    for c in digits.chars().filter(|&c| c != '_') {
        n = n
            .checked_mul(10)?
            .checked_add(i128::from(c.to_digit(10)?))?;
        if n > i128::from(i64::MAX) {
            return None;
        }
    }
    Some(if neg { -n } else { n })
}

fn py_float(value: &[u8]) -> Option<f64> {
    py_strip(value)?.replace('_', "").parse().ok()
}

fn int_card(cards: &Cards, key: &[u8]) -> Result<i128, Fail> {
    get(cards, key).and_then(py_int).ok_or_else(|| {
        bad(&format!(
            "FITS header lacks a valid {}",
            String::from_utf8_lossy(key)
        ))
    })
}

struct Layout {
    shape: Vec<i128>,
    bitpix: i128,
    nbytes: i128,
}

impl Layout {
    fn from_cards(cards: &Cards) -> Result<Layout, Fail> {
        let bitpix = int_card(cards, b"BITPIX")?;
        let naxis = int_card(cards, b"NAXIS")?;
        if ![8, 16, 32, 64, -32, -64].contains(&bitpix) || !(0..=999).contains(&naxis) {
            return Err(bad(&format!(
                "unsupported BITPIX {bitpix} or NAXIS {naxis}"
            )));
        }
        let shape = (1..=naxis)
            .rev()
            .map(|i| int_card(cards, format!("NAXIS{i}").as_bytes()))
            .collect::<Result<Vec<_>, _>>()?;
        if shape.iter().any(|&n| n < 0) {
            return Err(bad("negative axis length"));
        }
        let mut count: i128 = if shape.is_empty() { 0 } else { 1 };
        for &n in &shape {
            count = count
                .checked_mul(n)
                .filter(|c| *c < 1 << 62)
                .ok_or_else(|| bad("image too large"))?;
        }
        let extra = match get(cards, b"PCOUNT") {
            Some(_) => int_card(cards, b"GCOUNT")?.abs() * int_card(cards, b"PCOUNT")?,
            None => 0,
        };
        Ok(Layout {
            nbytes: count * bitpix.abs() / 8 + extra.max(0),
            shape,
            bitpix,
        })
    }
}

fn image(raw: &[u8], start: usize, layout: &Layout, cards: &Cards) -> Result<Image, Fail> {
    let (h, w) = (layout.shape[0], layout.shape[1]);
    if h == 0 || w == 0 {
        return Err(bad("empty image"));
    }
    if start as i128 + layout.nbytes > raw.len() as i128 || layout.nbytes > MAX_STAMP_BYTES as i128
    {
        return Err(bad("image data is truncated"));
    }
    let item = (layout.bitpix.abs() / 8) as usize;
    if layout.nbytes / item as i128 != h * w {
        return Err(bad("image data size does not match its shape"));
    }
    let (h, w) = (h as usize, w as usize);
    let bytes = &raw[start..start + h * w * item];
    let blank = match get(cards, b"BLANK") {
        Some(v) if layout.bitpix > 0 => {
            Some(py_int(v).ok_or_else(|| bad("BLANK is not an integer"))?)
        }
        _ => None,
    };
    let mut px = Vec::with_capacity(h * w);
    for chunk in bytes.chunks_exact(item) {
        let (value, int) = pixel(chunk, layout.bitpix);
        px.push(match (blank, int) {
            (Some(b), Some(i)) if b == i => f32::NAN,
            _ => value,
        });
    }
    let scale = get(cards, b"BSCALE")
        .map_or(Some(1.0), py_float)
        .ok_or_else(|| bad("bad BSCALE"))?;
    let zero = get(cards, b"BZERO")
        .map_or(Some(0.0), py_float)
        .ok_or_else(|| bad("bad BZERO"))?;
    if scale != 1.0 || zero != 0.0 {
        let (s, z) = (scale as f32, zero as f32);
        px.iter_mut().for_each(|p| *p = *p * s + z);
    }
    Ok(Image { h, w, px })
}

/// A big-endian pixel as float32 (numpy's astype rounding) and, for integer types, its value.
fn pixel(b: &[u8], bitpix: i128) -> (f32, Option<i128>) {
    match bitpix {
        8 => (f32::from(b[0]), Some(i128::from(b[0]))),
        16 => {
            let v = i16::from_be_bytes([b[0], b[1]]);
            (f32::from(v), Some(i128::from(v)))
        }
        32 => {
            let v = i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            (v as f32, Some(i128::from(v)))
        }
        64 => {
            let v = i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            (v as f32, Some(i128::from(v)))
        }
        -32 => (f32::from_be_bytes([b[0], b[1], b[2], b[3]]), None),
        _ => (
            f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32,
            None,
        ),
    }
}
