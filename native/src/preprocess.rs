//! `rbc-pp-1` and `rbc-pp-2`, as `rbc1000.model.preprocessing.make_triplet` computes them.
//!
//! rbc-pp-2 is rbc-pp-1 with one step after the centring: pixels with |value| >= 1e30
//! (`SENTINEL_ABS`, mask markers such as the float32 minimum) become NaN.
//!
//! The float32 arithmetic follows numpy's: medians of an even count are `(a + b) / 2` in
//! float32, the MAD factor multiplies in float32 when all three stamps are finite and in
//! float64 otherwise (Python floats), and standard deviations use numpy's pairwise float32
//! summation, so that flat stamps get the same fallback scale.
//!
//! The per-pixel work is written as straight loops over whole planes without branches, so
//! that the compiler vectorises them on the baseline instruction set: arcsinh runs in
//! float32 where that stays within the parity tolerance, and the rare large values are
//! computed again in float64 afterwards (`crate::asinh`).

use crate::asinh::{asinh_plane, Run};
use crate::fits::Stamp;
use crate::Fail;

pub const SIZE: usize = 63;
pub const PLANE: usize = SIZE * SIZE;
pub const TRIPLET: usize = 3 * PLANE;
const MAD_TO_SIGMA: f64 = 1.4826;
const MIN_STAT_PIXELS: usize = 64;
const CHANNELS: [&str; 3] = ["science", "reference", "difference"];
/// rbc-pp-2's mask threshold (`rbc1000.model.preprocessing.SENTINEL_ABS`, compared in float32).
pub const SENTINEL_ABS: f32 = 1e30;

/// A preprocessing version this core implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Pp1,
    Pp2,
}

