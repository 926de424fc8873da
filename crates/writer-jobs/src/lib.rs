//! High-level client for Writer's async applications jobs API.
#![deny(missing_docs)]

pub mod clock;
