//! The Gamma-Gamma model of monetary value (Fader & Hardie 2013, "The Gamma-Gamma Model
//! of Monetary Value"; first in Fader, Hardie & Lee 2005, "RFM and CLV: Using Iso-Value
//! Curves for Customer Base Analysis", JMR 42(4)).
//!
//! Each transaction's value is Gamma(p, ν); each customer's ν is Gamma(q, γ) across
//! customers. From x repeat transactions with mean value m̄ it estimates what a customer's
//! future orders will be worth: a weighted average of the population mean and the
//! customer's own mean, trusting the latter more the more orders back it. That expected
//! order value times the BG/NBD's expected purchases is the CLV ([`super::clv`]).
//!
//! The model assumes spend is independent of the purchase process; it is fitted on
//! customers with at least one repeat transaction, m̄ being the mean of the repeat
//! transactions only (the first purchase is often atypical), by maximum likelihood over
//! (ln p, ln q, ln γ) with BFGS and the analytic gradient, customers with identical
//! (x, m̄) evaluated once.

use serde::{Deserialize, Serialize};

use super::error::ValueModelError;
use super::optimize::{self, Settings};
use super::special::{digamma, ln_gamma};

const MODEL: &str = "Gamma-Gamma";

const FIT_SETTINGS: Settings = Settings {
    max_iterations: 500,
    gradient_tolerance: 1e-9,
    max_step: 2.0,
};

/// ln 10⁸, as in `bgnbd`: a parameter outside [10⁻⁸, 10⁸] means the fit ran off to a
/// boundary of the parameter space.
const LN_PARAMETER_BOUND: f64 = 18.420_680_743_952_367;

/// The three Gamma-Gamma parameters: transaction value ~ Gamma(shape p, rate ν),
/// ν ~ Gamma(shape q, rate γ). γ is in the currency unit of the values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaParams {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

/// The maximum-likelihood fit and its diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaFit {
    pub params: GammaGammaParams,
    /// Total log-likelihood of the customers' mean repeat values at `params`.
    pub log_likelihood: f64,
    /// Quasi-Newton iterations.
    pub iterations: usize,
    /// Euclidean norm of the gradient of the mean per-customer log-likelihood with respect
    /// to (ln p, ln q, ln γ) at `params`.
    pub gradient_norm: f64,
    /// Whether `gradient_norm` reached the tolerance (1e-9).
    pub converged: bool,
}

/// A customer's repeat spending: x repeat transactions and their mean value m̄.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpendHistory {
    repeat_transactions: u32,
    mean_repeat_value: f64,
}

impl SpendHistory {
    /// With x ≥ 1 the mean must be positive and finite: a Gamma-distributed value is never
    /// zero, so customers whose repeat orders were all free cannot enter the model. With
    /// x = 0 the mean is ignored (stored as 0).
    pub fn new(repeat_transactions: u32, mean_repeat_value: f64) -> Result<Self, ValueModelError> {
        if repeat_transactions == 0 {
            return Ok(Self {
                repeat_transactions,
                mean_repeat_value: 0.0,
            });
        }
        if !(mean_repeat_value.is_finite() && mean_repeat_value > 0.0) {
            return Err(ValueModelError::InvalidHistory {
                reason: "the mean repeat-transaction value must be positive and finite",
            });
        }
        Ok(Self {
            repeat_transactions,
            mean_repeat_value,
        })
    }

    /// x: transactions after the first.
    pub fn repeat_transactions(&self) -> u32 {
        self.repeat_transactions
    }

    /// m̄: their mean value (0 when x = 0).
    pub fn mean_repeat_value(&self) -> f64 {
        self.mean_repeat_value
    }
}

