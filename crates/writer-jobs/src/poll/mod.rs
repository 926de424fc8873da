//! Poll one job until it is done.

mod policy;

pub use policy::{PollPolicy, PollPolicyBuilder};
