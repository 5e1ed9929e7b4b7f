//! Kernels compiled for the widest vector instructions the CPU has.
//!
//! Why: a release build targets baseline x86-64, whose vector registers hold
//! two `f64`. The scoring kernels (leaf-mask ANDs, P(alive)'s polynomials)
//! are plain loops the compiler vectorises; compiled a second time with
//! AVX2 or AVX-512 enabled, the same loops use four or eight lanes. The CPU
//! is asked once per call (`is_x86_feature_detected!` caches its answer), so
//! one binary runs everywhere and uses what it finds. Tests run every path
//! this CPU has ([`each_path`]).
//!
//! The results are the same bits on every path: each lane does the same IEEE
//! operations in the same order as the scalar code, and Rust never fuses a
//! multiply and an add on its own. Tests compare the paths bit for bit.
//!
//! [`wide_kernel!`](crate::wide_kernel) writes the three methods.

/// Defines `pub fn $name(&self, args) [-> R]` that calls `$body` (an
/// `#[inline(always)]` method holding the loops; or, without `&self`, a free
/// function calling a free `$body`), compiled for AVX-512F (`$avx512`) or
/// AVX2 (`$avx2`) as [`path`] says, as is otherwise. `$body` must be
/// `#[inline(always)]` so that it is compiled inside each variant.
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
            match $crate::simd::path() {
                // SAFETY: `path` names AVX-512F only when the CPU has it, the
                // only requirement of the `target_feature` function.
                #[cfg(target_arch = "x86_64")]
                $crate::simd::Path::Avx512 => unsafe { self.$avx512($($arg),*) },
                // SAFETY: as above, for AVX2.
                #[cfg(target_arch = "x86_64")]
                $crate::simd::Path::Avx2 => unsafe { self.$avx2($($arg),*) },
                _ => self.$body($($arg),*),
            }
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
            match $crate::simd::path() {
                // SAFETY: `path` names AVX-512F only when the CPU has it, the
                // only requirement of the `target_feature` function.
                #[cfg(target_arch = "x86_64")]
                $crate::simd::Path::Avx512 => unsafe { $avx512($($arg),*) },
                // SAFETY: as above, for AVX2.
                #[cfg(target_arch = "x86_64")]
                $crate::simd::Path::Avx2 => unsafe { $avx2($($arg),*) },
                _ => $body($($arg),*),
            }
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

/// Which compilation of a [`wide_kernel!`](crate::wide_kernel) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Baseline x86-64 (or any other architecture).
    Baseline,
    Avx2,
    Avx512,
}

impl Path {
    /// Whether this CPU can run the path.
    pub fn available(self) -> bool {
        match self {
            Path::Baseline => true,
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Path::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }
}

/// The widest path this CPU has.
pub fn widest() -> Path {
    [Path::Avx512, Path::Avx2]
        .into_iter()
        .find(|p| p.available())
        .unwrap_or(Path::Baseline)
}

/// The path kernels take: [`widest`], or in tests the one [`each_path`]
/// is running.
#[inline]
pub fn path() -> Path {
    #[cfg(test)]
    if let Some(p) = FORCED.with(std::cell::Cell::get) {
        return p;
    }
    widest()
}

#[cfg(test)]
thread_local! {
    static FORCED: std::cell::Cell<Option<Path>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` once per path this CPU has, with kernels called on this thread
/// taking that path.
#[cfg(test)]
pub fn each_path(mut f: impl FnMut(Path)) {
    for p in [Path::Baseline, Path::Avx2, Path::Avx512] {
        if p.available() {
            FORCED.with(|c| c.set(Some(p)));
            f(p);
        }
    }
    FORCED.with(|c| c.set(None));
}