/// ln f(m̄ | p, q, γ, x), the density of a customer's mean repeat value (Fader & Hardie
/// 2013, eq. 3): Γ(px+q)/(Γ(px)Γ(q)) · γ^q · m̄^(px−1) · x^(px) / (γ + m̄x)^(px+q).
/// Zero for x = 0, which carries no spend information.
pub fn customer_log_likelihood(params: &GammaGammaParams, history: &SpendHistory) -> f64 {
    if history.repeat_transactions == 0 {
        return 0.0;
    }
    let GammaGammaParams { p, q, gamma } = *params;
    let x = f64::from(history.repeat_transactions);
    let m = history.mean_repeat_value;
    ln_gamma(p * x + q) - ln_gamma(p * x) - ln_gamma(q)
        + q * gamma.ln()
        + (p * x - 1.0) * m.ln()
        + p * x * x.ln()
        - (p * x + q) * (gamma + m * x).ln()
}

/// Total log-likelihood of the customers with x ≥ 1.
pub fn log_likelihood(
    params: &GammaGammaParams,
    histories: &[SpendHistory],
) -> Result<f64, ValueModelError> {
    check_params(params)?;
    Ok(GroupedSpend::new(histories)?.evaluate(params).0)
}

/// Gradient of the total log-likelihood with respect to (ln p, ln q, ln γ).
pub fn log_likelihood_gradient(
    params: &GammaGammaParams,
    histories: &[SpendHistory],
) -> Result<[f64; 3], ValueModelError> {
    check_params(params)?;
    let (_, gradient) = GroupedSpend::new(histories)?.evaluate(params);
    Ok(to_log_coordinates(params, gradient))
}

/// Maximum-likelihood fit on the customers with at least one repeat transaction (the
/// others are skipped).
///
/// Errors: no customers; nobody with a repeat transaction; a fit that runs off to a
/// boundary (one customer, or everybody's mean exactly equal: the data then say spend
/// does not vary, which the model can only approach with p, q → ∞).
pub fn fit(histories: &[SpendHistory]) -> Result<GammaGammaFit, ValueModelError> {
    let groups = GroupedSpend::new(histories)?;
    // Start at p = 1, q = 2 and the γ that makes the population mean pγ/(q − 1) the
    // observed mean, so the start scales with the currency.
    let mean_value = groups
        .groups
        .iter()
        .map(|g| g.customers * g.mean_value)
        .sum::<f64>()
        / groups.customers;
    let start = [0.0, 2f64.ln(), mean_value.ln()];
    let customers = groups.customers;
    let objective = |theta: &[f64; 3]| {
        let params = from_log_coordinates(theta);
        let (ll, gradient) = groups.evaluate(&params);
        let gradient = to_log_coordinates(&params, gradient);
        (-ll / customers, gradient.map(|g| -g / customers))
    };
    let diverged = |iterations| ValueModelError::FitDiverged {
        model: MODEL,
        iterations,
    };
    let minimum = optimize::minimize(objective, start, &FIT_SETTINGS).ok_or(diverged(0))?;
    if minimum
        .point
        .iter()
        .any(|t| t.is_nan() || t.abs() > LN_PARAMETER_BOUND)
    {
        return Err(diverged(minimum.iterations));
    }
    Ok(GammaGammaFit {
        params: from_log_coordinates(&minimum.point),
        log_likelihood: -minimum.value * customers,
        iterations: minimum.iterations,
        gradient_norm: minimum.gradient.iter().map(|g| g * g).sum::<f64>().sqrt(),
        converged: minimum.converged,
    })
}

/// The population mean transaction value E[Z] = pγ/(q − 1); None when q ≤ 1 (the mean
/// is infinite).
pub fn population_mean_value(params: &GammaGammaParams) -> Option<f64> {
    let GammaGammaParams { p, q, gamma } = *params;
    (q > 1.0).then(|| p * gamma / (q - 1.0))
}

/// E[Z | p, q, γ, x, m̄] = p(γ + x m̄)/(px + q − 1) (Fader & Hardie 2013, eq. 5), the
/// expected value of this customer's future transactions: the weighted average
/// (q − 1)/(px + q − 1) · pγ/(q − 1) + px/(px + q − 1) · m̄ of the population mean and
/// the customer's own mean. For x = 0 it is the population mean. None where the
/// expectation is infinite (px + q ≤ 1).
pub fn conditional_expected_average_value(
    params: &GammaGammaParams,
    history: &SpendHistory,
) -> Option<f64> {
    let GammaGammaParams { p, q, gamma } = *params;
    let x = f64::from(history.repeat_transactions);
    let denominator = p * x + q - 1.0;
    (denominator > 0.0).then(|| p * (gamma + x * history.mean_repeat_value) / denominator)
}

