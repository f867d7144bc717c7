//! The lookup tables that keep a value unique across all customers (migration 14): an
//! email or an externalId names one customer, an order's externalId is recorded once.
//! A table distributed by customer (Citus) cannot hold such a key, so each lives in a
//! table keyed by the value itself; on SQLite and PostgreSQL the same tables do the same
//! job (and the old unique columns stay as a second guard).

/// One lookup table: the unique value (its primary key) and the customer it belongs to.
macro_rules! lookup_table {
    ($(#[$doc:meta])* $module:ident, $table:literal, $key:ident) => {
        $(#[$doc])*
        pub mod $module {
            use sea_orm::entity::prelude::*;

            #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
            #[sea_orm(table_name = $table)]
            pub struct Model {
                #[sea_orm(primary_key, auto_increment = false)]
                pub $key: String,
                pub customer_id: i64,
            }

            #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
            pub enum Relation {}

            impl ActiveModelBehavior for ActiveModel {}
        }
    };
}

lookup_table!(
    /// `customer_emails`: a customer's email (as stored, lowercase) → the customer.
    customer_email,
    "customer_emails",
    email
);
lookup_table!(
    /// `customer_external_ids`: a customer's externalId → the customer.
    customer_external_id,
    "customer_external_ids",
    external_id
);
lookup_table!(
    /// `order_external_ids`: an order's externalId → the customer whose order it is.
    order_external_id,
    "order_external_ids",
    external_id
);
lookup_table!(
    /// `referral_codes`: a customer's referral code → the customer (migration 21).
    referral_code,
    "referral_codes",
    code
);
