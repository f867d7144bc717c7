//! Groups of customers whose rows live on one shard, for jobs that work through many
//! customers a chunk at a time.
//!
//! A chunked statement names its customers in a list (`customer_id IN (…)`, see
//! `loyalty::ledger::among`). On Citus the coordinator sends such a statement to every
//! shard that holds one of the listed customers, each with the whole list — for a run of
//! thousands of consecutive ids that is every shard, each parsing and probing thousands of
//! ids to find its few rows. Cut along the shards first, each chunk's statements go to one
//! shard with only that shard's ids. On SQLite and plain PostgreSQL there is one group: the
//! ids as given.

use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement};

/// How customers are placed: in one database, or hash-distributed on Citus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    Local,
    Distributed,
}

impl Placement {
    /// Where `customers` lives: distributed when the database is a Citus coordinator whose
    /// `customers` (in the current schema) is a distributed table.
    pub async fn of(db: &impl ConnectionTrait) -> Result<Self, DbErr> {
        if db.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(Self::Local);
        }
        let catalog = db
            .query_one_raw(Statement::from_string(
                DatabaseBackend::Postgres,
                "SELECT to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL AS citus",
            ))
            .await?
            .map(|row| row.try_get::<bool>("", "citus"))
            .transpose()?
            .unwrap_or(false);
        if !catalog {
            return Ok(Self::Local);
        }
        let distributed = db
            .query_one_raw(Statement::from_string(
                DatabaseBackend::Postgres,
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition \
                 WHERE logicalrelid = to_regclass('customers')) AS distributed",
            ))
            .await?
            .map(|row| row.try_get::<bool>("", "distributed"))
            .transpose()?
            .unwrap_or(false);
        Ok(if distributed {
            Self::Distributed
        } else {
            Self::Local
        })
    }

    /// The ids in groups that each live on one shard, every group in ascending id order
    /// (groups in shard order); one group of the ids as given when not distributed, none
    /// for no ids.
    pub async fn group(
        self,
        db: &impl ConnectionTrait,
        ids: &[i64],
    ) -> Result<Vec<Vec<i64>>, DbErr> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if self == Self::Local {
            return Ok(vec![ids.to_vec()]);
        }
        // Computed on the coordinator from its metadata: no shard is read.
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT get_shard_id_for_distribution_column('customers', id) AS shard, id \
                 FROM unnest($1::bigint[]) AS id ORDER BY 1, 2",
                [ids.to_vec().into()],
            ))
            .await?;
        let mut groups: Vec<Vec<i64>> = Vec::new();
        let mut current = None;
        for row in rows {
            let shard: i64 = row.try_get("", "shard")?;
            let id: i64 = row.try_get("", "id")?;
            match groups.last_mut() {
                Some(group) if current == Some(shard) => group.push(id),
                _ => {
                    groups.push(vec![id]);
                    current = Some(shard);
                }
            }
        }
        Ok(groups)
    }

    /// The ids in chunks of at most `size`, none of which spans two shards (see
    /// [`Placement::group`]).
    pub async fn chunks(
        self,
        db: &impl ConnectionTrait,
        ids: &[i64],
        size: usize,
    ) -> Result<Vec<Vec<i64>>, DbErr> {
        Ok(self
            .group(db, ids)
            .await?
            .iter()
            .flat_map(|group| group.chunks(size.max(1)).map(<[i64]>::to_vec))
            .collect())
    }
}
