//! Customers: the rules every path that writes a customer or an address shares. Email
//! addresses are checked here once, for customers and for the digest's recipients alike.
//! (The rest of the customer rules still live in `src/graphql/customer_mutation.rs` and
//! move here with the domain-core work.)

/// Email addresses.
mod email;

pub use email::EmailAddress;
