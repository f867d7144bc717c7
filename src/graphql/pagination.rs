//! Relay cursor connections with keyset pagination: a cursor is the sort key and id of a
//! row (opaque base64 JSON), and a page is "rows after/before this key" in a total order,
//! so pages stay stable while rows are inserted and deep pages cost what the first does.

use async_graphql::{
    Context, Object, Result,
    connection::{Connection, Edge},
    dataloader::{DataLoader, Loader},
};
use base64::Engine;
use futures::{FutureExt, future::BoxFuture};
use serde::{Serialize, de::DeserializeOwned};

use crate::graphql::errors::bad_input;

pub const DEFAULT_PAGE_SIZE: i32 = 20;
pub const MAX_PAGE_SIZE: i32 = 100;

/// Which way a page goes from its cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageDirection {
    /// `first` / `after`.
    Forward,
    /// `last` / `before`.
    Backward,
}

/// A validated page request.
#[derive(Clone, Debug)]
pub struct Page<C> {
    pub limit: u64,
    pub direction: PageDirection,
    pub cursor: Option<C>,
}

impl<C: DeserializeOwned> Page<C> {
    /// Forward-only pagination (nested lists).
    pub fn forward(first: Option<i32>, after: Option<String>) -> Result<Self> {
        Self::new(first, after, None, None)
    }

    /// Reads `first`/`after` or `last`/`before`. Mixing the two directions is refused
    /// rather than given a surprising meaning.
    pub fn new(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Self> {
        let backward = last.is_some() || before.is_some();
        if backward && (first.is_some() || after.is_some()) {
            return Err(bad_input(
                "first",
                "use either first/after (forwards) or last/before (backwards), not both",
            ));
        }
        let (size_field, size, cursor_field, cursor) = if backward {
            ("last", last, "before", before)
        } else {
            ("first", first, "after", after)
        };
        let size = size.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(0..=MAX_PAGE_SIZE).contains(&size) {
            return Err(bad_input(
                size_field,
                format!("{size_field} must be between 0 and {MAX_PAGE_SIZE}, got {size}"),
            ));
        }
        let cursor = cursor
            .map(|c| decode_cursor(cursor_field, &c))
            .transpose()?;
        Ok(Page {
            limit: size as u64,
            direction: if backward {
                PageDirection::Backward
            } else {
                PageDirection::Forward
            },
            cursor,
        })
    }
}

impl<C> Page<C> {
    /// The argument the cursor came in, for error paths.
    pub fn cursor_argument(&self) -> &'static str {
        match self.direction {
            PageDirection::Forward => "after",
            PageDirection::Backward => "before",
        }
    }

    /// Rows to fetch: one more than the page, to learn whether another page follows.
    pub fn fetch_limit(&self) -> u64 {
        self.limit + 1
    }

    /// Turns the rows fetched in query order (reversed for backward pages) into the page
    /// in display order, with `(has_previous_page, has_next_page)`. Beyond the cursor side
    /// we only know that something came before it, which is what Relay asks for.
    pub fn finish<T>(&self, mut rows: Vec<T>) -> (Vec<T>, bool, bool) {
        let more = rows.len() as u64 > self.limit;
        rows.truncate(self.limit as usize);
        match self.direction {
            PageDirection::Forward => (rows, self.cursor.is_some(), more),
            PageDirection::Backward => {
                rows.reverse();
                (rows, more, self.cursor.is_some())
            }
        }
    }
}

/// The cursor of lists ordered by id alone (campaigns, emails, segments, changes).
#[derive(Clone, Copy, Debug, Serialize, serde::Deserialize)]
pub struct IdCursor(pub i64);

