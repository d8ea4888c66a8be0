//! The first 2-D image of a (possibly gzipped) FITS stamp, as `rbc1000.alerts.fits.read_stamp` reads it.
//!
//! Reading locates the image without converting it: a `Stamp` borrows the (inflated) bytes,
//! and `Stamp::centre_into` converts only the pixels that land in the model's 63 x 63 plane,
//! with numpy's float32 rounding, BLANK as NaN, and BSCALE / BZERO applied in float32.

use crate::fits_cards::{axis_key, bad, get, int_card, layout_cards, py_float, py_int, Cards};
use crate::inflate::{Inflater, PAST_CAP};
use crate::limits::{exceeded, Limits};
use crate::Fail;

const BLOCK: usize = 2880;
const CARD: usize = 80;

/// The big-endian pixel type of an image (FITS BITPIX).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bitpix {
    U8,
    I16,
    I32,
    I64,
    F32,
    F64,
}

impl Bitpix {
    fn of(bitpix: i128) -> Option<Bitpix> {
        Some(match bitpix {
            8 => Bitpix::U8,
            16 => Bitpix::I16,
            32 => Bitpix::I32,
            64 => Bitpix::I64,
            -32 => Bitpix::F32,
            -64 => Bitpix::F64,
            _ => return None,
        })
    }

    pub fn bytes(self) -> usize {
        match self {
            Bitpix::U8 => 1,
            Bitpix::I16 => 2,
            Bitpix::I32 | Bitpix::F32 => 4,
            Bitpix::I64 | Bitpix::F64 => 8,
        }
    }
}

/// A located 2-D image: `h` rows of `w` big-endian pixels in `data`.
pub struct Stamp<'a> {
    pub h: usize,
    pub w: usize,
    pub bitpix: Bitpix,
    data: &'a [u8],
    blank: Option<i64>,
    /// (BSCALE, BZERO) as float32, when either differs from (1, 0).
    scaling: Option<(f32, f32)>,
}

/// Locate the first 2-D image of `data`, inflating a gzipped stamp into `buf`, under the
/// default caps.
pub fn read_stamp<'a>(
    data: &'a [u8],
    inflater: &mut Inflater,
    buf: &'a mut Vec<u8>,
) -> Result<Stamp<'a>, Fail> {
    read_stamp_limited(data, inflater, buf, &Limits::default())
}

/// `read_stamp` under `limits`: the inflated size and every HDU's pixel count are capped.
pub fn read_stamp_limited<'a>(
    data: &'a [u8],
    inflater: &mut Inflater,
    buf: &'a mut Vec<u8>,
    limits: &Limits,
) -> Result<Stamp<'a>, Fail> {
    let raw: &[u8] = if data.starts_with(b"\x1f\x8b") {
        let cap = limits.max_stamp_bytes;
        let n = inflater.gunzip_into(data, cap, buf).map_err(|e| {
            if e.starts_with(PAST_CAP) {
                exceeded("max_stamp_bytes", cap as u64, "stamp inflates past the cap")
            } else {
                bad(&format!("corrupt gzip stream: {e}"))
            }
        })?;
        &buf[..n]
    } else {
        data
    };
    if !raw.starts_with(b"SIMPLE  =") {
        return Err(bad("stamp does not start with a FITS SIMPLE card"));
    }
    let mut offset = 0usize;
    let mut cards = Vec::with_capacity(16);
    while offset < raw.len() {
        let data_start = read_header(raw, offset, &mut cards)?;
        let layout = Layout::from_cards(&cards, limits)?;
        if layout.shape.len() == 2 {
            return image(raw, data_start, &layout, &cards);
        }
        let block = BLOCK as i128;
        let padded = (layout.nbytes + block - 1) / block * block;
        offset = (data_start as i128 + padded).min(usize::MAX as i128 / 2) as usize;
    }
    Err(bad("no 2-D image HDU in stamp"))
}

/// Fill `cards` with the header at `offset`; return where its data starts (after the END block).
fn read_header<'a>(raw: &'a [u8], offset: usize, cards: &mut Cards<'a>) -> Result<usize, Fail> {
    let mut pos = offset;
    while pos + BLOCK <= raw.len() {
        let block = &raw[pos..pos + BLOCK];
        pos += BLOCK;
        for card in (0..BLOCK).step_by(CARD) {
            if &block[card..card + 3] == b"END"
                && block[card + 3..card + CARD].iter().all(|&b| b == b' ')
            {
                layout_cards(&raw[offset..pos - BLOCK + card], cards);
                return Ok(pos);
            }
        }
    }
    Err(bad("FITS header has no END card (truncated stamp)"))
}

struct Layout {
    shape: Vec<i128>,
    bitpix: Bitpix,
    nbytes: i128,
}

