//! RFM scoring: recency, frequency and monetary quintile scores 1–5 and the named
//! customer groups built on them.
//!
//! RFM is the oldest customer-value heuristic of direct marketing (Hughes 1994,
//! "Strategic Database Marketing"): customers who bought recently, often and for a lot
//! are the ones worth talking to. Fader, Hardie & Lee 2005 ("RFM and CLV: Using Iso-Value
//! Curves for Customer Base Analysis") show the same three numbers are sufficient
//! statistics for the BG/NBD + Gamma-Gamma CLV, so the scores here and the model-based
//! value in [`super::clv`] describe the same customers two ways: one readable at a
//! glance, one in money.
//!
//! Scores are computed over the customers with orders only. Quintiles are rank-based with
//! ties sharing a score: a customer's score is 1 + ⌊5 · w / n⌋, where w is the number of
//! customers strictly worse on that dimension (older last purchase for R; fewer purchase
//! days for F; lower average order value for M) and n the number of customers — SQL's
//! `PERCENT_RANK` (with n in place of n − 1) cut into fifths. Equal values get the same
//! score; a value shared by many customers takes the score of the block's lowest rank,
//! so one-time buyers, usually the majority, all get F = 1. With no spread at all (one
//! customer, or everybody equal) everybody scores 1.

use super::error::ValueModelError;

/// One customer's RFM inputs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RfmInput {
    /// Days since the last purchase.
    pub recency_days: u32,
    /// Distinct days with a purchase; at least 1.
    pub frequency: u32,
    /// Average order value.
    pub monetary: f64,
}

/// R, F and M quintile scores, each 1 (worst) to 5 (best).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RfmScore {
    recency: u8,
    frequency: u8,
    monetary: u8,
}

impl RfmScore {
    /// None unless every score is in 1..=5.
    pub fn new(recency: u8, frequency: u8, monetary: u8) -> Option<Self> {
        let valid = |s: u8| (1..=5).contains(&s);
        (valid(recency) && valid(frequency) && valid(monetary)).then_some(Self {
            recency,
            frequency,
            monetary,
        })
    }

    pub fn recency(&self) -> u8 {
        self.recency
    }

    pub fn frequency(&self) -> u8 {
        self.frequency
    }

    pub fn monetary(&self) -> u8 {
        self.monetary
    }

    /// The three digits R, F, M, e.g. "545".
    pub fn code(&self) -> String {
        format!("{}{}{}", self.recency, self.frequency, self.monetary)
    }

    /// FM = ⌊(F + M)/2⌋: the mean of F and M rounded down, so that climbing into a higher
    /// FM column takes both frequency and spend.
    pub fn frequency_monetary(&self) -> u8 {
        (self.frequency + self.monetary) / 2
    }

    /// The named group of this score, see [`RfmGroup`].
    pub fn group(&self) -> RfmGroup {
        group_of(self.recency, self.frequency_monetary())
    }
}

/// The named groups, stored by `entity`; [`group_of`] is their map.
pub use entity::RfmGroup;

/// The common 11-segment RFM map, on R against FM = ⌊(F + M)/2⌋ (the usual R × F grid
/// with M folded into F, and its bottom-left corner split into Hibernating and Lost):
///
/// | R \ FM | 1 | 2 | 3 | 4 | 5 |
/// |---|---|---|---|---|---|
/// | **5** | New customers | Potential loyalist | Potential loyalist | Champions | Champions |
/// | **4** | Promising | Potential loyalist | Potential loyalist | Loyal | Loyal |
/// | **3** | About to sleep | About to sleep | Need attention | Loyal | Loyal |
/// | **2** | Hibernating | Hibernating | At risk | At risk | Can't lose them |
/// | **1** | Lost | Lost | At risk | At risk | Can't lose them |
///
/// Scores outside 1..=5 are clamped into it.
pub fn group_of(recency: u8, frequency_monetary: u8) -> RfmGroup {
    match (recency.clamp(1, 5), frequency_monetary.clamp(1, 5)) {
        (5, 1) => RfmGroup::NewCustomers,
        (4, 1) => RfmGroup::Promising,
        (4..=5, 2..=3) => RfmGroup::PotentialLoyalist,
        (5, 4..=5) => RfmGroup::Champions,
        (3..=4, 4..=5) => RfmGroup::Loyal,
        (3, 3) => RfmGroup::NeedAttention,
        (3, 1..=2) => RfmGroup::AboutToSleep,
        (2, 1..=2) => RfmGroup::Hibernating,
        (1, 1..=2) => RfmGroup::Lost,
        (1..=2, 5) => RfmGroup::CantLoseThem,
        _ => RfmGroup::AtRisk,
    }
}

