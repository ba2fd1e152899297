//! Users: the customers whose orders are reported.

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, named_params};
use serde::Serialize;

use crate::error::refuse;
use crate::time::now_ms;

/// Largest monthly orders estimate accepted; beyond it the number is a typo.
pub const MAX_MONTHLY_ORDERS: i64 = 10_000_000;

#[derive(Debug, Clone, Serialize)]
pub struct User {
    #[serde(skip)]
    pub id: i64,
    pub name: String,
    pub login: String,
    pub monthly_orders_estimate: i64,
}

/// Checks a monthly orders estimate given on the command line.
pub fn check_estimate(n: i64) -> Result<i64> {
    if !(0..=MAX_MONTHLY_ORDERS).contains(&n) {
        return Err(refuse(format!(
            "monthly orders estimate {n} is not valid; give a whole number from 0 to {MAX_MONTHLY_ORDERS}"
        )));
    }
    Ok(n)
}

/// Checks a user name given on the command line: 1 to 128 characters (not
/// bytes), not one that reads as a flag (`-x`) or a directory (`.`, `..`,
/// `../x`), as names end up in later commands and file names.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.chars().count() <= 128
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || "._@+-".contains(c));
    if !ok {
        return Err(refuse(format!(
            "user name `{name}` is not valid; use 1 to 128 letters, digits and . _ @ + -"
        )));
    }
    if name.starts_with('-') || name.starts_with("..") || name == "." {
        return Err(refuse(format!(
            "user name `{name}` is not valid; it must not start with `-` or `..`, or be `.`"
        )));
    }
    Ok(())
}

pub fn add(conn: &Connection, name: &str, login: &str, estimate: i64) -> Result<User> {
    check_name(name)?;
    check_estimate(estimate)?;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO users (name, login, monthly_orders_estimate, created_at)
             VALUES (:name, :login, :estimate, :now)
             ON CONFLICT (name) DO NOTHING",
        )?
        .execute(
            named_params! {":name": name, ":login": login, ":estimate": estimate, ":now": now_ms()},
        )?;
    if inserted == 0 {
        return Err(refuse(format!(
            "user `{name}` already exists; see `reporter users list`"
        )));
    }
    Ok(User {
        id: conn.last_insert_rowid(),
        name: name.into(),
        login: login.into(),
        monthly_orders_estimate: estimate,
    })
}

pub fn list(conn: &Connection) -> Result<Vec<User>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, login, monthly_orders_estimate FROM users ORDER BY name",
    )?;
    let users = stmt
        .query_map([], from_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(users)
}

pub fn find(conn: &Connection, name: &str) -> Result<Option<User>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, login, monthly_orders_estimate FROM users WHERE name = :name",
    )?;
    Ok(stmt
        .query_row(named_params! {":name": name}, from_row)
        .optional()?)
}

/// The user, or a refusal that says how to add it.
pub fn get(conn: &Connection, name: &str) -> Result<User> {
    find(conn, name)?.ok_or_else(|| {
        refuse(format!(
            "user `{name}` does not exist; add it with `reporter users add {name}` or see `reporter users list`"
        ))
    })
}

pub fn set_estimate(conn: &Connection, user_id: i64, estimate: i64) -> Result<()> {
    conn.prepare_cached("UPDATE users SET monthly_orders_estimate = :estimate WHERE id = :id")?
        .execute(named_params! {":estimate": estimate, ":id": user_id})?;
    Ok(())
}

/// Removes a user with their reservation, known orders and run history.
/// Refused while a job of theirs is queued or running.
pub fn remove(conn: &Connection, name: &str) -> Result<User> {
    let user = get(conn, name)?;
    let active: Option<i64> = conn
        .prepare_cached(
            "SELECT j.run_id FROM jobs j JOIN run_users ru ON ru.id = j.run_user_id
             WHERE ru.user_id = :id AND j.status IN ('queued', 'running', 'retrying') LIMIT 1",
        )?
        .query_row(named_params! {":id": user.id}, |r| r.get(0))
        .optional()?;
    if let Some(run_id) = active {
        return Err(refuse(format!(
            "user `{name}` has work in progress in run {run_id}; wait for it to end (`reporter progress {run_id}`) and try again"
        )));
    }
    conn.prepare_cached("DELETE FROM users WHERE id = :id")?
        .execute(named_params! {":id": user.id})?;
    Ok(user)
}

fn from_row(row: &rusqlite::Row) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        name: row.get(1)?,
        login: row.get(2)?,
        monthly_orders_estimate: row.get(3)?,
    })
}
