//! Which lots a debit consumes: the oldest first (by earn time, then id). Pure, so the
//! rule is tested apart from the statements that apply it.

/// A positive lot not consumed yet: its id and its remaining points, in FIFO order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lot {
    pub id: i64,
    pub remaining: i64,
}

/// How much of each lot a debit of `points` takes, oldest first: `(lot id, points
/// taken)` for each lot touched. None when the lots hold fewer than `points` (the
/// balance guard refuses such a debit first).
pub fn consume_fifo(lots: &[Lot], points: i64) -> Option<Vec<(i64, i64)>> {
    let mut left = points;
    let mut taken = Vec::new();
    for lot in lots {
        if left == 0 {
            break;
        }
        let take = lot.remaining.min(left);
        if take > 0 {
            taken.push((lot.id, take));
            left -= take;
        }
    }
    (left == 0).then_some(taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lots(remaining: &[i64]) -> Vec<Lot> {
        remaining
            .iter()
            .enumerate()
            .map(|(i, &remaining)| Lot {
                id: i as i64 + 1,
                remaining,
            })
            .collect()
    }

    #[test]
    fn the_oldest_lots_go_first() {
        assert_eq!(
            consume_fifo(&lots(&[100, 50, 30]), 120),
            Some(vec![(1, 100), (2, 20)])
        );
        assert_eq!(
            consume_fifo(&lots(&[100, 50, 30]), 100),
            Some(vec![(1, 100)])
        );
        assert_eq!(
            consume_fifo(&lots(&[0, 50, 30]), 80),
            Some(vec![(2, 50), (3, 30)])
        );
    }

    #[test]
    fn a_debit_beyond_the_lots_is_refused() {
        assert_eq!(consume_fifo(&lots(&[10, 5]), 16), None);
        assert_eq!(consume_fifo(&[], 1), None);
        assert_eq!(consume_fifo(&[], 0), Some(vec![]));
    }
}
