//! Thread-per-core runtime (see crate docs once it lands).
#![forbid(unsafe_code)]
