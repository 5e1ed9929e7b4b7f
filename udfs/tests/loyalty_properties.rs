//! Invariants of the points ledger (udfs/src/loyalty/ledger.rs) on random
//! customers: the balance never goes below zero and equals the running sum
//! of accepted entries; a lot expires at most once (expired + redeemed +
//! returned never exceed what was added); the ledger does not depend on the
//! order the rows arrive in.

use crmlake_udfs::loyalty::ledger::{balance, ledger, start_of, EntryKind, EventKind, Input};
use crmlake_udfs::loyalty::rules::Rules;
use proptest::prelude::*;

fn rules() -> Rules {
    Rules::parse(
        r#"{"earn_rate": 1, "min_redemption": 20, "expiry_months": 3, "signup_bonus": 10,
            "bonus_periods": [{"from": "2011-02-01", "to": "2011-02-28", "multiplier": 3}]}"#,
    )
    .unwrap()
}

fn base() -> i64 {
    start_of("2011-01-01".parse().unwrap())
}

fn input() -> impl Strategy<Value = Input<'static>> {
    let hour = 3_600_000_000i64;
    prop_oneof![
        (0i64..24 * 400, -80i32..200, 0u8..6).prop_map(move |(h, a, o)| Input::Purchase {
            ts: base() + h * hour,
            amount: f64::from(a),
            order_id: Some(["O0", "O1", "O2", "O3", "O4", "O5"][usize::from(o)]),
            category: None,
        }),
        (0i64..24 * 400, 0usize..4, -60i32..120).prop_map(move |(h, k, p)| Input::Event {
            ts: base() + h * hour,
            kind: [
                EventKind::Signup,
                EventKind::Referral,
                EventKind::Adjust,
                EventKind::Redeem
            ][k],
            points: (p != 0).then_some(f64::from(p)),
            source_id: None,
        }),
    ]
}

proptest! {
    #[test]
    fn balances_stay_non_negative_and_add_up(inputs in proptest::collection::vec(input(), 0..40)) {
        let as_of = base() + 400 * 86_400_000_000;
        let l = ledger(&rules(), inputs, as_of);
        let mut running = 0.0;
        let (mut added, mut removed) = (0.0, 0.0);
        for e in &l {
            prop_assert!(e.balance >= 0.0, "{e:?}");
            if e.rejected.is_some() {
                prop_assert_eq!(e.points, 0.0);
            }
            running += e.points;
            prop_assert_eq!(e.balance, running, "{:?}", e);
            if e.points > 0.0 { added += e.points } else { removed -= e.points }
            if e.kind == EntryKind::Expire {
                prop_assert!(e.points < 0.0);
            }
        }
        prop_assert!(removed <= added);
        let b = balance(&l);
        prop_assert_eq!(b.earned - b.redeemed - b.expired, b.balance);
    }

    #[test]
    fn the_ledger_does_not_depend_on_row_order(
        inputs in proptest::collection::vec(input(), 0..30),
        seed in any::<u64>(),
    ) {
        let as_of = base() + 400 * 86_400_000_000;
        let mut shuffled = inputs.clone();
        // A seeded Fisher-Yates shuffle.
        let mut s = seed | 1;
        for i in (1..shuffled.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            shuffled.swap(i, (s % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(ledger(&rules(), inputs, as_of), ledger(&rules(), shuffled, as_of));
    }
}
