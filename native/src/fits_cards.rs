//! The value cards of a FITS header that locate and scale its data, read as
//! `rbc1000.alerts.fits` reads them (a regular expression per card, Python's `int` and
//! `float` on the value).

use crate::Fail;

const CARD: usize = 80;
const LAYOUT_KEYS: [&[u8]; 5] = [b"BSCALE", b"BZERO", b"BLANK", b"PCOUNT", b"GCOUNT"];

pub fn bad(detail: &str) -> Fail {
    Fail::new("bad_fits", detail)
}

/// (key, value) of the layout cards of one header, in card order.
pub type Cards<'a> = Vec<(&'a [u8], &'a [u8])>;

pub fn get<'a>(cards: &Cards<'a>, key: &[u8]) -> Option<&'a [u8]> {
    cards.iter().rev().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// `(KEY) *= +([^ /]+)` at the start of each card; a later card wins.
pub fn layout_cards<'a>(header: &'a [u8], out: &mut Cards<'a>) {
    out.clear();
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
            out.push((&text[..key_len], &text[i..i + value_len]));
        }
    }
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
    LAYOUT_KEYS
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
pub fn py_int(value: &[u8]) -> Option<i128> {
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

pub fn py_float(value: &[u8]) -> Option<f64> {
    py_strip(value)?.replace('_', "").parse().ok()
}

pub fn int_card(cards: &Cards, key: &[u8]) -> Result<i128, Fail> {
    get(cards, key).and_then(py_int).ok_or_else(|| {
        bad(&format!(
            "FITS header lacks a valid {}",
            String::from_utf8_lossy(key)
        ))
    })
}

/// `NAXIS{i}` (1 <= i <= 999) in the first `len` bytes, without allocating.
pub fn axis_key(i: i128) -> ([u8; 8], usize) {
    let mut key = *b"NAXIS\0\0\0";
    let digits = [i / 100 % 10, i / 10 % 10, i % 10];
    let skip = if i >= 100 {
        0
    } else if i >= 10 {
        1
    } else {
        2
    };
    for (slot, d) in key[5..].iter_mut().zip(&digits[skip..]) {
        *slot = b'0' + *d as u8;
    }
    (key, 8 - skip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_keys() {
        for (i, want) in [
            (1, "NAXIS1"),
            (9, "NAXIS9"),
            (10, "NAXIS10"),
            (999, "NAXIS999"),
        ] {
            let (key, len) = axis_key(i);
            assert_eq!(&key[..len], want.as_bytes());
        }
    }
}
