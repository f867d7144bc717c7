//! The one error type of the value models. Every fallible step returns it instead of
//! panicking or handing back NaN, so a scheduled job can record why a model was not fitted
//! (no data, nobody repeated, a bad row) and carry on with the rest of its run.

/// Why a value model could not be fitted or evaluated.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ValueModelError {
    /// The input held no customers at all.
    #[error("no customers to fit the {model} model on")]
    NoCustomers {
        /// The model that was asked for.
        model: &'static str,
    },
    /// Nobody made a repeat purchase: the repeat-buying models have nothing to learn from,
    /// their likelihood is maximised only at the edge of the parameter space.
    #[error("no customer made a repeat purchase, so the {model} model cannot be fitted")]
    NoRepeatPurchases {
        /// The model that was asked for.
        model: &'static str,
    },
    /// One customer's numbers cannot come from a real purchase history.
    #[error("invalid customer history: {reason}")]
    InvalidHistory {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An argument outside its domain (a negative horizon, a NaN value, a share above 1).
    #[error("invalid {name}: {reason}")]
    InvalidArgument {
        /// The argument's name.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The optimiser walked off towards a boundary of the parameter space (a parameter
    /// tending to 0 or ∞): the data do not identify the model, e.g. one customer only, or
    /// every customer spending exactly the same.
    #[error(
        "the {model} fit diverged after {iterations} iterations: the data do not identify its parameters"
    )]
    FitDiverged {
        /// The model that was asked for.
        model: &'static str,
        /// Quasi-Newton iterations done before giving up.
        iterations: usize,
    },
}
