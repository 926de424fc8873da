//! Poll one job until it is done.
//!
//! A [`Wait`] polls by a [`PollPolicy`]: a curve without jitter, capped so
//! that a finished job is noticed soon, and a finite deadline that ends the
//! wait with [`Error::Deadline`](crate::Error::Deadline) after one last
//! poll. A status the client does not know is treated as unfinished.
//! Dropping the future cancels the wait. For many jobs at once, the batch
//! engine's shared poller costs far fewer requests than one wait per job.

mod policy;
mod wait;

pub use policy::{PollPolicy, PollPolicyBuilder};
pub use wait::{CreateAndWait, StatusCallback, Wait, WaitFuture};
