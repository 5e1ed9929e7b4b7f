//! The one thread pool every kernel runs on.
//!
//! DataFusion runs a query's partitions on its own threads, and a Ballista
//! executor runs several tasks at once; a kernel that started threads of its
//! own inside each of them would put partitions × cores threads on the cores.
//! So the parallel kernels (fits, tree scoring, FP-growth mining) hand their
//! work to one process-wide pool, rayon's global pool, which
//! [`configure`] sizes once per process (crmlake's sessions size it to their
//! `target_partitions`; without a call it has one thread per core).
//!
//! Work is cut into chunks whose bounds do not depend on the pool's size, and
//! results come back in chunk order to be reduced in that order, so every
//! result is bit-identical on any number of threads.

use rayon::prelude::*;

/// Size the pool to `threads` (at least 1). Only the first call in a process
/// (before any kernel ran) takes effect; returns whether this one did.
pub fn configure(threads: usize) -> bool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("crmlake-kernel-{i}"))
        .build_global()
        .is_ok()
}

/// Threads of the pool the caller runs in.
pub fn threads() -> usize {
    rayon::current_num_threads()
}

/// `f(0), f(1), ..., f(n - 1)` on the pool, results in that order.
pub fn map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    (0..n).into_par_iter().map(f).collect()
}

/// `f(start, part)` for consecutive parts of `out` of `chunk` elements each
/// (`start` is the part's offset in `out`), on the pool.
pub fn for_each_chunk_mut<T: Send>(
    out: &mut [T],
    chunk: usize,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    let chunk = chunk.max(1);
    out.par_chunks_mut(chunk)
        .enumerate()
        .for_each(|(c, part)| f(c * chunk, part));
}

/// `f(start, a_part, b_part)` for consecutive parts of `a` and `b` (of equal
/// length) of `chunk` elements each, on the pool.
pub fn for_each_chunk_mut2<A: Send, B: Send>(
    a: &mut [A],
    b: &mut [B],
    chunk: usize,
    f: impl Fn(usize, &mut [A], &mut [B]) + Sync + Send,
) {
    let chunk = chunk.max(1);
    a.par_chunks_mut(chunk)
        .zip(b.par_chunks_mut(chunk))
        .enumerate()
        .for_each(|(c, (pa, pb))| f(c * chunk, pa, pb));
}

/// Runs `f` with the kernels' work on a pool of its own of `threads`
/// threads (tests check that results do not depend on the thread count).
pub fn with_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    match rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
    {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_keeps_order_and_chunks_cover_everything() {
        for t in [1, 2, 5] {
            let v = with_threads(t, || map(1000, |i| i * 2));
            assert_eq!(v, (0..1000).map(|i| i * 2).collect::<Vec<_>>());
            let mut out = vec![0usize; 1003];
            with_threads(t, || {
                for_each_chunk_mut(&mut out, 64, |start, part| {
                    for (k, o) in part.iter_mut().enumerate() {
                        *o = start + k;
                    }
                })
            });
            assert!(out.iter().enumerate().all(|(i, &o)| i == o));
            assert_eq!(with_threads(t, threads), t);
        }
    }
}
