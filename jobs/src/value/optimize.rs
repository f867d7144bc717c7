//! A small quasi-Newton minimiser: BFGS with a strong-Wolfe line search (Nocedal & Wright,
//! "Numerical Optimization", 2nd ed., algorithms 6.1, 3.5 and 3.6), for the three or four
//! log-parameters of the value models.
//!
//! Why hand-rolled: with N ≤ 4 parameters the dense inverse-Hessian update is a few dozen
//! flops, smaller than L-BFGS's history, and a general optimisation crate would bring a
//! dependency tree far larger than these two hundred lines. The cost of a fit is all in
//! the objective.
//!
//! One addition to the textbook line search: near the optimum the decrease promised by a
//! step falls below the rounding error of a log-likelihood in the thousands, and the
//! Armijo test then fails for no real reason. Like Hager & Zhang's "approximate Wolfe"
//! conditions, a step is also accepted when the value did not rise beyond rounding and
//! the directional derivative shows the step moved towards the minimum; that is what lets
//! the gradient be driven to ~1e-9 instead of stalling at ~1e-6.

/// Armijo (sufficient decrease) constant.
const C1: f64 = 1e-4;
/// Curvature constant; 0.9 is the usual choice for quasi-Newton directions.
const C2: f64 = 0.9;
/// Trial steps per line search, in the bracketing and in the zoom phase each.
const MAX_TRIALS: usize = 40;

/// How hard to try.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub max_iterations: usize,
    /// Converged when the Euclidean norm of the gradient is at most this.
    pub gradient_tolerance: f64,
    /// The largest change of any coordinate in one iteration: in log-parameters, 2.0
    /// means no parameter moves by more than a factor e² ≈ 7.4 per iteration.
    pub max_step: f64,
}

/// Where the minimiser stopped.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Minimum<const N: usize> {
    pub point: [f64; N],
    pub value: f64,
    pub gradient: [f64; N],
    pub iterations: usize,
    pub converged: bool,
}

/// Minimises `objective`, which returns the value and the gradient at a point (a
/// non-finite value marks a point outside the domain). None when the start itself is not
/// finite.
pub(crate) fn minimize<const N: usize>(
    mut objective: impl FnMut(&[f64; N]) -> (f64, [f64; N]),
    start: [f64; N],
    settings: &Settings,
) -> Option<Minimum<N>> {
    let (mut value, mut gradient) = objective(&start);
    if !value.is_finite() || !gradient.iter().all(|g| g.is_finite()) {
        return None;
    }
    let mut point = start;
    let mut inverse_hessian = identity::<N>();
    let mut hessian_is_identity = true;
    let mut iterations = 0;
    while iterations < settings.max_iterations && norm(&gradient) > settings.gradient_tolerance {
        let mut direction = negated(&mat_vec(&inverse_hessian, &gradient));
        let mut slope = dot(&gradient, &direction);
        if slope.is_nan() || slope >= 0.0 {
            // The approximation lost positive definiteness: fall back to steepest descent.
            inverse_hessian = identity::<N>();
            hessian_is_identity = true;
            direction = negated(&gradient);
            slope = -dot(&gradient, &gradient);
        }
        let longest = direction.iter().fold(0.0_f64, |m, d| m.max(d.abs()));
        let initial_step = if longest > settings.max_step {
            settings.max_step / longest
        } else {
            1.0
        };
        let Some(trial) = line_search(
            &mut objective,
            &point,
            value,
            slope,
            &direction,
            initial_step,
        ) else {
            if hessian_is_identity {
                break;
            }
            // A stale curvature model can point badly; retry once along the gradient.
            inverse_hessian = identity::<N>();
            hessian_is_identity = true;
            continue;
        };
        let step: [f64; N] = std::array::from_fn(|i| trial.alpha * direction[i]);
        let change: [f64; N] = std::array::from_fn(|i| trial.gradient[i] - gradient[i]);
        let curvature = dot(&step, &change);
        if curvature > f64::EPSILON * norm(&step) * norm(&change) {
            if hessian_is_identity {
                // Nocedal & Wright (6.20): scale the first approximation to the curvature
                // just seen, so the first quasi-Newton step has a sensible length.
                let scale = curvature / dot(&change, &change);
                inverse_hessian = std::array::from_fn(|i| {
                    std::array::from_fn(|j| if i == j { scale } else { 0.0 })
                });
            }
            bfgs_update(&mut inverse_hessian, &step, &change, curvature);
            hessian_is_identity = false;
        }
        point = std::array::from_fn(|i| point[i] + step[i]);
        value = trial.value;
        gradient = trial.gradient;
        iterations += 1;
    }
    Some(Minimum {
        point,
        value,
        gradient,
        iterations,
        converged: norm(&gradient) <= settings.gradient_tolerance,
    })
}

