//! Kernels compiled for the widest vector instructions the CPU has.
//!
//! Why: a release build targets baseline x86-64, whose vector registers hold
//! two `f64`. The scoring kernels (leaf-mask ANDs, P(alive)'s polynomials)
//! are plain loops the compiler vectorises; compiled a second time with
//! AVX2 or AVX-512 enabled, the same loops use four or eight lanes. The CPU
//! is asked once per call (`is_x86_feature_detected!` caches its answer), so
//! one binary runs everywhere and uses what it finds.
//!
//! The results are the same bits on every path: each lane does the same IEEE
//! operations in the same order as the scalar code, and Rust never fuses a
//! multiply and an add on its own. Tests compare the paths bit for bit.
//!
//! [`wide_kernel!`](crate::wide_kernel) writes the three methods.

/// Defines `pub fn $name(&self, args) [-> R]` that calls `$body` (an
/// `#[inline(always)]` method holding the loops; or, without `&self`, a free
/// function calling a free `$body`), compiled for AVX-512F
/// (`$avx512`) or AVX2 (`$avx2`) when the CPU has them, as is otherwise.
/// `$body` must be `#[inline(always)]` so that it is compiled inside each
/// variant.
///
/// ```ignore
/// impl Kernel {
///     wide_kernel! {
///         /// Scores the rows.
///         pub fn score(&self, x: &[f64], out: &mut [f64]) = score_avx512, score_avx2, score_body;
///     }
///     #[inline(always)]
///     fn score_body(&self, x: &[f64], out: &mut [f64]) { /* loops */ }
/// }
/// ```
#[macro_export]
macro_rules! wide_kernel {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) $(-> $ret:ty)?
            = $avx512:ident, $avx2:ident, $body:ident;
    ) => {
        $(#[$meta])*
        $vis fn $name(&self $(, $arg: $ty)*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has just been found to support AVX-512F,
                    // the only requirement of the `target_feature` function.
                    return unsafe { self.$avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: as above, for AVX2.
                    return unsafe { self.$avx2($($arg),*) };
                }
            }
            self.$body($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f")]
        fn $avx512(&self $(, $arg: $ty)*) $(-> $ret)? {
            self.$body($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        fn $avx2(&self $(, $arg: $ty)*) $(-> $ret)? {
            self.$body($($arg),*)
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?
            = $avx512:ident, $avx2:ident, $body:ident;
    ) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has just been found to support AVX-512F,
                    // the only requirement of the `target_feature` function.
                    return unsafe { $avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: as above, for AVX2.
                    return unsafe { $avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f")]
        fn $avx512($($arg: $ty),*) $(-> $ret)? {
            $body($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        fn $avx2($($arg: $ty),*) $(-> $ret)? {
            $body($($arg),*)
        }
    };
}

/// The vector instructions [`wide_kernel!`](crate::wide_kernel) kernels use
/// on this CPU: "avx512f", "avx2" or "baseline".
pub fn widest() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "avx512f";
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return "avx2";
        }
    }
    "baseline"
}
