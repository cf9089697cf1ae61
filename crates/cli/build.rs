//! Links the `airlock` binary as a position-dependent executable: a hook runs as a whole process on every agent
//! tool call, and a position-independent one spends a measurable part of its start applying ~35k relocations.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
