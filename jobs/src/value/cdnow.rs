//! Test-only loader for the CDNOW sample (`tests/fixtures/cdnow_sample.txt`), summarised
//! the way the published BG/NBD and Gamma-Gamma analyses do (see
//! `shared/data/cdnow/README.md`): several purchases by one customer on one day are one
//! transaction worth the day's total; the calibration period is 1997-01-01 to 1997-09-30
//! inclusive; time is in weeks; T = 1997-09-30 − first purchase, t_x = last repeat
//! purchase − first purchase, x = repeat transactions in the calibration period.

use std::collections::BTreeMap;

use chrono::NaiveDate;

const SAMPLE: &str = include_str!("../../../tests/fixtures/cdnow_sample.txt");

/// One customer's calibration-period summary.
#[derive(Clone, Debug)]
pub(crate) struct CdnowCustomer {
    pub repeat_transactions: u32,
    pub recency_weeks: f64,
    pub age_weeks: f64,
    /// Dollar value of each repeat transaction (day totals) in the calibration period.
    pub repeat_values: Vec<f64>,
}

impl CdnowCustomer {
    pub fn mean_repeat_value(&self) -> Option<f64> {
        (!self.repeat_values.is_empty())
            .then(|| self.repeat_values.iter().sum::<f64>() / self.repeat_values.len() as f64)
    }
}

/// Every customer of the sample, in sample-id order.
pub(crate) fn calibration_customers() -> Vec<CdnowCustomer> {
    let calibration_end = date("19970930");
    // customer → day → (day's total)
    let mut purchases: BTreeMap<u32, BTreeMap<NaiveDate, f64>> = BTreeMap::new();
    for line in SAMPLE.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        assert_eq!(fields.len(), 5, "unexpected line {line:?}");
        let customer: u32 = fields[1].parse().unwrap();
        let day = date(fields[2]);
        let value: f64 = fields[4].parse().unwrap();
        *purchases
            .entry(customer)
            .or_default()
            .entry(day)
            .or_default() += value;
    }
    purchases
        .into_values()
        .map(|days| {
            let mut days = days.into_iter();
            let (first_day, _) = days.next().unwrap();
            let repeats: Vec<(NaiveDate, f64)> = days
                .take_while(|(day, _)| *day <= calibration_end)
                .collect();
            let weeks = |from: NaiveDate, to: NaiveDate| (to - from).num_days() as f64 / 7.0;
            CdnowCustomer {
                repeat_transactions: repeats.len() as u32,
                recency_weeks: repeats
                    .last()
                    .map_or(0.0, |(day, _)| weeks(first_day, *day)),
                age_weeks: weeks(first_day, calibration_end),
                repeat_values: repeats.iter().map(|(_, value)| *value).collect(),
            }
        })
        .collect()
}

fn date(yyyymmdd: &str) -> NaiveDate {
    NaiveDate::parse_from_str(yyyymmdd, "%Y%m%d").unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdnow_sample_summary_matches_the_published_counts() {
        let customers = calibration_customers();
        assert_eq!(customers.len(), 2357);
        let total_repeats: u32 = customers.iter().map(|c| c.repeat_transactions).sum();
        assert_eq!(total_repeats, 2457);
        let repeaters = customers
            .iter()
            .filter(|c| c.repeat_transactions > 0)
            .count();
        assert_eq!(repeaters, 946);
        assert!(
            customers
                .iter()
                .all(|c| c.recency_weeks <= c.age_weeks && c.age_weeks <= 39.0)
        );
    }
}
