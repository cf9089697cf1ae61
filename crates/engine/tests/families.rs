//! One insta snapshot per catalogue family: for every `match` example, the decision, the rules that
//! fired, the policy rule that judged it and the text its span covers. A behaviour change shows up as a
//! reviewable diff of `tests/snapshots/families__<family>.snap`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::collections::BTreeMap;
use std::fmt::Write as _;

use airlock_engine::catalog::{example_request, family_kinds};
use airlock_engine::{Catalog, Engine, Envelope, Request};

/// The text a span refers to, for each kind of request (see each classifier's span convention).
fn span_text(request: &Request, start: usize, end: usize) -> String {
    let text = match request {
        Request::Shell(r) => r.command.clone(),
        Request::Sql(r) => r.sql.clone(),
        Request::Http(r) => airlock_engine::classify::http::http_text(r),
        Request::Mcp(r) => airlock_engine::classify::mcp::mcp_text(r),
        Request::File(r) => r.path.clone(),
    };
    text.get(start..end)
        .unwrap_or("<span outside input>")
        .replace('\n', "⏎")
}

#[test]
fn every_family_snapshot() {
    let engine = Engine::new().unwrap();
    let kinds = family_kinds().unwrap();
    let mut by_family: BTreeMap<String, String> = BTreeMap::new();
    for rule in Catalog::embedded_with_examples().unwrap().rules() {
        let out = by_family.entry(rule.family.clone()).or_default();
        writeln!(out, "{} {} ({})", rule.id, rule.name, rule.verdict.as_str()).unwrap();
        for example in &rule.must_match {
            let request = example_request(kinds[&rule.family], example).unwrap();
            let decision = engine.decide(&Envelope::new(request.clone()));
            let fired: Vec<&str> = decision
                .actions
                .iter()
                .map(|a| a.evidence.rule.as_str())
                .collect();
            let mine = decision.reasons.iter().find(|r| r.rule == rule.id);
            let (policy, span) = match mine {
                Some(r) => (
                    r.policy.as_str(),
                    r.span.map(|s| span_text(&request, s.start, s.end)),
                ),
                None => ("-", None),
            };
            writeln!(
                out,
                "  {:?}\n    => {} by {policy}; rules {fired:?}; span {:?}",
                example,
                decision.verdict.as_str(),
                span.unwrap_or_default()
            )
            .unwrap();
        }
    }
    for (family, text) in by_family {
        insta::assert_snapshot!(family, text);
    }
}
