//! Job files and `generate`'s parameter strings, whatever their text, parse
//! to a job or to an error naming the problem: never a panic. Generated from
//! the demo job by random edits (proptest), and from random TOML-ish tokens.

use proptest::prelude::*;

use crate::common::*;

const TOKENS: &[&str] = &[
    "[[steps]]",
    "[settings]",
    "\n",
    "\n",
    "name",
    "table",
    "sql",
    "model",
    "reject",
    "reject_duplicates",
    "reason",
    "when",
    "lake",
    "out",
    "target_partitions",
    "memory_limit_mb",
    " = ",
    "\"",
    "\"\"\"",
    "'",
    "{",
    "}",
    "[",
    "]",
    ",",
    "true",
    "0",
    "-1",
    "99999999999999999999",
    "1e999",
    "\"x\"",
    "\"../up\"",
    "\"_hidden\"",
    "\"models\"",
    "\"SELECT 1\"",
    "#",
    "\u{e9}",
];

proptest! {
    // CRMLAKE_FUZZ_CASES=N for a long run (benches/RESULTS.md).
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("CRMLAKE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(200)
    ))]

    #[test]
    fn edited_demo_jobs_parse_or_fail_cleanly(
        edits in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(TOKENS)), 1..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let mut text = std::fs::read_to_string(root().join("jobs/demo.toml")).unwrap();
        for (at, with) in edits {
            let i = at.index(text.len());
            if text.is_char_boundary(i) && text.is_char_boundary(i + 1) {
                text.replace_range(i..i + 1, with);
            }
        }
        if let Some(c) = cut {
            let i = c.index(text.len());
            if text.is_char_boundary(i) {
                text.truncate(i);
            }
        }
        if let Err(e) = crmlake::job::parse_job(&text, "edited.toml") {
            prop_assert!(e.to_string().contains("edited.toml"), "{e}");
        }
    }

    #[test]
    fn token_soup_jobs_parse_or_fail_cleanly(tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..40)) {
        let text = tokens.concat();
        if let Err(e) = crmlake::job::parse_job(&text, "soup.toml") {
            prop_assert!(e.to_string().contains("soup.toml"), "{e}");
        }
    }

    #[test]
    fn generator_parameters_parse_or_fail_cleanly(text in "[-0-9.,e a-z]{0,30}") {
        let _ = crmlake::generate::parse_bgnbd(&text);
        let _ = crmlake::generate::parse_gamma_gamma(&text);
    }
}
