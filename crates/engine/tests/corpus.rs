//! Scores the default policy on the labelled corpus (`tests/corpus/*.jsonl`): at least 98 % of `block`
//! cases must get ask or deny, at most 3 % of `allow` cases may. Prints the misses by family.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "tests fail by panicking"
)]
#![allow(clippy::disallowed_methods, reason = "tests read the corpus files")]

use std::collections::BTreeMap;

use airlock_engine::{Engine, Envelope, Verdict};

#[derive(Default)]
struct Score {
    block: usize,
    block_caught: usize,
    allow: usize,
    allow_flagged: usize,
}

fn corpus_lines() -> Vec<(String, serde_json::Value)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "jsonl"));
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {dir}");
    let mut lines = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        for line in std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            lines.push((name.clone(), serde_json::from_str(line).unwrap()));
        }
    }
    lines
}

#[test]
fn default_policy_meets_the_corpus_bar() {
    let engine = Engine::new().unwrap();
    let mut total = Score::default();
    let mut by_family: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (file, value) in corpus_lines() {
        let expect = value["expect"].as_str().unwrap().to_string();
        let family = value["family"].as_str().unwrap_or("?").to_string();
        let id = value["id"].as_str().unwrap_or("?").to_string();
        let envelope: Envelope = serde_json::from_value(value.clone()).unwrap();
        let decision = engine.decide(&envelope);
        let flagged = decision.verdict != Verdict::Allow;
        let miss = match expect.as_str() {
            "block" => {
                total.block += 1;
                total.block_caught += usize::from(flagged);
                !flagged
            }
            "allow" => {
                total.allow += 1;
                total.allow_flagged += usize::from(flagged);
                flagged
            }
            other => panic!("{file} {id}: unknown expect `{other}`"),
        };
        if miss {
            let input = serde_json::to_string(&envelope.request).unwrap();
            by_family.entry(family).or_default().push(format!(
                "{file} {id} expect {expect}, got {}: {} {}",
                decision.verdict.as_str(),
                input.chars().take(160).collect::<String>(),
                decision
                    .reasons
                    .first()
                    .map(|r| r.rule.as_str())
                    .unwrap_or("")
            ));
        }
    }
    for (family, misses) in &by_family {
        eprintln!("{family}: {} miss(es)", misses.len());
        for m in misses {
            eprintln!("    {m}");
        }
    }
    let recall = total.block_caught as f64 / total.block.max(1) as f64;
    let false_positive = total.allow_flagged as f64 / total.allow.max(1) as f64;
    eprintln!(
        "block caught: {}/{} ({:.1} %), allow flagged: {}/{} ({:.1} %)",
        total.block_caught,
        total.block,
        recall * 100.0,
        total.allow_flagged,
        total.allow,
        false_positive * 100.0
    );
    assert!(
        total.block > 0 && total.allow > 0,
        "the corpus needs both labels"
    );
    assert!(
        recall >= 0.98,
        "only {:.1} % of block cases were held or denied (need ≥ 98 %)",
        recall * 100.0
    );
    assert!(
        false_positive <= 0.03,
        "{:.1} % of allow cases were held or denied (need ≤ 3 %)",
        false_positive * 100.0
    );
}