impl Version {
    pub const NAMES: [&'static str; 2] = ["rbc-pp-1", "rbc-pp-2"];

    pub fn from_name(name: &str) -> Option<Version> {
        match name {
            "rbc-pp-1" => Some(Version::Pp1),
            "rbc-pp-2" => Some(Version::Pp2),
            _ => None,
        }
    }
}
/// numpy's pairwise summation of float32 (blocks of 8 accumulators up to 128 items).
fn pairwise_sum(a: &[f32]) -> f32 {
    let n = a.len();
    if n < 8 {
        return a.iter().fold(0.0f32, |acc, &x| acc + x);
    }
    if n <= 128 {
        let mut r = [0f32; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - (n % 8) {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &a[i..] {
            res += x;
        }
        return res;
    }
    let mut n2 = n / 2;
    n2 -= n2 % 8;
    pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
}

/// `np.std` of a float32 array, in float32.
fn std_f32(values: &[f32]) -> f32 {
    let n = values.len() as f32;
    let mean = (0.0f32 + pairwise_sum(values)) / n;
    let squares: Vec<f32> = values.iter().map(|&v| (v - mean) * (v - mean)).collect();
    ((0.0f32 + pairwise_sum(&squares)) / n).sqrt()
}

/// An integer whose order is `f32::total_cmp`'s: selection on it compares plain integers.
#[inline(always)]
fn order_key(x: f32) -> i32 {
    let bits = x.to_bits() as i32;
    bits ^ ((((bits >> 31) as u32) >> 1) as i32)
}

#[inline(always)]
fn from_order_key(key: i32) -> f32 {
    f32::from_bits((key ^ ((((key >> 31) as u32) >> 1) as i32)) as u32)
}

/// `np.median` of the float32 values whose `order_key`s are `keys` (reorders `keys`).
fn median_of_keys(keys: &mut [i32]) -> f32 {
    let k = keys.len() / 2;
    let (_, &mut hi, _) = keys.select_nth_unstable(k);
    let hi = from_order_key(hi);
    if keys.len() % 2 == 1 {
        return hi;
    }
    let lo = keys[..k]
        .iter()
        .copied()
        .max()
        .map_or(f32::NEG_INFINITY, from_order_key);
    (lo + hi) / 2.0
}

/// Median and MAD of float32 values, both float32 (`keys` is scratch space).
fn median_mad(values: &[f32], keys: &mut Vec<i32>) -> (f32, f32) {
    keys.clear();
    keys.extend(values.iter().map(|&v| order_key(v)));
    let median = median_of_keys(keys);
    keys.clear();
    keys.extend(values.iter().map(|&v| order_key((v - median).abs())));
    (median, median_of_keys(keys))
}

/// The pixels on even rows and columns of a plane (all, or only the finite ones) into `out`.
fn subsample(plane: &[f32], finite_only: bool, out: &mut Vec<f32>) {
    out.clear();
    for row in plane.chunks_exact(SIZE).step_by(2) {
        for &v in row.iter().step_by(2) {
            if !finite_only || v.is_finite() {
                out.push(v);
            }
        }
    }
}

/// Scratch space reused across triplets.
#[derive(Default)]
pub struct Scratch {
    values: Vec<f32>,
    keys: Vec<i32>,
    runs: Vec<(usize, Run)>,
}

/// `_location_scale_all_finite` for one channel.
fn location_scale_all_finite(plane: &[f32], s: &mut Scratch) -> (f32, f32) {
    subsample(plane, false, &mut s.values);
    let (median, mad) = median_mad(&s.values, &mut s.keys);
    let mut scale = (MAD_TO_SIGMA as f32) * mad;
    if !(scale > 0.0) {
        let std = std_f32(&s.values);
        scale = if std != 0.0 { std } else { 1.0 };
    }
    (median, scale)
}

/// `_robust_location_scale` for one channel with some non-finite pixels.
fn robust_location_scale(plane: &[f32], s: &mut Scratch) -> (f32, f32) {
    subsample(plane, true, &mut s.values);
    if s.values.len() < MIN_STAT_PIXELS {
        s.values.clear();
        s.values
            .extend(plane.iter().copied().filter(|v| v.is_finite()));
    }
    let (median, mad) = median_mad(&s.values, &mut s.keys);
    let mut scale = MAD_TO_SIGMA * f64::from(mad);
    if !(scale > 0.0) {
        scale = f64::from(std_f32(&s.values));
    }
    (median, if scale > 0.0 { scale as f32 } else { 1.0 })
}

/// Preprocess three located stamps into `out` (3 x 63 x 63 float32, all finite).
pub fn make_triplet(
    stamps: [&Stamp; 3],
    version: Version,
    out: &mut [f32],
    scratch: &mut Scratch,
) -> Result<(), Fail> {
    for (c, stamp) in stamps.iter().enumerate() {
        stamp.centre_into(&mut out[c * PLANE..(c + 1) * PLANE], SIZE);
    }
    if version == Version::Pp2 {
        for v in out.iter_mut() {
            *v = if v.abs() >= SENTINEL_ABS {
                f32::NAN
            } else {
                *v
            };
        }
    }
    let all_finite = out.iter().fold(true, |ok, v| ok & v.is_finite());
    let mut stats = [(0f32, 1f32); 3];
    for (c, stat) in stats.iter_mut().enumerate() {
        let plane = &out[c * PLANE..(c + 1) * PLANE];
        *stat = if all_finite {
            location_scale_all_finite(plane, scratch)
        } else {
            if !plane.iter().any(|v| v.is_finite()) {
                return Err(Fail::new(
                    "empty_stamp",
                    &format!("{} stamp has no finite pixel", CHANNELS[c]),
                ));
            }
            robust_location_scale(plane, scratch)
        };
    }
    for (c, &(median, scale)) in stats.iter().enumerate() {
        asinh_plane(
            &mut out[c * PLANE..(c + 1) * PLANE],
            median,
            scale,
            &mut scratch.runs,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_match_numpy_conventions() {
        let mut keys = Vec::new();
        assert_eq!(median_mad(&[3.0, 1.0, 2.0], &mut keys), (2.0, 1.0));
        assert_eq!(median_mad(&[4.0, 1.0, 2.0, 3.0], &mut keys), (2.5, 1.0));
        assert_eq!(
            median_mad(&[-4.0, -0.0, 0.0, -1e-40, 7.0], &mut keys).0,
            0.0
        );
        let values = [-3.5f32, -0.0, 0.0, 1e-40, -1e30, f32::MAX, 2.0];
        let mut sorted = values;
        sorted.sort_by(f32::total_cmp);
        let mut by_key = values.map(order_key);
        by_key.sort();
        assert_eq!(by_key.map(from_order_key), sorted);
    }

    #[test]
    fn pairwise_sum_of_ones() {
        assert_eq!(pairwise_sum(&vec![1.0f32; 1024]), 1024.0);
        assert_eq!(std_f32(&[2.0; 16]), 0.0);
    }
}
