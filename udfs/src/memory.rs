//! The session's memory pool, for model fits that must hold their whole
//! input.
//!
//! An aggregate's accumulated rows are counted by DataFusion through
//! `size()`; what a fit allocates on top of them when it trains (the
//! training copy in a canonical order, bins, gradients, k-means' standardised
//! points) happens inside `evaluate`, where DataFusion hands no pool. The
//! session registers its pool here ([`set_pool`], done by crmlake's session
//! and cluster executor), and a fit reserves its estimate before allocating
//! ([`reserve`]): over a job's `memory_limit_mb` it fails with "needs about N
//! MB" instead of growing until the kernel kills the process.
//!
//! One pool per process: the last session built sets it (a crmlake process
//! runs one session; an executor one runtime). Without one, reservations
//! always succeed.

use std::sync::{Arc, RwLock};

use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool, MemoryReservation};

use crate::error::UdfError;

static POOL: RwLock<Option<Arc<dyn MemoryPool>>> = RwLock::new(None);

/// Make `pool` the one fits reserve from.
pub fn set_pool(pool: Arc<dyn MemoryPool>) {
    if let Ok(mut p) = POOL.write() {
        *p = Some(pool);
    }
}

/// Reserve `bytes` for `function` to `purpose` (e.g. "train on 1000000
/// rows"); the reservation is returned to the pool when dropped. An error
/// says how much was needed and what to do.
pub fn reserve(
    function: &'static str,
    purpose: &str,
    bytes: usize,
) -> Result<Option<MemoryReservation>, UdfError> {
    let pool = match POOL.read() {
        Ok(p) => p.clone(),
        Err(_) => None,
    };
    match pool {
        Some(pool) => reserve_in(&pool, function, purpose, bytes).map(Some),
        None => Ok(None),
    }
}

fn reserve_in(
    pool: &Arc<dyn MemoryPool>,
    function: &'static str,
    purpose: &str,
    bytes: usize,
) -> Result<MemoryReservation, UdfError> {
    let mut reservation = MemoryConsumer::new(function).register(pool);
    resize(&mut reservation, function, purpose, bytes)?;
    Ok(reservation)
}

/// Grow or shrink `reservation` to `bytes`; over the pool, an error that
/// says how much `function` needed to `purpose`.
pub fn resize(
    reservation: &mut MemoryReservation,
    function: &'static str,
    purpose: &str,
    bytes: usize,
) -> Result<(), UdfError> {
    reservation.try_resize(bytes).map_err(|_| UdfError::Memory {
        function,
        purpose: purpose.to_string(),
        megabytes: bytes.div_ceil(1 << 20),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::memory_pool::GreedyMemoryPool;

    #[test]
    fn a_reservation_over_the_pool_names_the_function_and_the_need() {
        let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(10 << 20));
        let held = reserve_in(&pool, "kmeans_fit", "fit 1 row", 4 << 20).expect("fits");
        let e = reserve_in(&pool, "churn_train", "train on 5 rows", 8 << 20).expect_err("over");
        assert_eq!(
            datafusion::error::DataFusionError::from(e).to_string(),
            "Resources exhausted: churn_train needs about 8 MB to train on 5 rows; raise memory_limit_mb or sample the input"
        );
        drop(held);
        assert!(reserve_in(&pool, "churn_train", "train", 8 << 20).is_ok());
    }
}