/// R, F and M scores of each customer, in input order.
///
/// Errors when a customer has no purchase day (frequency 0: RFM scores customers with
/// orders) or a non-finite monetary value. No customers give no scores.
pub fn rfm_scores(customers: &[RfmInput]) -> Result<Vec<RfmScore>, ValueModelError> {
    if customers.iter().any(|c| c.frequency == 0) {
        return Err(ValueModelError::InvalidHistory {
            reason: "RFM scores customers with orders: frequency must be at least 1",
        });
    }
    if customers.iter().any(|c| !c.monetary.is_finite()) {
        return Err(ValueModelError::InvalidHistory {
            reason: "the average order value must be finite",
        });
    }
    // Every key is "higher is better".
    let recency = quintile_scores(customers.iter().map(|c| -i64::from(c.recency_days)));
    let frequency = quintile_scores(customers.iter().map(|c| c.frequency));
    // + 0.0 folds −0.0 into 0.0 so both compare (and sort) as one value.
    let monetary = quintile_scores(customers.iter().map(|c| OrderedValue(c.monetary + 0.0)));
    Ok(recency
        .into_iter()
        .zip(frequency)
        .zip(monetary)
        .map(|((recency, frequency), monetary)| RfmScore {
            recency,
            frequency,
            monetary,
        })
        .collect())
}

/// 1 + ⌊5 · (number of strictly smaller keys) / n⌋ for each key.
fn quintile_scores<K: Ord + Copy>(keys: impl Iterator<Item = K>) -> Vec<u8> {
    let keys: Vec<K> = keys.collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    let n = keys.len() as u64;
    keys.iter()
        .map(|key| {
            let worse = sorted.partition_point(|k| k < key) as u64;
            // worse ≤ n − 1, so the score is at most 1 + ⌊5(n − 1)/n⌋ = 5.
            (1 + 5 * worse / n) as u8
        })
        .collect()
}

/// A finite f64 with a total order, for sorting order values.
#[derive(Clone, Copy, PartialEq)]
struct OrderedValue(f64);

impl Eq for OrderedValue {}

impl PartialOrd for OrderedValue {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedValue {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(recency_days: u32, frequency: u32, monetary: f64) -> RfmInput {
        RfmInput {
            recency_days,
            frequency,
            monetary,
        }
    }

    #[test]
    fn ten_distinct_customers_fill_each_quintile_twice() {
        let customers: Vec<RfmInput> = (0..10)
            .map(|i| input(100 - 10 * i, i + 1, f64::from(i) * 7.5))
            .collect();
        let scores = rfm_scores(&customers).unwrap();
        let expected = [1, 1, 2, 2, 3, 3, 4, 4, 5, 5];
        for (score, expected) in scores.iter().zip(expected) {
            assert_eq!(
                (score.recency(), score.frequency(), score.monetary()),
                (expected, expected, expected)
            );
        }
        assert_eq!(scores[9].code(), "555");
        assert_eq!(scores[0].code(), "111");
    }

    #[test]
    fn more_recent_purchases_score_higher_recency() {
        let scores = rfm_scores(&[input(1, 1, 10.0), input(400, 1, 10.0)]).unwrap();
        assert!(scores[0].recency() > scores[1].recency());
    }