impl Layout {
    fn from_cards(cards: &Cards, limits: &Limits) -> Result<Layout, Fail> {
        let bitpix = int_card(cards, b"BITPIX")?;
        let naxis = int_card(cards, b"NAXIS")?;
        let kind = Bitpix::of(bitpix).filter(|_| (0..=999).contains(&naxis));
        let Some(kind) = kind else {
            return Err(bad(&format!(
                "unsupported BITPIX {bitpix} or NAXIS {naxis}"
            )));
        };
        let shape = (1..=naxis)
            .rev()
            .map(|i| {
                let (key, len) = axis_key(i);
                int_card(cards, &key[..len])
            })
            .collect::<Result<Vec<_>, _>>()?;
        if shape.iter().any(|&n| n < 0) {
            return Err(bad("negative axis length"));
        }
        let cap = limits.max_stamp_pixels;
        let too_many = || {
            exceeded(
                "max_stamp_pixels",
                cap,
                &format!("FITS HDU of shape {shape:?}"),
            )
        };
        let mut count: i128 = if shape.is_empty() { 0 } else { 1 };
        for &n in &shape {
            // Any product past the cap fails, so stopping there also rules out overflow.
            count = count
                .checked_mul(n)
                .filter(|c| *c <= i128::from(cap))
                .ok_or_else(too_many)?;
        }
        let extra = match get(cards, b"PCOUNT") {
            Some(_) => int_card(cards, b"GCOUNT")?.abs() * int_card(cards, b"PCOUNT")?,
            None => 0,
        };
        Ok(Layout {
            nbytes: count * bitpix.abs() / 8 + extra.max(0),
            shape,
            bitpix: kind,
        })
    }
}

fn image<'a>(
    raw: &'a [u8],
    start: usize,
    layout: &Layout,
    cards: &Cards,
) -> Result<Stamp<'a>, Fail> {
    let (h, w) = (layout.shape[0], layout.shape[1]);
    if h == 0 || w == 0 {
        return Err(bad("empty image"));
    }
    if start as i128 + layout.nbytes > raw.len() as i128 {
        return Err(bad("image data is truncated"));
    }
    let item = layout.bitpix.bytes();
    if layout.nbytes / item as i128 != h * w {
        return Err(bad("image data size does not match its shape"));
    }
    let (h, w) = (h as usize, w as usize);
    let blank = match get(cards, b"BLANK") {
        Some(v) if !matches!(layout.bitpix, Bitpix::F32 | Bitpix::F64) => {
            let value = py_int(v).ok_or_else(|| bad("BLANK is not an integer"))?;
            // Beyond the pixel type's range the comparison never matches: no BLANK at all.
            i64::try_from(value).ok()
        }
        _ => None,
    };
    let scale = get(cards, b"BSCALE")
        .map_or(Some(1.0), py_float)
        .ok_or_else(|| bad("bad BSCALE"))?;
    let zero = get(cards, b"BZERO")
        .map_or(Some(0.0), py_float)
        .ok_or_else(|| bad("bad BZERO"))?;
    let scaling = (scale != 1.0 || zero != 0.0).then_some((scale as f32, zero as f32));
    Ok(Stamp {
        h,
        w,
        bitpix: layout.bitpix,
        data: &raw[start..start + h * w * item],
        blank,
        scaling,
    })
}

/// (source start, destination start, length) aligning the centres of n and size pixels.
pub fn centred_span(n: usize, size: usize) -> (usize, usize, usize) {
    if n >= size {
        ((n - size) / 2, 0, size)
    } else {
        (0, (size - n) / 2, n)
    }
}

impl Stamp<'_> {
    /// The centred crop (or NaN-padded centre) of the image as float32 `size` x `size` in `out`.
    pub fn centre_into(&self, out: &mut [f32], size: usize) {
        if self.h == size && self.w == size {
            return self.convert(self.data, out); // the common case: the whole image, as is
        }
        out.fill(f32::NAN);
        let (sy, dy, ny) = centred_span(self.h, size);
        let (sx, dx, nx) = centred_span(self.w, size);
        let item = self.bitpix.bytes();
        for r in 0..ny {
            let src = ((sy + r) * self.w + sx) * item;
            let dst = (dy + r) * size + dx;
            self.convert(&self.data[src..src + nx * item], &mut out[dst..dst + nx]);
        }
    }

    /// One row of pixels as float32, as numpy's `astype(float32)` rounds, then BLANK and scaling.
    fn convert(&self, bytes: &[u8], out: &mut [f32]) {
        match self.bitpix {
            Bitpix::F32 => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                    *o = f32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                }
            }
            Bitpix::F64 => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(8)) {
                    *o =
                        f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32;
                }
            }
            Bitpix::U8 => self.integers(bytes, out, |b| i64::from(b[0])),
            Bitpix::I16 => {
                self.integers(bytes, out, |b| i64::from(i16::from_be_bytes([b[0], b[1]])))
            }
            Bitpix::I32 => self.integers(bytes, out, |b| {
                i64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            }),
            Bitpix::I64 => self.integers(bytes, out, |b| {
                i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
            }),
        }
        if let Some((s, z)) = self.scaling {
            out.iter_mut().for_each(|p| *p = *p * s + z);
        }
    }

    fn integers(&self, bytes: &[u8], out: &mut [f32], read: impl Fn(&[u8]) -> i64) {
        let item = self.bitpix.bytes();
        for (o, b) in out.iter_mut().zip(bytes.chunks_exact(item)) {
            let v = read(b);
            *o = if Some(v) == self.blank {
                f32::NAN
            } else {
                v as f32
            };
        }
    }
}
