//! Customers: the rules every path that writes a customer or an address shares. Email
//! addresses are checked here once, for customers and for the digest's recipients alike.
//! (The rest of the customer rules still live in `src/graphql/customer_mutation.rs` and
//! move here with the domain-core work.)

/// Email addresses.
mod email;
/// Locks that serialise writers which read a customer before they write it.
pub mod locks;
/// Resolving `customerId` / `customerExternalId` references.
mod refs;

pub use email::EmailAddress;
pub use refs::{CustomerRef, parse_id, resolve as resolve_refs, resolve_one as resolve_ref};

/// Most rows one bulk call (customers, orders) may carry.
pub const MAX_BATCH: usize = 1000;
