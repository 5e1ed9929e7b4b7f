//! `exp` and `ln(1 + y)` as plain arithmetic, so that a loop calling them over
//! a column compiles to vector instructions.
//!
//! Why our own: `f64::exp` / `f64::ln_1p` (and the `libm` crate) are calls the
//! compiler cannot inline into a loop, which keeps a loop over a million
//! customers one element at a time; P(alive) of a whole column is little more
//! than one `ln_1p` and one `exp` per row. These are branch-free range
//! reductions and polynomials (special cases chosen by selects, not jumps), and
//! agree with the standard library to within 2 ulp over the whole range (the
//! tests below check a million random arguments and the edge cases).
//!
//! Only the scoring kernels use them; fitting keeps the standard library's.

/// ln 2 split in two: `LN2_HI` has its low 32 mantissa bits zero, so `n *
/// LN2_HI` is exact for any exponent |n| < 2^21; `LN2_LO` = ln 2 − `LN2_HI`
/// (computed in 60-digit decimal arithmetic).
const LN2_HI: f64 = 0.693_146_705_627_441_4;
const LN2_LO: f64 = 4.749_325_039_031_672_6e-7;
const INV_LN2: f64 = std::f64::consts::LOG2_E;
/// Adding 1.5 · 2^52 rounds a double of magnitude < 2^51 to an integer, which
/// then sits in the low mantissa bits.
const SHIFTER: f64 = 6_755_399_441_055_744.0;
/// Above this exp overflows, below `EXP_UNDERFLOW` it is 0.
const EXP_OVERFLOW: f64 = 709.782_712_893_384;
const EXP_UNDERFLOW: f64 = -745.133_219_101_941_2;

/// e^x. NaN for NaN, +inf above 709.78, 0 below −745.13.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    // Clamped so the integer part stays in range; the result is replaced by
    // the selects at the end outside it.
    let xc = x.clamp(-746.0, 710.0);
    let t = xc * INV_LN2 + SHIFTER;
    let n = t - SHIFTER;
    // x = n ln 2 + r with |r| <= ln 2 / 2.
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    // e^r by its Taylor series to r^13/13!: the first omitted term is below
    // 0.347^14 / 14! < 5e-18.
    let mut p = EXP_SERIES[13];
    for &c in EXP_SERIES[..13].iter().rev() {
        p = p * r + c;
    }
    // 2^n as two factors, so that n from −1076 to 1024 is representable.
    let ni = (t.to_bits() as i64).wrapping_sub(SHIFTER.to_bits() as i64);
    let half = ni >> 1;
    let s1 = f64::from_bits(((half + 1023) as u64) << 52);
    let s2 = f64::from_bits(((ni - half + 1023) as u64) << 52);
    let y = p * s1 * s2;
    if x > EXP_OVERFLOW {
        f64::INFINITY
    } else if x < EXP_UNDERFLOW {
        0.0
    } else {
        y
    }
}

/// 1 / k! for k = 0..=13 (k! is exact in f64), computed at compile time.
const EXP_SERIES: [f64; 14] = {
    let mut c = [1.0; 14];
    let mut factorial = 1.0;
    let mut k = 1;
    while k < 14 {
        factorial *= k as f64;
        c[k] = 1.0 / factorial;
        k += 1;
    }
    c
};

/// 2 / (2j + 1) for j = 1..=12: the atanh series' coefficients.
const ATANH_SERIES: [f64; 12] = {
    let mut c = [0.0; 12];
    let mut j = 0;
    while j < 12 {
        c[j] = 2.0 / (2 * j + 3) as f64;
        j += 1;
    }
    c
};

const SQRT_HALF_BITS: i64 = 0x3FE6_A09E_667F_3BCD;
const MANTISSA: i64 = (1 << 52) - 1;