/// H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ with ρ = 1/(yᵀs), expanded.
fn bfgs_update<const N: usize>(h: &mut [[f64; N]; N], s: &[f64; N], y: &[f64; N], sy: f64) {
    let rho = 1.0 / sy;
    let hy = mat_vec(h, y);
    let yhy = dot(y, &hy);
    let ss_factor = rho * rho * yhy + rho;
    for i in 0..N {
        for j in 0..N {
            h[i][j] += ss_factor * s[i] * s[j] - rho * (hy[i] * s[j] + s[i] * hy[j]);
        }
    }
}

/// One evaluated point along the search direction.
#[derive(Clone, Copy)]
struct Trial<const N: usize> {
    alpha: f64,
    /// +∞ where the objective was not finite.
    value: f64,
    gradient: [f64; N],
    /// Directional derivative; NaN where the objective was not finite.
    slope: f64,
}

impl<const N: usize> Trial<N> {
    fn is_finite(&self) -> bool {
        self.value.is_finite() && self.slope.is_finite()
    }
}

/// Strong-Wolfe line search (Nocedal & Wright algorithm 3.5, zoom 3.6) along `direction`
/// from `point`, whose value is `value0` and directional derivative `slope0` < 0.
fn line_search<const N: usize>(
    objective: &mut impl FnMut(&[f64; N]) -> (f64, [f64; N]),
    point: &[f64; N],
    value0: f64,
    slope0: f64,
    direction: &[f64; N],
    initial_step: f64,
) -> Option<Trial<N>> {
    let mut evaluate = |alpha: f64| -> Trial<N> {
        let trial_point: [f64; N] = std::array::from_fn(|i| point[i] + alpha * direction[i]);
        let (value, gradient) = objective(&trial_point);
        let slope = dot(&gradient, direction);
        if value.is_finite() && slope.is_finite() {
            Trial {
                alpha,
                value,
                gradient,
                slope,
            }
        } else {
            Trial {
                alpha,
                value: f64::INFINITY,
                gradient,
                slope: f64::NAN,
            }
        }
    };
    let rounding = 1e-12 * (1.0 + value0.abs());
    let decreases_enough = |trial: &Trial<N>| {
        trial.is_finite()
            && (trial.value <= value0 + C1 * trial.alpha * slope0
                || (trial.value <= value0 + rounding && trial.slope <= (1.0 - 2.0 * C1) * -slope0))
    };
    let curvature_ok = |trial: &Trial<N>| trial.slope.abs() <= -C2 * slope0;

    let origin = Trial {
        alpha: 0.0,
        value: value0,
        gradient: [0.0; N],
        slope: slope0,
    };
    let mut previous = origin;
    let mut alpha = initial_step;
    for i in 0..MAX_TRIALS {
        let trial = evaluate(alpha);
        if !decreases_enough(&trial) || (i > 0 && trial.value >= previous.value) {
            return zoom(
                &mut evaluate,
                &decreases_enough,
                &curvature_ok,
                previous,
                trial,
            );
        }
        if curvature_ok(&trial) {
            return Some(trial);
        }
        if trial.slope >= 0.0 {
            return zoom(
                &mut evaluate,
                &decreases_enough,
                &curvature_ok,
                trial,
                previous,
            );
        }
        previous = trial;
        alpha *= 2.0;
    }
    (previous.alpha > 0.0).then_some(previous)
}

/// Narrows [low, high] (either order) until a point meets both Wolfe conditions. `low`
/// always decreases enough and has the lowest value seen; it is returned if the interval
/// collapses first, since any decrease is progress.
fn zoom<const N: usize>(
    evaluate: &mut impl FnMut(f64) -> Trial<N>,
    decreases_enough: &impl Fn(&Trial<N>) -> bool,
    curvature_ok: &impl Fn(&Trial<N>) -> bool,
    mut low: Trial<N>,
    mut high: Trial<N>,
) -> Option<Trial<N>> {
    for _ in 0..MAX_TRIALS {
        let alpha = interpolate(&low, &high);
        if (alpha - low.alpha).abs() <= f64::EPSILON * low.alpha.abs().max(1e-300) {
            break;
        }
        let trial = evaluate(alpha);
        if !decreases_enough(&trial) || trial.value >= low.value {
            high = trial;
        } else {
            if curvature_ok(&trial) {
                return Some(trial);
            }
            if trial.slope * (high.alpha - low.alpha) >= 0.0 {
                high = low;
            }
            low = trial;
        }
    }
    (low.alpha > 0.0).then_some(low)
}