fn check_params(params: &GammaGammaParams) -> Result<(), ValueModelError> {
    let GammaGammaParams { p, q, gamma } = *params;
    if [p, q, gamma].iter().all(|v| v.is_finite() && *v > 0.0) {
        Ok(())
    } else {
        Err(ValueModelError::InvalidArgument {
            name: "Gamma-Gamma parameters",
            reason: "p, q and γ must be positive and finite",
        })
    }
}

fn from_log_coordinates(theta: &[f64; 3]) -> GammaGammaParams {
    GammaGammaParams {
        p: theta[0].exp(),
        q: theta[1].exp(),
        gamma: theta[2].exp(),
    }
}

/// ∂/∂ln θ = θ · ∂/∂θ.
fn to_log_coordinates(params: &GammaGammaParams, gradient: [f64; 3]) -> [f64; 3] {
    [
        gradient[0] * params.p,
        gradient[1] * params.q,
        gradient[2] * params.gamma,
    ]
}

/// Customers with x ≥ 1 grouped by identical (x, m̄).
struct GroupedSpend {
    customers: f64,
    /// Distinct x, ascending.
    repeat_counts: Vec<f64>,
    groups: Vec<SpendGroup>,
}

struct SpendGroup {
    x_index: usize,
    x: f64,
    mean_value: f64,
    ln_mean_value: f64,
    ln_x: f64,
    customers: f64,
}

impl GroupedSpend {
    fn new(histories: &[SpendHistory]) -> Result<Self, ValueModelError> {
        if histories.is_empty() {
            return Err(ValueModelError::NoCustomers { model: MODEL });
        }
        let mut keys: Vec<(u32, u64)> = histories
            .iter()
            .filter(|h| h.repeat_transactions > 0)
            .map(|h| (h.repeat_transactions, h.mean_repeat_value.to_bits()))
            .collect();
        if keys.is_empty() {
            return Err(ValueModelError::NoRepeatPurchases { model: MODEL });
        }
        let customers = keys.len() as f64;
        // Positive floats sort like their bits; sorting also fixes the summation order.
        keys.sort_unstable();
        let mut repeat_counts: Vec<f64> = Vec::new();
        let mut groups: Vec<SpendGroup> = Vec::new();
        for (x, bits) in keys {
            let x = f64::from(x);
            let mean_value = f64::from_bits(bits);
            if let Some(last) = groups.last_mut()
                && last.x == x
                && last.mean_value == mean_value
            {
                last.customers += 1.0;
                continue;
            }
            if repeat_counts.last() != Some(&x) {
                repeat_counts.push(x);
            }
            groups.push(SpendGroup {
                x_index: repeat_counts.len() - 1,
                x,
                mean_value,
                ln_mean_value: mean_value.ln(),
                ln_x: x.ln(),
                customers: 1.0,
            });
        }
        Ok(Self {
            customers,
            repeat_counts,
            groups,
        })
    }