/// ln(1 + y), accurate for small y. NaN below −1 and for NaN, −inf at −1,
/// +inf at +inf.
#[inline(always)]
pub fn ln_1p(y: f64) -> f64 {
    let u = 1.0 + y;
    // The rounding error of u as a relative correction: ln(1 + y) = ln u +
    // (1 + y − u) / u to first order. Both differences are exact (Sterbenz):
    // u − 1 for u < 2, u − y for u >= 2.
    let c = (if u < 2.0 {
        y - (u - 1.0)
    } else {
        1.0 - (u - y)
    }) / u;
    // u = 2^k m with m in [sqrt(1/2), sqrt(2)).
    let off = (u.to_bits() as i64).wrapping_sub(SQRT_HALF_BITS);
    let k = (off >> 52) as f64;
    let m = f64::from_bits(((off & MANTISSA) + SQRT_HALF_BITS) as u64);
    // ln m = 2 atanh(s) = 2s + s R(s²), s = f / (2 + f), |s| <= 0.1716; the
    // series stops at 2 s^25 / 25, the first omitted term relative to 2s is
    // below 0.0295^12 / 27 < 1e-19.
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let mut q = ATANH_SERIES[11];
    for &coef in ATANH_SERIES[..11].iter().rev() {
        q = q * z + coef;
    }
    let big_r = q * z;
    // 2s = f − s f, so ln m = f − (f²/2 − s (f²/2 + R)): the large terms are
    // exact and the rounding errors land on small ones.
    let hfsq = 0.5 * f * f;
    let ln = k * LN2_HI - ((hfsq - (s * (hfsq + big_r) + (k * LN2_LO + c))) - f);
    if y.is_nan() || y < -1.0 {
        f64::NAN
    } else if y == -1.0 {
        f64::NEG_INFINITY
    } else if y == f64::INFINITY {
        f64::INFINITY
    } else {
        ln
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between two finite doubles of the
    /// same sign.
    fn ulps(a: f64, b: f64) -> u64 {
        if a == b {
            return 0;
        }
        assert_eq!(a.is_sign_negative(), b.is_sign_negative(), "{a} vs {b}");
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    /// xorshift64*: reproducible arguments without a dev-dependency.
    fn uniform(state: &mut u64) -> f64 {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn exp_within_two_ulp_of_std() {
        let mut state = 7;
        let mut worst = 0;
        for i in 0..1_000_000 {
            // Mostly the working range of P(alive), then the whole domain.
            let x = if i % 2 == 0 {
                (uniform(&mut state) - 0.5) * 80.0
            } else {
                EXP_UNDERFLOW + uniform(&mut state) * (EXP_OVERFLOW - EXP_UNDERFLOW)
            };
            let (ours, std) = (exp(x), x.exp());
            if std < f64::MIN_POSITIVE {
                // Subnormal results: an absolute error of one subnormal step.
                assert!(
                    (ours - std).abs() <= 2.0 * 4.9e-324,
                    "exp({x}) = {ours}, std {std}"
                );
                continue;
            }
            worst = worst.max(ulps(ours, std));
            assert!(ulps(ours, std) <= 2, "exp({x}) = {ours}, std {std}");
        }
        assert!(worst >= 1, "no rounding difference at all is implausible");
    }

    #[test]
    fn exp_edge_cases() {
        assert_eq!(exp(0.0), 1.0);
        assert!(ulps(exp(1.0), std::f64::consts::E) <= 1);
        assert_eq!(exp(710.0), f64::INFINITY);
        assert_eq!(exp(f64::INFINITY), f64::INFINITY);
        assert_eq!(exp(-746.0), 0.0);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert!(exp(f64::NAN).is_nan());
        let top = exp(709.78);
        assert!(top.is_finite() && ulps(top, 709.78f64.exp()) <= 2);
        assert_eq!(exp(-745.0), (-745.0f64).exp());
    }

    #[test]
    fn ln_1p_within_two_ulp_of_std() {
        let mut state = 11;
        for i in 0..1_000_000 {
            // Small, moderate and huge arguments, and the interval (−1, 0).
            let y = match i % 4 {
                0 => (uniform(&mut state) - 0.5) * 1e-6,
                1 => uniform(&mut state) * 10.0,
                2 => 10f64.powf(uniform(&mut state) * 600.0 - 300.0),
                _ => -uniform(&mut state),
            };
            let (ours, std) = (ln_1p(y), y.ln_1p());
            assert!(ulps(ours, std) <= 2, "ln_1p({y}) = {ours}, std {std}");
        }
    }

    #[test]
    fn ln_1p_edge_cases() {
        assert_eq!(ln_1p(0.0), 0.0);
        assert_eq!(ln_1p(1.0), std::f64::consts::LN_2);
        assert_eq!(ln_1p(1e-300), 1e-300);
        assert_eq!(ln_1p(-1.0), f64::NEG_INFINITY);
        assert_eq!(ln_1p(f64::INFINITY), f64::INFINITY);
        assert!(ln_1p(-1.5).is_nan());
        assert!(ln_1p(f64::NAN).is_nan());
        assert_eq!(ln_1p(f64::MAX), f64::MAX.ln_1p());
        let near = -1.0 + f64::EPSILON / 2.0;
        assert!(ulps(ln_1p(near), near.ln_1p()) <= 2);
    }
}
