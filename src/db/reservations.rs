//! Reservations: a user holds at most one, a slot never more than its capacity.

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, named_params};
use serde::Serialize;

use crate::db::{slots, users};
use crate::error::refuse;
use crate::time::now_ms;

#[derive(Debug, Clone, Serialize)]
pub struct Reservation {
    pub user: String,
    pub hour: i64,
    pub monthly_orders_estimate: i64,
}

/// What `reserve` did.
#[derive(Debug, Clone, Serialize)]
pub struct Reserved {
    pub user: String,
    pub hour: i64,
    pub previous_hour: Option<i64>,
    pub moved: bool,
    pub monthly_orders_estimate: i64,
    pub current_users: i64,
    pub max_users: i64,
}

/// The hour a user holds, if any.
pub fn hour_of(conn: &Connection, user_id: i64) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT hour FROM reservations WHERE user_id = :id")?
        .query_row(named_params! {":id": user_id}, |r| r.get(0))
        .optional()?)
}

/// Reserves `hour` for a user, or moves their reservation there. Must run in
/// a `BEGIN IMMEDIATE` transaction so the capacity check and the write are one.
pub fn reserve(
    conn: &Connection,
    name: &str,
    hour: i64,
    estimate: Option<i64>,
) -> Result<Reserved> {
    slots::check_hour(hour)?;
    if let Some(n) = estimate {
        users::check_estimate(n)?;
    }
    let user = users::get(conn, name)?;
    let previous = hour_of(conn, user.id)?;
    let (max_users, current) = slots::load(conn, hour)?;
    if previous != Some(hour) && current >= max_users {
        let keeps = previous
            .map(|h| format!("; `{name}` keeps hour {h}"))
            .unwrap_or_default();
        return Err(refuse(format!(
            "slot {hour} is full ({current} of {max_users}){keeps}; pick another hour with `reporter slots`"
        )));
    }
    conn.prepare_cached(
        "INSERT INTO reservations (user_id, hour, created_at) VALUES (:id, :hour, :now)
         ON CONFLICT (user_id) DO UPDATE SET hour = excluded.hour, created_at = excluded.created_at
         WHERE reservations.hour <> excluded.hour",
    )?
    .execute(named_params! {":id": user.id, ":hour": hour, ":now": now_ms()})?;
    let estimate = estimate.unwrap_or(user.monthly_orders_estimate);
    if estimate != user.monthly_orders_estimate {
        users::set_estimate(conn, user.id, estimate)?;
    }
    let (max_users, current_users) = slots::load(conn, hour)?;
    Ok(Reserved {
        user: user.name,
        hour,
        previous_hour: previous,
        moved: previous.is_some_and(|p| p != hour),
        monthly_orders_estimate: estimate,
        current_users,
        max_users,
    })
}

/// All reservations, or one user's.
pub fn list(conn: &Connection, user: Option<&str>) -> Result<Vec<Reservation>> {
    if let Some(name) = user {
        return Ok(of_user(conn, name)?.into_iter().collect());
    }
    let mut stmt = conn.prepare_cached(
        "SELECT u.name, r.hour, u.monthly_orders_estimate
         FROM reservations r JOIN users u ON u.id = r.user_id
         ORDER BY r.hour, u.name",
    )?;
    let rows = stmt
        .query_map([], reservation_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// One user's reservation, if they hold one (found through the unique name,
/// not by scanning every reservation).
pub fn of_user(conn: &Connection, name: &str) -> Result<Option<Reservation>> {
    Ok(conn
        .prepare_cached(
            "SELECT u.name, r.hour, u.monthly_orders_estimate
             FROM users u JOIN reservations r ON r.user_id = u.id
             WHERE u.name = :user",
        )?
        .query_row(named_params! {":user": name}, reservation_from_row)
        .optional()?)
}

fn reservation_from_row(r: &rusqlite::Row) -> rusqlite::Result<Reservation> {
    Ok(Reservation {
        user: r.get(0)?,
        hour: r.get(1)?,
        monthly_orders_estimate: r.get(2)?,
    })
}

/// Cancels a user's reservation and returns the hour it held.
pub fn cancel(conn: &Connection, name: &str) -> Result<i64> {
    let user = users::get(conn, name)?;
    let hour = hour_of(conn, user.id)?.ok_or_else(|| {
        refuse(format!(
            "user `{name}` holds no reservation; nothing to cancel (see `reporter reservations`)"
        ))
    })?;
    conn.prepare_cached("DELETE FROM reservations WHERE user_id = :id")?
        .execute(named_params! {":id": user.id})?;
    Ok(hour)
}
