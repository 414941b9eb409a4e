//! Session templates: a saved command line (command, arguments, working directory and the names
//! of environment variables it needs) that an org's members start on a machine in one click.
//! Every query is scoped to the org through [`OrgScope`].

use rusqlite::{OptionalExtension, params};
use sessionforge_shared::ids::UserId;
use uuid::Uuid;

use super::orgs::OrgScope;
use super::{Store, StoreError, now, parse_col};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub id: Uuid,
    pub name: String,
    pub command: String,
    pub args: Vec<String>,
    pub cwd: String,
    pub env_names: Vec<String>,
    pub created_by: Option<UserId>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a create or update writes (already validated by the API).
#[derive(Clone, Debug)]
pub struct TemplateFields {
    pub name: String,
    pub command: String,
    pub args: Vec<String>,
    pub cwd: String,
    pub env_names: Vec<String>,
}

const COLS: &str = "id, name, command, args, cwd, env_names, created_by, created_at, updated_at";

fn json_list(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Vec<String>> {
    let text: String = row.get(idx)?;
    serde_json::from_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e)))
}

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Template> {
    let created_by: Option<String> = row.get(6)?;
    Ok(Template {
        id: parse_col(row, 0)?,
        name: row.get(1)?,
        command: row.get(2)?,
        args: json_list(row, 3)?,
        cwd: row.get(4)?,
        env_names: json_list(row, 5)?,
        created_by: created_by.and_then(|u| u.parse().ok()),
        created_at: row.get(7)?,
        updated_at: row.get(8)?,
    })
}

fn to_json(list: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(list).map_err(|e| StoreError::Internal(e.to_string()))
}

/// A unique-name violation becomes a `Conflict` people can read.
fn name_taken(e: rusqlite::Error, name: &str) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
            StoreError::Conflict(format!("a template named {name:?} already exists in this org"))
        }
        other => other.into(),
    }
}

impl Store {
    /// The org's templates, by name.
    pub async fn templates(&self, scope: &OrgScope) -> Result<Vec<Template>, StoreError> {
        let org = scope.org_id();
        self.db
            .read(move |c| {
                let sql =
                    format!("SELECT {COLS} FROM session_templates WHERE org_id = ?1 ORDER BY name COLLATE NOCASE");
                let mut stmt = c.prepare_cached(&sql)?;
                let rows = stmt.query_map([org.to_string()], from_row)?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    pub async fn template(&self, scope: &OrgScope, id: Uuid) -> Result<Template, StoreError> {
        let org = scope.org_id();
        self.db
            .read(move |c| {
                let sql = format!("SELECT {COLS} FROM session_templates WHERE id = ?1 AND org_id = ?2");
                c.query_row(&sql, [id.to_string(), org.to_string()], from_row).optional()?.ok_or(StoreError::NotFound)
            })
            .await
    }

    pub async fn create_template(&self, scope: &OrgScope, f: TemplateFields) -> Result<Template, StoreError> {
        let org = scope.org_id();
        let by = scope.user_id();
        let (args, env) = (to_json(&f.args)?, to_json(&f.env_names)?);
        self.db
            .write(move |tx| {
                let at = now();
                let t = Template {
                    id: Uuid::now_v7(),
                    name: f.name,
                    command: f.command,
                    args: f.args,
                    cwd: f.cwd,
                    env_names: f.env_names,
                    created_by: Some(by),
                    created_at: at,
                    updated_at: at,
                };
                tx.execute(
                    "INSERT INTO session_templates (id, org_id, name, command, args, cwd, env_names, created_by,
                                                    created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
                    params![t.id.to_string(), org.to_string(), t.name, t.command, args, t.cwd, env, by.to_string(), at],
                )
                .map_err(|e| name_taken(e, &t.name))?;
                Ok(t)
            })
            .await
    }

    pub async fn update_template(&self, scope: &OrgScope, id: Uuid, f: TemplateFields) -> Result<Template, StoreError> {
        let org = scope.org_id();
        let (args, env) = (to_json(&f.args)?, to_json(&f.env_names)?);
        self.db
            .write(move |tx| {
                let n = tx
                    .execute(
                        "UPDATE session_templates SET name = ?1, command = ?2, args = ?3, cwd = ?4, env_names = ?5,
                                updated_at = ?6
                         WHERE id = ?7 AND org_id = ?8",
                        params![f.name, f.command, args, f.cwd, env, now(), id.to_string(), org.to_string()],
                    )
                    .map_err(|e| name_taken(e, &f.name))?;
                if n == 0 {
                    return Err(StoreError::NotFound);
                }
                let sql = format!("SELECT {COLS} FROM session_templates WHERE id = ?1");
                Ok(tx.query_row(&sql, [id.to_string()], from_row)?)
            })
            .await
    }

    pub async fn delete_template(&self, scope: &OrgScope, id: Uuid) -> Result<(), StoreError> {
        let org = scope.org_id();
        self.db
            .write(move |tx| {
                let n = tx.execute(
                    "DELETE FROM session_templates WHERE id = ?1 AND org_id = ?2",
                    [id.to_string(), org.to_string()],
                )?;
                if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
            })
            .await
    }
}
