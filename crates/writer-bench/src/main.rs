//! Benchmarks (run with `cargo xtask bench`).
fn main() {}
