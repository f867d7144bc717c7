//! clientele: a customer-strategy engine. This crate holds the command line, the
//! configuration, the HTTP server and the GraphQL API; `jobs` computes and sends,
//! `entity` and `migration` own the tables.

/// API keys: creation, hashing, scopes and authentication.
pub mod api_keys;
/// The `clientele` command line.
pub mod cli;
/// Typed settings: defaults, then `clientele.toml`, then environment and flags.
pub mod configuration;
/// Connecting to SQLite or PostgreSQL, with retries and a password-free URL for messages.
pub mod database;
/// A synthetic, realistic customer base for demos and benchmarks.
pub mod demo;
/// Parsed profile values (phone, country, …), kept in the domain core.
pub use jobs::domain;
/// The GraphQL schema and its resolvers.
pub mod graphql;
/// The actix-web application: routes, authentication, health and metrics.
pub mod http;
/// Building and running the server and the scheduler.
pub mod startup;
/// Logging set-up.
pub mod telemetry;
