//! Shared helpers for the cross-crate tests: the spec as test data, and the
//! tools that hold the wire to it.
//!
//! - [`spec`]: load `openapi/writer-jobs.yaml`, its operations, and its
//!   component schemas converted to JSON Schema, with validators;
//! - [`checker`]: whether one recorded HTTP exchange matches the spec
//!   (operation, query parameters, request and response bodies);
//! - [`proxy`]: a recording proxy to put between a client and a server;
//! - [`shape`]: schemas reduced to comparable shapes (spec vs `schemars`);
//! - [`canned`]: a server answering one canned body, to feed exact wire data
//!   through the real client;
//! - [`strategy`]: proptest strategies that produce JSON from the spec's
//!   schemas (valid, newer-server, or broken);
//! - [`conformance`]: the six-operation suite against any server.
#![deny(missing_docs)]

pub mod canned;
pub mod checker;
pub mod conformance;
pub mod proxy;
pub mod shape;
pub mod spec;
pub mod strategy;

pub use checker::{Checker, Exchange, Report, Violation};
pub use spec::Spec;
