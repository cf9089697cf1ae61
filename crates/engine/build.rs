//! Embeds every `catalog/*.toml` file into the engine (the engine itself does no I/O): writes
//! `$OUT_DIR/catalog_files.rs`, a sorted list of `(family, contents)` pairs.
#![allow(
    clippy::disallowed_methods,
    reason = "a build script reads the catalogue directory and writes OUT_DIR"
)]

use std::{env, fs, path::PathBuf};

fn main() {
    let dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default()).join("catalog");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "toml"));
    files.sort();
    let mut out = String::from("&[\n");
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let family = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        out.push_str(&format!(
            "    ({family:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    out.push_str("]\n");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    if let Err(err) = fs::write(out_dir.join("catalog_files.rs"), out) {
        println!("cargo:warning=cannot write catalog_files.rs: {err}");
        std::process::exit(1);
    }
}