/// A fetched page of rows ordered by id, as a connection with id cursors.
pub fn by_id<M, N: async_graphql::OutputType>(
    page: &Page<IdCursor>,
    rows: Vec<M>,
    id: impl Fn(&M) -> i64,
    node: impl Fn(M) -> N,
) -> PlainConnection<N> {
    let (rows, has_previous, has_next) = page.finish(rows);
    let mut connection = PlainConnection::new(has_previous, has_next);
    connection.edges.extend(
        rows.into_iter()
            .map(|row| Edge::new(encode_cursor(&IdCursor(id(&row))), node(row))),
    );
    connection
}

pub fn encode_cursor<C: Serialize>(cursor: &C) -> String {
    let json = serde_json::to_vec(cursor).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_cursor<C: DeserializeOwned>(field: &str, cursor: &str) -> Result<C> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or_else(|| {
            bad_input(
                field,
                "not a cursor from this list (cursors are opaque: pass back what you got)",
            )
        })
}

/// `totalCount` of a connection, computed only when a client asks for it.
pub struct TotalCount(Counter);

/// How a `totalCount` is counted, when it is asked for.
enum Counter {
    /// By a statement of its own.
    Alone(Box<dyn Fn() -> BoxFuture<'static, Result<u64>> + Send + Sync>),
    /// By a DataLoader, with the counts of the other parents of a list (`load` is
    /// [`load_count`] for that loader).
    Loaded {
        key: i64,
        load: for<'c> fn(&'c Context<'c>, i64) -> BoxFuture<'c, Result<u64>>,
    },
}

impl TotalCount {
    pub fn new(
        count: impl Fn() -> BoxFuture<'static, Result<u64>> + Send + Sync + 'static,
    ) -> Self {
        Self(Counter::Alone(Box::new(count)))
    }

    /// Counted by the DataLoader `L` (for a nested connection: one statement for every
    /// parent of the list, not one each).
    pub fn loaded<L>(key: i64) -> Self
    where
        L: Loader<i64, Value = u64, Error = async_graphql::Error>,
    {
        Self(Counter::Loaded {
            key,
            load: load_count::<L>,
        })
    }
}

fn load_count<'c, L>(ctx: &'c Context<'c>, key: i64) -> BoxFuture<'c, Result<u64>>
where
    L: Loader<i64, Value = u64, Error = async_graphql::Error>,
{
    async move {
        let loader = ctx.data::<DataLoader<L>>()?;
        Ok(loader.load_one(key).await?.unwrap_or(0))
    }
    .boxed()
}

#[Object]
impl TotalCount {
    /// How many items match, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        match &self.0 {
            Counter::Alone(count) => count().await,
            Counter::Loaded { key, load } => load(ctx, *key).await,
        }
    }
}

/// A connection with `totalCount`.
pub type CountedConnection<Node> = Connection<String, Node, TotalCount>;
/// A connection without `totalCount` (nested lists; the parent carries the count).
pub type PlainConnection<Node> = Connection<String, Node>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_is_bounded_and_defaults_to_twenty() {
        let page = Page::<i64>::new(None, None, None, None).unwrap();
        assert_eq!(page.limit, 20);
        assert!(Page::<i64>::new(Some(101), None, None, None).is_err());
        assert!(Page::<i64>::new(Some(-1), None, None, None).is_err());
        assert!(Page::<i64>::new(Some(5), None, Some(5), None).is_err());
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = encode_cursor(&(Some("Li Na".to_owned()), 42_i64));
        let page = Page::<(Option<String>, i64)>::new(Some(3), Some(cursor), None, None).unwrap();
        assert_eq!(page.cursor, Some((Some("Li Na".to_owned()), 42)));
        assert!(
            Page::<(Option<String>, i64)>::new(Some(3), Some("%%%".into()), None, None).is_err()
        );
    }

    #[test]
    fn backward_pages_come_back_in_display_order() {
        let page = Page::<i64> {
            limit: 2,
            direction: PageDirection::Backward,
            cursor: Some(9),
        };
        let (rows, has_previous, has_next) = page.finish(vec![8, 7, 6]);
        assert_eq!(rows, vec![7, 8]);
        assert!(has_previous && has_next);
    }
}
