//! The small pieces both crates of the workspace need, in one home: a problem in an input file
//! named by file, line and field ([`Problem`], found with [`locate`]), a hash that is the same in
//! every build ([`fnv1a`]), the `*` name patterns thresholds and tool policies use ([`glob`]), and
//! the signal that stops a service or a run ([`shutdown_signal`]), and the process set up before its
//! first thread starts so that growing never stalls it ([`startup`]), and the async runtime sized to
//! the cores the process may use ([`runtime`]).
//!
//! It depends on nothing of the product, so `loadsuite` can use it without linking the mocks.

pub mod glob;
pub mod hash;
pub mod locate;
mod problem;
pub mod runtime;
mod signal;
pub mod startup;

pub use hash::{Fnv1a, fnv1a};
pub use problem::Problem;
pub use signal::shutdown_signal;
