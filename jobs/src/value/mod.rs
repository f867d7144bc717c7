//! Customer value models — the pure math behind the value scores, free of I/O and
//! synchronous, so that jobs, the CLI and tests all run the same numbers.
//!
//! - [`rfm`]: recency/frequency/monetary quintile scores and the 11 named RFM groups.
//! - [`bgnbd`]: the BG/NBD repeat-buying model (Fader, Hardie & Lee 2005) — fit,
//!   P(alive) and expected purchases over a horizon.
//! - [`gamma_gamma`]: the Gamma-Gamma spend model (Fader & Hardie 2013) — fit and the
//!   expected value of a customer's future orders.
//! - [`clv`]: discounted customer lifetime value from the two models, explicit time units,
//!   and HIGH/MEDIUM/LOW value tiers.
//!
//! The building blocks underneath: [`special`] (ln Γ, ψ, ₂F₁), a small BFGS minimiser,
//! and one error type, [`ValueModelError`].

/// BG/NBD: likelihood, maximum-likelihood fit, P(alive), expected purchases.
pub mod bgnbd;
/// Discounted CLV over a horizon in months, time units, value tiers.
pub mod clv;
/// The error every fallible value-model function returns.
pub mod error;
/// Gamma-Gamma spend model: fit, expected value of future orders.
pub mod gamma_gamma;
/// RFM quintile scores and the 11 named RFM groups.
pub mod rfm;
/// From per-customer purchase summaries to every score of the `value-scores` job.
pub mod scoring;
/// Special functions: ln Γ, digamma, log-sum-exp, the hypergeometric ₂F₁.
pub mod special;

/// BFGS with a strong-Wolfe line search, for the model fits.
mod optimize;

/// Test-only loader of the CDNOW sample, summarised like the published analyses.
#[cfg(test)]
mod cdnow;

pub use error::ValueModelError;
