//! `rbc-pp-1`, as `rbc1000.model.preprocessing.make_triplet` computes it, operation for operation.
//!
//! The float32 arithmetic follows numpy's: medians of an even count are `(a + b) / 2` in
//! float32, the MAD factor multiplies in float32 when all three stamps are finite and in
//! float64 otherwise (Python floats), and standard deviations use numpy's pairwise float32
//! summation, so that flat stamps get the same fallback scale.

use crate::fits::Image;
use crate::Fail;

pub const SIZE: usize = 63;
pub const PLANE: usize = SIZE * SIZE;
pub const TRIPLET: usize = 3 * PLANE;
const MAD_TO_SIGMA: f64 = 1.4826;
const MIN_STAT_PIXELS: usize = 64;
const CHANNELS: [&str; 3] = ["science", "reference", "difference"];

/// (source start, destination start, length) aligning the centres of n and SIZE pixels.
fn centred_span(n: usize) -> (usize, usize, usize) {
    if n >= SIZE {
        ((n - SIZE) / 2, 0, SIZE)
    } else {
        (0, (SIZE - n) / 2, n)
    }
}

fn center_to_size(img: &Image, out: &mut [f32]) {
    if img.h != SIZE || img.w != SIZE {
        out.fill(f32::NAN);
    }
    let (sy, dy, ny) = centred_span(img.h);
    let (sx, dx, nx) = centred_span(img.w);
    for r in 0..ny {
        let src = (sy + r) * img.w + sx;
        let dst = (dy + r) * SIZE + dx;
        out[dst..dst + nx].copy_from_slice(&img.px[src..src + nx]);
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

/// `np.median` of float32 values (reorders `values`).
fn median_f32(values: &mut [f32]) -> f32 {
    let k = values.len() / 2;
    let (_, &mut hi, _) = values.select_nth_unstable_by(k, |a, b| a.total_cmp(b));
    if values.len() % 2 == 1 {
        return hi;
    }
    let lo = values[..k]
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    (lo + hi) / 2.0
}

/// Median and MAD of float32 values, both float32.
fn median_mad(values: &[f32]) -> (f32, f32) {
    let mut work = values.to_vec();
    let median = median_f32(&mut work);
    for (w, &v) in work.iter_mut().zip(values) {
        *w = (v - median).abs();
    }
    (median, median_f32(&mut work))
}

fn subsample(plane: &[f32], finite_only: bool) -> Vec<f32> {
    let mut out = Vec::with_capacity(32 * 32);
    for r in (0..SIZE).step_by(2) {
        for c in (0..SIZE).step_by(2) {
            let v = plane[r * SIZE + c];
            if !finite_only || v.is_finite() {
                out.push(v);
            }
        }
    }
    out
}

/// `_location_scale_all_finite` for one channel.
fn location_scale_all_finite(plane: &[f32]) -> (f32, f32) {
    let values = subsample(plane, false);
    let (median, mad) = median_mad(&values);
    let mut scale = (MAD_TO_SIGMA as f32) * mad;
    if !(scale > 0.0) {
        let std = std_f32(&values);
        scale = if std != 0.0 { std } else { 1.0 };
    }
    (median, scale)
}

/// `_robust_location_scale` for one channel with some non-finite pixels.
fn robust_location_scale(plane: &[f32]) -> (f32, f32) {
    let mut values = subsample(plane, true);
    if values.len() < MIN_STAT_PIXELS {
        values = plane.iter().copied().filter(|v| v.is_finite()).collect();
    }
    let (median, mad) = median_mad(&values);
    let mut scale = MAD_TO_SIGMA * f64::from(mad);
    if !(scale > 0.0) {
        scale = f64::from(std_f32(&values));
    }
    (median, if scale > 0.0 { scale as f32 } else { 1.0 })
}

/// float32 arcsinh, computed in float64 and rounded once (numpy's float32 result is within an ulp).
///
/// `f64::asinh` goes through libm's hypot and log1p and was most of the preprocessing time;
/// this is ln(u), u = 1 + t = |z| + sqrt(z^2 + 1), by 2 atanh(s) series with |s| <= 0.172,
/// accurate to about 1e-15, far below float32's rounding.
fn asinh_f32(z: f32) -> f32 {
    let x = f64::from(z).abs();
    if !x.is_finite() {
        return z;
    }
    let (s, e) = if x < 1e150 {
        let t = x + x * x / (1.0 + (1.0 + x * x).sqrt());
        if t < std::f64::consts::SQRT_2 - 1.0 {
            (t / (2.0 + t), 0.0)
        } else {
            reduce(1.0 + t)
        }
    } else {
        let (s, e) = reduce(x);
        (s, e + 1.0)
    };
    let s2 = s * s;
    let p = 1.0 / 3.0
        + s2 * (1.0 / 5.0
            + s2 * (1.0 / 7.0
                + s2 * (1.0 / 9.0
                    + s2 * (1.0 / 11.0 + s2 * (1.0 / 13.0 + s2 * (1.0 / 15.0 + s2 / 17.0))))));
    let r = 2.0 * s + 2.0 * s * s2 * p + e * std::f64::consts::LN_2;
    (r as f32).copysign(z)
}

/// u = 2^e * m with m in [sqrt(1/2), sqrt(2)); returns ((m - 1) / (m + 1), e).
fn reduce(u: f64) -> (f64, f64) {
    let bits = u.to_bits();
    let mut e = ((bits >> 52) & 0x7FF) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000);
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    ((m - 1.0) / (m + 1.0), e as f64)
}

/// Preprocess three stamps into `out` (3 x 63 x 63 float32, all finite).
pub fn make_triplet(stamps: [&Image; 3], out: &mut [f32]) -> Result<(), Fail> {
    for (c, img) in stamps.iter().enumerate() {
        center_to_size(img, &mut out[c * PLANE..(c + 1) * PLANE]);
    }
    let all_finite = out.iter().all(|v| v.is_finite());
    let mut stats = [(0f32, 1f32); 3];
    for (c, stat) in stats.iter_mut().enumerate() {
        let plane = &out[c * PLANE..(c + 1) * PLANE];
        *stat = if all_finite {
            location_scale_all_finite(plane)
        } else {
            if !plane.iter().any(|v| v.is_finite()) {
                return Err(Fail::new(
                    "empty_stamp",
                    &format!("{} stamp has no finite pixel", CHANNELS[c]),
                ));
            }
            robust_location_scale(plane)
        };
    }
    for (c, (median, scale)) in stats.iter().enumerate() {
        for v in &mut out[c * PLANE..(c + 1) * PLANE] {
            *v = if v.is_finite() {
                asinh_f32((*v - median) / scale)
            } else {
                0.0
            };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_match_numpy_conventions() {
        assert_eq!(median_f32(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_f32(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn asinh_is_correctly_rounded() {
        for i in -200_000..200_000 {
            let z = (i as f32) * 0.37e-3 * (1.0 + (i as f32).abs().sqrt());
            let want = f64::from(z).asinh() as f32;
            let got = asinh_f32(z);
            assert!(
                (got - want).abs() <= f32::EPSILON * want.abs().max(1e-30),
                "{z}: {got} vs {want}"
            );
        }
        assert_eq!(asinh_f32(1e30), (1e30f64).asinh() as f32);
        assert_eq!(asinh_f32(0.0), 0.0);
    }

    #[test]
    fn pairwise_sum_of_ones() {
        assert_eq!(pairwise_sum(&vec![1.0f32; 1024]), 1024.0);
        assert_eq!(std_f32(&[2.0; 16]), 0.0);
    }
}
