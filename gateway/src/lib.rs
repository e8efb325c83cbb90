//! Gateway library.
pub mod http;
