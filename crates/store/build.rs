//! Rebuilds the store when a migration is added: `sqlx::migrate!` embeds `migrations/` at compile time, and
//! Cargo only re-runs a macro when a file it already knows about changes (the build script sqlx recommends).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