/// The minimiser of the cubic through both ends' values and slopes, kept at least a
/// tenth of the interval away from either end; the midpoint when the cubic is unusable
/// (an end outside the domain, or no real minimiser).
fn interpolate<const N: usize>(low: &Trial<N>, high: &Trial<N>) -> f64 {
    let midpoint = 0.5 * (low.alpha + high.alpha);
    if !low.is_finite() || !high.is_finite() {
        return midpoint;
    }
    let d1 = low.slope + high.slope - 3.0 * (low.value - high.value) / (low.alpha - high.alpha);
    let radicand = d1 * d1 - low.slope * high.slope;
    if radicand < 0.0 {
        return midpoint;
    }
    let d2 = (high.alpha - low.alpha).signum() * radicand.sqrt();
    let alpha = high.alpha
        - (high.alpha - low.alpha) * (high.slope + d2 - d1) / (high.slope - low.slope + 2.0 * d2);
    let (left, right) = if low.alpha < high.alpha {
        (low.alpha, high.alpha)
    } else {
        (high.alpha, low.alpha)
    };
    let margin = 0.1 * (right - left);
    if alpha.is_finite() && alpha >= left + margin && alpha <= right - margin {
        alpha
    } else {
        midpoint
    }
}

fn identity<const N: usize>() -> [[f64; N]; N] {
    std::array::from_fn(|i| std::array::from_fn(|j| if i == j { 1.0 } else { 0.0 }))
}

fn dot<const N: usize>(u: &[f64; N], v: &[f64; N]) -> f64 {
    u.iter().zip(v).map(|(a, b)| a * b).sum()
}

fn norm<const N: usize>(v: &[f64; N]) -> f64 {
    dot(v, v).sqrt()
}

fn negated<const N: usize>(v: &[f64; N]) -> [f64; N] {
    std::array::from_fn(|i| -v[i])
}

fn mat_vec<const N: usize>(m: &[[f64; N]; N], v: &[f64; N]) -> [f64; N] {
    std::array::from_fn(|i| dot(&m[i], v))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: Settings = Settings {
        max_iterations: 500,
        gradient_tolerance: 1e-10,
        max_step: 2.0,
    };

    #[test]
    fn minimize_finds_the_minimum_of_the_rosenbrock_function() {
        let rosenbrock = |p: &[f64; 2]| {
            let (x, y) = (p[0], p[1]);
            let value = (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2);
            let gradient = [
                -2.0 * (1.0 - x) - 400.0 * x * (y - x * x),
                200.0 * (y - x * x),
            ];
            (value, gradient)
        };
        let minimum = minimize(rosenbrock, [-1.2, 1.0], &SETTINGS).unwrap();
        assert!(minimum.converged, "{minimum:?}");
        assert!((minimum.point[0] - 1.0).abs() < 1e-8 && (minimum.point[1] - 1.0).abs() < 1e-8);
    }

    #[test]
    fn minimize_backs_off_from_points_outside_the_domain() {
        // x − ln x has its minimum at x = 1 and is undefined for x ≤ 0. From x = 3 the
        // secant curvature of the first step is small, so the second full quasi-Newton
        // step lands near x = −1.7 when nothing caps its length.
        let objective = |p: &[f64; 1]| {
            let x = p[0];
            if x <= 0.0 {
                (f64::NAN, [f64::NAN])
            } else {
                (x - x.ln(), [1.0 - 1.0 / x])
            }
        };
        let uncapped = Settings {
            max_step: 100.0,
            ..SETTINGS
        };
        let minimum = minimize(objective, [3.0], &uncapped).unwrap();
        assert!(minimum.converged);
        assert!((minimum.point[0] - 1.0).abs() < 1e-9);
    }

    #[test]
    fn minimize_refuses_a_non_finite_start() {
        let objective = |_: &[f64; 1]| (f64::NAN, [0.0]);
        assert!(minimize(objective, [0.0], &SETTINGS).is_none());
    }
}
