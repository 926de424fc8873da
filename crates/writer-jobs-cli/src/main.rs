//! The `writer-jobs` command line.
fn main() {}