    #[test]
    fn ties_share_a_score_and_scores_stay_in_range() {
        // Deterministic pseudo-random inputs with many ties.
        let mut state = 12_345_u64;
        let mut next = |modulus: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % modulus
        };
        let customers: Vec<RfmInput> = (0..997)
            .map(|_| input(next(60) as u32, 1 + next(4) as u32, (next(20) * 5) as f64))
            .collect();
        let scores = rfm_scores(&customers).unwrap();
        for (i, (a, sa)) in customers.iter().zip(&scores).enumerate() {
            assert!(
                (1..=5).contains(&sa.recency())
                    && (1..=5).contains(&sa.frequency())
                    && (1..=5).contains(&sa.monetary())
            );
            for (b, sb) in customers.iter().zip(&scores).skip(i + 1) {
                if a.recency_days == b.recency_days {
                    assert_eq!(sa.recency(), sb.recency());
                }
                if a.frequency == b.frequency {
                    assert_eq!(sa.frequency(), sb.frequency());
                }
                if a.monetary == b.monetary {
                    assert_eq!(sa.monetary(), sb.monetary());
                }
                // Scores are monotone in the inputs.
                if a.recency_days < b.recency_days {
                    assert!(sa.recency() >= sb.recency());
                }
                if a.monetary < b.monetary {
                    assert!(sa.monetary() <= sb.monetary());
                }
            }
        }
    }

    #[test]
    fn one_time_buyers_all_get_the_lowest_frequency_score() {
        let mut customers = vec![input(5, 1, 10.0); 70];
        customers.extend((0..30).map(|i| input(5, 2 + i / 10, 10.0)));
        let scores = rfm_scores(&customers).unwrap();
        assert!(scores[..70].iter().all(|s| s.frequency() == 1));
        assert_eq!(scores[70].frequency(), 4);
        assert_eq!(scores[99].frequency(), 5);
    }

    #[test]
    fn every_score_combination_maps_to_a_group_and_every_group_is_used() {
        let mut used = std::collections::HashSet::new();
        for r in 1..=5 {
            for f in 1..=5 {
                for m in 1..=5 {
                    let score = RfmScore::new(r, f, m).unwrap();
                    let group = score.group();
                    assert!(RfmGroup::ALL.contains(&group));
                    used.insert(group);
                }
            }
        }
        assert_eq!(used.len(), RfmGroup::ALL.len());
    }

    #[test]
    fn well_known_codes_land_in_their_groups() {
        let group = |r, f, m| RfmScore::new(r, f, m).unwrap().group();
        assert_eq!(group(5, 5, 5), RfmGroup::Champions);
        assert_eq!(group(4, 5, 4), RfmGroup::Loyal);
        assert_eq!(group(5, 1, 1), RfmGroup::NewCustomers);
        assert_eq!(group(4, 1, 2), RfmGroup::Promising);
        assert_eq!(group(5, 2, 3), RfmGroup::PotentialLoyalist);
        assert_eq!(group(3, 3, 3), RfmGroup::NeedAttention);
        assert_eq!(group(3, 1, 2), RfmGroup::AboutToSleep);
        assert_eq!(group(2, 4, 3), RfmGroup::AtRisk);
        assert_eq!(group(1, 5, 5), RfmGroup::CantLoseThem);
        assert_eq!(group(2, 1, 1), RfmGroup::Hibernating);
        assert_eq!(group(1, 1, 1), RfmGroup::Lost);
    }

    #[test]
    fn degenerate_inputs_give_defined_scores_or_errors() {
        assert_eq!(rfm_scores(&[]), Ok(vec![]));
        let single = rfm_scores(&[input(3, 2, 20.0)]).unwrap();
        assert_eq!(single[0].code(), "111");
        let all_zero =
            rfm_scores(&[input(0, 1, 0.0), input(0, 1, -0.0), input(0, 1, 0.0)]).unwrap();
        assert!(all_zero.iter().all(|s| s.code() == "111"));
        assert!(rfm_scores(&[input(3, 0, 20.0)]).is_err());
        assert!(rfm_scores(&[input(3, 1, f64::NAN)]).is_err());
        assert_eq!(RfmScore::new(0, 3, 3), None);
        assert_eq!(RfmScore::new(3, 6, 3), None);
    }
}
