//! A faithful local simulator of Writer's async applications jobs API.
#![deny(missing_docs)]
