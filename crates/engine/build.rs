//! Embeds every `catalog/*.toml` file into the engine (the engine itself does no I/O). Writes two lists to
//! `$OUT_DIR`, sorted by family:
//! - `catalog_files.rs`: `(family, toml text)` — the catalogue as written, with its examples, for
//!   `airlock explain` and the test that walks every example;
//! - `catalog_runtime.rs`: `(family, json text)` — the same rules without examples, as compact JSON, which
//!   the engine parses at start-up (a hook is a fresh process per call, so start-up time matters).
#![allow(
    clippy::disallowed_methods,
    reason = "a build script reads the catalogue directory and writes OUT_DIR"
)]

use std::{env, fs, path::PathBuf, process::exit};

fn fail(message: String) -> ! {
    println!("cargo:warning={message}");
    eprintln!("{message}");
    exit(1)
}

fn main() {
    let dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default()).join("catalog");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "toml"));
    files.sort();
    let mut sources = String::from("&[\n");
    let mut runtime = String::from("&[\n");
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let family = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        sources.push_str(&format!(
            "    ({family:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
        let text = fs::read_to_string(path)
            .unwrap_or_else(|e| fail(format!("cannot read {}: {e}", path.display())));
        let mut table: toml::Table =
            toml::from_str(&text).unwrap_or_else(|e| fail(format!("catalog/{family}.toml: {e}")));
        if let Some(toml::Value::Array(rules)) = table.get_mut("rule") {
            for rule in rules.iter_mut() {
                if let toml::Value::Table(rule) = rule {
                    rule.remove("match");
                    rule.remove("no_match");
                }
            }
        }
        let json = serde_json::to_string(&table)
            .unwrap_or_else(|e| fail(format!("catalog/{family}.toml: {e}")));
        runtime.push_str(&format!("    ({family:?}, {json:?}),\n"));
    }
    sources.push_str("]\n");
    runtime.push_str("]\n");
    for (name, text) in [
        ("catalog_files.rs", sources),
        ("catalog_runtime.rs", runtime),
    ] {
        if let Err(err) = fs::write(out_dir.join(name), text) {
            fail(format!("cannot write {name}: {err}"));
        }
    }
}
