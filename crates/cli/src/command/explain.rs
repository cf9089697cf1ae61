//! `airlock explain RULE`: a catalogue rule's reason and examples (like `ruff rule CODE`).

use airlock_engine::Catalog;
use clap::Args;

/// Arguments of `airlock explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Rule id (e.g. `SHF001`) or name (e.g. `rm-recursive`); `--all` lists every rule.
    rule: Option<String>,
    /// List every rule, one per line.
    #[arg(long)]
    all: bool,
}

/// Runs `airlock explain`.
pub fn run(args: ExplainArgs) -> anyhow::Result<i32> {
    let catalog = Catalog::embedded_with_examples()?;
    if args.all || args.rule.is_none() {
        for rule in catalog.rules() {
            println!(
                "{:<8} {:<5} {:<10} {}",
                rule.id,
                rule.verdict.as_str(),
                rule.family,
                rule.name
            );
        }
        return Ok(0);
    }
    let wanted = args.rule.unwrap_or_default();
    let rule = catalog
        .rules()
        .iter()
        .find(|r| r.id.eq_ignore_ascii_case(&wanted) || r.name == wanted)
        .ok_or_else(|| {
            anyhow::anyhow!("no catalogue rule `{wanted}`; `airlock explain --all` lists them")
        })?;
    println!("{} {} ({} family)", rule.id, rule.name, rule.family);
    println!(
        "verdict: {}  effect: {}  blast radius: {}",
        rule.verdict.as_str(),
        rule.effect.as_str(),
        rule.blast_radius.as_str()
    );
    println!("why: {}", rule.why);
    for m in &rule.must_match {
        println!("  fires on:      {m}");
    }
    for m in &rule.no_match {
        println!("  does not fire: {m}");
    }
    Ok(0)
}