    /// Total log-likelihood and its gradient with respect to (p, q, γ):
    /// ∂/∂p = x[ψ(px+q) − ψ(px) + ln m̄ + ln x − ln(γ + m̄x)],
    /// ∂/∂q = ψ(px+q) − ψ(q) + ln γ − ln(γ + m̄x),
    /// ∂/∂γ = q/γ − (px+q)/(γ + m̄x).
    fn evaluate(&self, params: &GammaGammaParams) -> (f64, [f64; 3]) {
        let GammaGammaParams { p, q, gamma } = *params;
        let ln_gamma_param = gamma.ln();
        let (ln_gamma_q, digamma_q) = (ln_gamma(q), digamma(q));
        // Per distinct x: (ln Γ(px+q) − ln Γ(px), ψ(px+q), ψ(px+q) − ψ(px)).
        let per_x: Vec<(f64, f64, f64)> = self
            .repeat_counts
            .iter()
            .map(|&x| {
                let digamma_pxq = digamma(p * x + q);
                (
                    ln_gamma(p * x + q) - ln_gamma(p * x),
                    digamma_pxq,
                    digamma_pxq - digamma(p * x),
                )
            })
            .collect();
        let mut ll = 0.0;
        let mut gradient = [0.0; 3];
        for g in &self.groups {
            let (ln_gamma_ratio, digamma_pxq, digamma_difference) = per_x[g.x_index];
            let px = p * g.x;
            let total = gamma + g.mean_value * g.x;
            let ln_total = total.ln();
            let n = g.customers;
            ll += n
                * (ln_gamma_ratio - ln_gamma_q
                    + q * ln_gamma_param
                    + (px - 1.0) * g.ln_mean_value
                    + px * g.ln_x
                    - (px + q) * ln_total);
            gradient[0] += n * g.x * (digamma_difference + g.ln_mean_value + g.ln_x - ln_total);
            gradient[1] += n * (digamma_pxq - digamma_q + ln_gamma_param - ln_total);
            gradient[2] += n * (q / gamma - (px + q) / total);
        }
        (ll, gradient)
    }
}

#[cfg(test)]
mod tests {
    use super::super::cdnow::calibration_customers;
    use super::*;

    const PUBLISHED: GammaGammaParams = GammaGammaParams {
        p: 6.25,
        q: 3.74,
        gamma: 15.44,
    };

    fn relative_error(actual: f64, expected: f64) -> f64 {
        (actual - expected).abs() / expected.abs()
    }

    fn spend(x: u32, mean: f64) -> SpendHistory {
        SpendHistory::new(x, mean).unwrap()
    }

    /// Mean of the repeat transactions (day totals) in the calibration period.
    fn cdnow_spend() -> Vec<SpendHistory> {
        calibration_customers()
            .iter()
            .map(|c| spend(c.repeat_transactions, c.mean_repeat_value().unwrap_or(0.0)))
            .collect()
    }

    #[test]
    fn cdnow_fit_reproduces_the_published_parameters() {
        let histories = cdnow_spend();
        assert_eq!(
            histories
                .iter()
                .filter(|h| h.repeat_transactions() > 0)
                .count(),
            946
        );
        let fit = fit(&histories).unwrap();
        println!("CDNOW Gamma-Gamma fit: {fit:?}");
        assert!(fit.converged, "{fit:?}");
        let p = fit.params;
        for (name, got, published) in [
            ("p", p.p, PUBLISHED.p),
            ("q", p.q, PUBLISHED.q),
            ("gamma", p.gamma, PUBLISHED.gamma),
        ] {
            assert!(
                relative_error(got, published) < 0.005,
                "{name}: got {got}, published {published}"
            );
        }
    }

    #[test]
    fn grouped_log_likelihood_equals_the_sum_over_customers() {
        let histories = cdnow_spend();
        let direct: f64 = histories
            .iter()
            .map(|h| customer_log_likelihood(&PUBLISHED, h))
            .sum();
        let grouped = log_likelihood(&PUBLISHED, &histories).unwrap();
        assert!(
            relative_error(grouped, direct) < 1e-12,
            "{grouped} vs {direct}"
        );
    }

    #[test]
    fn analytic_gradient_matches_central_differences() {
        let mut histories = cdnow_spend();
        histories.push(spend(1, 1e-6));
        histories.push(spend(300, 1e4));
        for params in [
            PUBLISHED,
            GammaGammaParams {
                p: 1.0,
                q: 2.0,
                gamma: 40.0,
            },
            GammaGammaParams {
                p: 0.2,
                q: 0.7,
                gamma: 0.5,
            },
            GammaGammaParams {
                p: 60.0,
                q: 30.0,
                gamma: 900.0,
            },
        ] {
            let analytic = log_likelihood_gradient(&params, &histories).unwrap();
            let theta = [params.p, params.q, params.gamma].map(f64::ln);
            for i in 0..3 {
                let h = 1e-5;
                let mut up = theta;
                up[i] += h;
                let mut down = theta;
                down[i] -= h;
                let numeric = (log_likelihood(&from_log_coordinates(&up), &histories).unwrap()
                    - log_likelihood(&from_log_coordinates(&down), &histories).unwrap())
                    / (2.0 * h);
                let error = (analytic[i] - numeric).abs() / numeric.abs().max(1.0);
                assert!(
                    error < 1e-5,
                    "{params:?}, coordinate {i}: analytic {} vs numeric {numeric}",
                    analytic[i]
                );
            }
        }
    }

