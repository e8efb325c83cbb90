//! Pipeline benchmark.
fn main() {}
