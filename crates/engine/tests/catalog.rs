//! Walks the whole catalogue: every `match` example fires its rule, no `no_match` example does, ids are
//! unique and well-formed, every rule has a reason and examples. Failures name the file and the rule.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "tests fail by panicking"
)]

use airlock_engine::catalog::{example_request, family_kinds};
use airlock_engine::{Catalog, Engine, Envelope, Verdict};

#[test]
fn every_catalogue_example_fires_its_rule_and_no_counter_example_does() {
    let engine = Engine::new().unwrap();
    let kinds = family_kinds().unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for rule in Catalog::embedded_with_examples().unwrap().rules() {
        let kind = kinds[&rule.family];
        let where_ = format!(
            "catalog/{}.toml rule {} ({})",
            rule.family, rule.id, rule.name
        );
        if rule.why.trim().is_empty() {
            failures.push(format!("{where_}: empty `why`"));
        }
        if !rule.family.eq("engine") && rule.must_match.is_empty() {
            failures.push(format!("{where_}: no `match` examples"));
        }
        for (examples, must) in [(&rule.must_match, true), (&rule.no_match, false)] {
            for example in examples {
                checked += 1;
                let request = match example_request(kind, example) {
                    Ok(r) => r,
                    Err(e) => {
                        failures.push(format!("{where_}: example {example:?} unreadable: {e}"));
                        continue;
                    }
                };
                let actions = engine.classify(&Envelope::new(request));
                let fired = actions.iter().any(|a| a.evidence.rule == rule.id);
                if fired != must {
                    let got: Vec<&str> = actions.iter().map(|a| a.evidence.rule.as_str()).collect();
                    let what = if must {
                        "does not fire"
                    } else {
                        "fires on counter-example"
                    };
                    failures.push(format!(
                        "{where_}: {what} {example:?} (rules fired: {got:?})"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} catalogue failures of {checked} examples:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn rule_ids_have_a_family_prefix_and_three_digits() {
    let engine = Engine::new().unwrap();
    for rule in engine.catalog().rules() {
        let letters = rule.id.trim_end_matches(|c: char| c.is_ascii_digit());
        let digits = &rule.id[letters.len()..];
        assert!(
            (2..=4).contains(&letters.len())
                && letters.chars().all(|c| c.is_ascii_uppercase())
                && digits.len() == 3,
            "catalog/{}.toml: rule id `{}` must be 2-4 capital letters and 3 digits",
            rule.family,
            rule.id
        );
        assert!(
            rule.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "catalog/{}.toml: rule `{}` name `{}` must be kebab-case",
            rule.family,
            rule.id,
            rule.name
        );
        assert_ne!(
            rule.verdict,
            Verdict::Allow,
            "catalog/{}.toml: rule `{}` cannot suggest allow",
            rule.family,
            rule.id
        );
    }
}

#[test]
fn the_runtime_catalogue_has_the_same_rules_as_the_files() {
    let runtime = Catalog::embedded().unwrap();
    let written = Catalog::embedded_with_examples().unwrap();
    assert_eq!(runtime.rules().len(), written.rules().len());
    for (a, b) in runtime.rules().iter().zip(written.rules()) {
        assert_eq!(
            (&a.id, &a.name, &a.family, a.verdict, a.effect, &a.why),
            (&b.id, &b.name, &b.family, b.verdict, b.effect, &b.why)
        );
        assert_eq!(
            format!("{:?}{:?}{:?}{:?}", a.shell, a.http, a.graphql, a.mcp),
            format!("{:?}{:?}{:?}{:?}", b.shell, b.http, b.graphql, b.mcp)
        );
        assert!(
            a.must_match.is_empty() && a.no_match.is_empty(),
            "runtime rules carry no examples"
        );
    }
}
