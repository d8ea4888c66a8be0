//! numpy's float32 `arcsinh` over whole planes: a vectorised float32 pass, float64 where needed.
//!
//! The parity bound with numpy is absolute (1e-6), and numpy's float32 arcsinh is itself
//! within one ulp of the correctly rounded value. Below |z| = 27.2 (arcsinh < 4) a float32
//! computation is accurate enough and vectorises; above, where an ulp is 4.8e-7 or more,
//! the value is computed in float64 and rounded once.

/// |z| below which the float32 arcsinh is used: asinh(27.2) < 4, where its error (at most
/// 2.6e-7) plus numpy's (one float32 ulp, 2.4e-7) stays well inside the 1e-6 parity bound.
const F32_ASINH_LIMIT: f32 = 27.2;

/// float32 arcsinh in float32 arithmetic, for |z| < `F32_ASINH_LIMIT` (see there).
///
/// ln(|z| + sqrt(z^2 + 1)) with the logarithm as e ln 2 + 2 atanh(s), s = (m - 1) / (m + 1),
/// m in [sqrt(1/2), sqrt(2)). Branch-free, so a loop of it vectorises; the absolute error
/// is at most 2.6e-7 (the parity bound is absolute), and asinh(0) is exactly 0.
#[inline(always)]
fn asinh_f32_fast(z: f32) -> f32 {
    let a = z.abs();
    let u = a + (a * a + 1.0).sqrt();
    let bits = u.to_bits();
    let mantissa = bits & 0x007F_FFFF;
    let high = mantissa > 0x0035_04F3; // m > sqrt(2): halve it
    let e = ((bits >> 23) as i32 - 127 + i32::from(high)) as f32;
    let m = f32::from_bits(mantissa | if high { 0x3F00_0000 } else { 0x3F80_0000 });
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let s2 = s * s;
    let ln_m = 2.0 * s + s * s2 * (2.0 / 3.0 + s2 * (2.0 / 5.0 + s2 * (2.0 / 7.0)));
    (e * std::f32::consts::LN_2 + ln_m).copysign(z)
}

/// float32 arcsinh computed in float64 and rounded once (numpy's float32 result is within an ulp).
///
/// ln(u), u = 1 + t = |z| + sqrt(z^2 + 1), by a 2 atanh(s) series with |s| <= 0.172,
/// accurate to about 1e-15, far below float32's rounding.
fn asinh_f64(z: f32) -> f32 {
    let x = f64::from(z).abs();
    if !x.is_finite() {
        return z;
    }
    // x <= f32::MAX, so x * x cannot overflow float64.
    let t = x + x * x / (1.0 + (1.0 + x * x).sqrt());
    let (s, e) = if t < std::f64::consts::SQRT_2 - 1.0 {
        (t / (2.0 + t), 0.0)
    } else {
        reduce(1.0 + t)
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

/// numpy's `arcsinh((v - median) / scale)` over a plane, non-finite pixels to 0.
///
/// A branch-free pass multiplies by 1 / scale (within two float32 ulps of numpy's z) and
/// takes the float32 arcsinh everywhere, keeping the input of each run of `LANES` pixels
/// where some |z| is near or past that function's range (about 1% of the pixels of real
/// stamps, and any z that overflowed, which numpy keeps). Those runs are computed again from
/// numpy's exact z, in float64 where |z| is large.
pub fn asinh_plane(plane: &mut [f32], median: f32, scale: f32, runs: &mut Vec<(usize, Run)>) {
    runs.clear();
    asinh_f32_pass(plane, median, 1.0 / scale, runs);
    for (start, inputs) in runs.iter() {
        let end = (start + LANES).min(plane.len());
        for (v, &o) in plane[*start..end].iter_mut().zip(inputs) {
            let z = (o - median) / scale;
            *v = if !o.is_finite() {
                0.0
            } else if z.abs() < F32_ASINH_LIMIT {
                asinh_f32_fast(z)
            } else {
                asinh_f64(z)
            };
        }
    }
}

const LANES: usize = 16;
/// Where the pass flags a run: a little below `F32_ASINH_LIMIT`, as its z may be two ulps low.
const FLAG_LIMIT: f32 = F32_ASINH_LIMIT * (1.0 - 1.0 / 1024.0);

/// The vectorised pass of `asinh_plane`: (start, inputs) of the flagged runs into `runs`.
///
/// Written over arrays of `LANES` values: LLVM's loop vectoriser leaves the plain loop
/// scalar, the SLP vectoriser turns these into packed instructions on any x86-64.
fn asinh_f32_pass(
    plane: &mut [f32],
    median: f32,
    inverse_scale: f32,
    runs: &mut Vec<(usize, Run)>,
) {
    let len = plane.len();
    let mut chunks = plane.chunks_exact_mut(LANES);
    for (index, v) in (&mut chunks).enumerate() {
        let inputs: Run = std::array::from_fn(|i| v[i]);
        let finite: [bool; LANES] = std::array::from_fn(|i| inputs[i].is_finite());
        let z: [f32; LANES] = std::array::from_fn(|i| {
            if finite[i] {
                (inputs[i] - median) * inverse_scale
            } else {
                0.0
            }
        });
        let mut large = false;
        for i in 0..LANES {
            large |= !(z[i].abs() < FLAG_LIMIT);
            v[i] = asinh_f32_fast(z[i]); // 0 for a non-finite pixel, as z is 0 there
        }
        if large {
            runs.push((index * LANES, inputs));
        }
    }
    let tail = chunks.into_remainder();
    if !tail.is_empty() {
        let mut inputs = [0.0; LANES]; // the tail is done by the exact loop alone
        inputs[..tail.len()].copy_from_slice(tail);
        runs.push((len - tail.len(), inputs));
    }
}

/// The inputs of one run of `LANES` pixels.
pub type Run = [f32; LANES];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asinh_f64_is_correctly_rounded() {
        for i in -200_000..200_000 {
            let z = (i as f32) * 0.37e-3 * (1.0 + (i as f32).abs().sqrt());
            let want = f64::from(z).asinh() as f32;
            let got = asinh_f64(z);
            assert!(
                (got - want).abs() <= f32::EPSILON * want.abs().max(1e-30),
                "{z}: {got} vs {want}"
            );
        }
        assert_eq!(asinh_f64(1e30), (1e30f64).asinh() as f32);
        assert_eq!(asinh_f64(0.0), 0.0);
    }

    #[test]
    fn asinh_f32_stays_within_its_error_bound() {
        let mut worst = 0f64;
        for i in 0..2_000_000 {
            let z = F32_ASINH_LIMIT * (i as f32 / 1_000_000.0 - 1.0);
            let err = (f64::from(asinh_f32_fast(z)) - f64::from(z).asinh()).abs();
            worst = worst.max(err);
        }
        assert!(worst <= 2.6e-7, "float32 arcsinh error {worst}");
        assert_eq!(asinh_f32_fast(0.0), 0.0);
        assert!(asinh_f32_fast(-1e-30) <= 0.0);
    }

    #[test]
    fn large_and_infinite_z_take_the_float64_path() {
        let mut plane = vec![0f32; 63 * 63];
        plane[..5].copy_from_slice(&[1e30, f32::MAX, f32::NAN, 1e-8, -f32::INFINITY]);
        asinh_plane(&mut plane, 0.0, 1e-10, &mut Vec::new());
        assert_eq!(plane[..3], [f32::INFINITY, f32::INFINITY, 0.0]);
        assert_eq!(plane[3], f64::from(1e-8f32 / 1e-10f32).asinh() as f32);
        assert_eq!(plane[4], 0.0);
    }
}
