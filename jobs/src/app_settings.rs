//! Settings changed at run time through the API, kept as JSON under a dotted key in
//! `app_settings`; they win over the configuration file.

use std::collections::HashMap;

use anyhow::Context;
use chrono::Utc;
use entity::app_setting;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, sea_query::OnConflict,
};
use serde::{Serialize, de::DeserializeOwned};

/// The saved value under `key`, if any.
pub async fn load<T: DeserializeOwned>(
    db: &impl ConnectionTrait,
    key: &str,
) -> anyhow::Result<Option<T>> {
    let saved = app_setting::Entity::find_by_id(key)
        .one(db)
        .await
        .with_context(|| format!("failed to read the setting `{key}`"))?;
    saved
        .map(|row| {
            serde_json::from_str(&row.value)
                .with_context(|| format!("the saved setting `{key}` is not valid JSON"))
        })
        .transpose()
}

/// The saved values under those of `keys` that have one, in one statement.
pub async fn load_many<T: DeserializeOwned>(
    db: &impl ConnectionTrait,
    keys: &[String],
) -> anyhow::Result<HashMap<String, T>> {
    let saved = app_setting::Entity::find()
        .filter(app_setting::Column::Key.is_in(keys.iter().cloned()))
        .all(db)
        .await
        .with_context(|| format!("failed to read the settings {keys:?}"))?;
    saved
        .into_iter()
        .map(|row| {
            let value = serde_json::from_str(&row.value)
                .with_context(|| format!("the saved setting `{}` is not valid JSON", row.key))?;
            Ok((row.key, value))
        })
        .collect()
}

/// Saves `value` under `key` (the caller validated it).
pub async fn save<T: Serialize>(
    db: &impl ConnectionTrait,
    key: &str,
    value: &T,
) -> anyhow::Result<()> {
    let row = app_setting::ActiveModel {
        key: Set(key.to_owned()),
        value: Set(serde_json::to_string(value)?),
        updated_at: Set(Utc::now()),
    };
    app_setting::Entity::insert(row)
        .on_conflict(
            OnConflict::column(app_setting::Column::Key)
                .update_columns([app_setting::Column::Value, app_setting::Column::UpdatedAt])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .with_context(|| format!("failed to save the setting `{key}`"))?;
    Ok(())
}

/// The value under `key`, storing `value` first when there is none. Processes racing
/// here all read the one value that was stored first.
pub async fn load_or_insert<T: Serialize + DeserializeOwned>(
    db: &impl ConnectionTrait,
    key: &str,
    value: &T,
) -> anyhow::Result<T> {
    app_setting::Entity::insert(app_setting::ActiveModel {
        key: Set(key.to_owned()),
        value: Set(serde_json::to_string(value)?),
        updated_at: Set(Utc::now()),
    })
    .on_conflict_do_nothing_on([app_setting::Column::Key])
    .exec(db)
    .await
    .with_context(|| format!("failed to store the setting `{key}`"))?;
    load(db, key)
        .await?
        .with_context(|| format!("the setting `{key}` is missing after it was stored"))
}