    #[test]
    fn conditional_expectation_weighs_population_and_customer_means() {
        let population = population_mean_value(&PUBLISHED).unwrap();
        assert!(relative_error(population, 6.25 * 15.44 / 2.74) < 1e-15);
        assert_eq!(
            conditional_expected_average_value(&PUBLISHED, &spend(0, 0.0)),
            Some(population)
        );
        for (x, m) in [(1, 10.0), (3, 80.0), (50, 20.0)] {
            let expected = conditional_expected_average_value(&PUBLISHED, &spend(x, m)).unwrap();
            let x = f64::from(x);
            let weight = PUBLISHED.p * x / (PUBLISHED.p * x + PUBLISHED.q - 1.0);
            assert!(relative_error(expected, (1.0 - weight) * population + weight * m) < 1e-14);
            assert!(expected > population.min(m) && expected < population.max(m));
        }
        // More orders at the same mean → closer to the customer's own mean.
        let one = conditional_expected_average_value(&PUBLISHED, &spend(1, 100.0)).unwrap();
        let ten = conditional_expected_average_value(&PUBLISHED, &spend(10, 100.0)).unwrap();
        assert!(one < ten && ten < 100.0);
        // Infinite population mean.
        let heavy = GammaGammaParams {
            q: 0.8,
            ..PUBLISHED
        };
        assert_eq!(population_mean_value(&heavy), None);
        assert_eq!(
            conditional_expected_average_value(&heavy, &spend(0, 0.0)),
            None
        );
        assert!(conditional_expected_average_value(&heavy, &spend(1, 5.0)).is_some());
    }

    #[test]
    fn degenerate_data_give_errors_not_panics() {
        assert_eq!(fit(&[]), Err(ValueModelError::NoCustomers { model: MODEL }));
        assert_eq!(
            fit(&[spend(0, 0.0), spend(0, 12.0)]),
            Err(ValueModelError::NoRepeatPurchases { model: MODEL })
        );
        // Zero, negative or NaN amounts never reach the model.
        assert!(SpendHistory::new(2, 0.0).is_err());
        assert!(SpendHistory::new(2, -5.0).is_err());
        assert!(SpendHistory::new(2, f64::NAN).is_err());
        assert!(SpendHistory::new(2, f64::INFINITY).is_err());
        for data in [
            vec![spend(2, 30.0)],
            vec![spend(1, 20.0), spend(4, 20.0), spend(2, 20.0)],
            vec![spend(1, 20.0); 100],
        ] {
            match fit(&data) {
                Ok(fit) => {
                    let p = fit.params;
                    assert!(
                        [p.p, p.q, p.gamma, fit.log_likelihood]
                            .iter()
                            .all(|v| v.is_finite()),
                        "{fit:?}"
                    );
                }
                Err(error) => assert!(
                    matches!(error, ValueModelError::FitDiverged { .. }),
                    "{error}"
                ),
            }
        }
        assert!(
            log_likelihood(
                &GammaGammaParams {
                    q: 0.0,
                    ..PUBLISHED
                },
                &[spend(1, 1.0)]
            )
            .is_err()
        );
    }

    #[test]
    fn fit_does_not_depend_on_the_currency_unit() {
        let histories = cdnow_spend();
        let in_cents: Vec<SpendHistory> = histories
            .iter()
            .map(|h| spend(h.repeat_transactions(), h.mean_repeat_value() * 100.0))
            .collect();
        let dollars = fit(&histories).unwrap().params;
        let cents = fit(&in_cents).unwrap().params;
        assert!(relative_error(cents.p, dollars.p) < 1e-6);
        assert!(relative_error(cents.q, dollars.q) < 1e-6);
        assert!(relative_error(cents.gamma, dollars.gamma * 100.0) < 1e-6);
    }
}
