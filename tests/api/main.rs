//! Black-box tests of the whole service: a real server on a random port, real HTTP, a
//! database of its own per test — SQLite always, PostgreSQL too when
//! `TEST_POSTGRES_URL` is set, Citus when `TEST_CITUS_URL` is. One binary, so the suite
//! links once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;
mod processes;
mod smtp_sink;

mod abuse;
mod auth;
mod care;
mod churn;
mod cli;
mod concurrency;
mod customers;
mod demo;
mod distribution;
mod figures;
mod filters;
mod graphiql;
mod lifecycle;
mod loyalty;
mod orders;
mod pagination;
mod privacy;
mod referrals;
mod satisfaction;
mod scale;
mod scheduler;
mod schema;
mod segments;
mod surveys;
mod timeline;
mod totals;
mod unsubscribe;
mod validation;
mod value_scores;
