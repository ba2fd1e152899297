//! The 24 hour slots and their capacity.

use anyhow::Result;
use rusqlite::{Connection, named_params};
use serde::Serialize;

use crate::config::estimated_pending;
use crate::error::refuse;

/// Largest capacity one slot may be given.
pub const MAX_SLOT_USERS: i64 = 100_000;

#[derive(Debug, Clone, Serialize)]
pub struct Slot {
    pub hour: i64,
    pub max_users: i64,
    pub current_users: i64,
    pub available: i64,
    /// Sum over the slot's users of estimate × factor, rounded up per user.
    pub estimated_pending_orders: i64,
}

/// Checks an hour given on the command line.
pub fn check_hour(hour: i64) -> Result<i64> {
    if !(0..=23).contains(&hour) {
        return Err(refuse(format!(
            "hour {hour} is outside 0-23; give the hour of the day the slot starts"
        )));
    }
    Ok(hour)
}

/// All 24 slots with their load.
pub fn list(conn: &Connection, factor: f64) -> Result<Vec<Slot>> {
    let mut slots: Vec<Slot> = conn
        .prepare_cached(
            "SELECT s.hour, s.max_users, COUNT(r.user_id)
             FROM hour_slots s LEFT JOIN reservations r ON r.hour = s.hour
             GROUP BY s.hour ORDER BY s.hour",
        )?
        .query_map([], |row| {
            let (hour, max_users, current_users): (i64, i64, i64) =
                (row.get(0)?, row.get(1)?, row.get(2)?);
            Ok(Slot {
                hour,
                max_users,
                current_users,
                available: (max_users - current_users).max(0),
                estimated_pending_orders: 0,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn.prepare_cached(
        "SELECT r.hour, u.monthly_orders_estimate FROM reservations r JOIN users u ON u.id = r.user_id",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let (hour, estimate): (i64, i64) = (row.get(0)?, row.get(1)?);
        if let Some(slot) = slots.iter_mut().find(|s| s.hour == hour) {
            slot.estimated_pending_orders += estimated_pending(estimate, factor);
        }
    }
    Ok(slots)
}

/// One slot's capacity and current users.
pub fn load(conn: &Connection, hour: i64) -> Result<(i64, i64)> {
    Ok(conn
        .prepare_cached(
            "SELECT s.max_users, (SELECT COUNT(*) FROM reservations r WHERE r.hour = s.hour)
             FROM hour_slots s WHERE s.hour = :hour",
        )?
        .query_row(named_params! {":hour": hour}, |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?)
}

/// Sets a slot's capacity; refused below its current users, naming them.
pub fn set_max_users(conn: &Connection, hour: i64, max_users: i64) -> Result<()> {
    check_hour(hour)?;
    if !(0..=MAX_SLOT_USERS).contains(&max_users) {
        return Err(refuse(format!(
            "capacity {max_users} is not valid; give a whole number from 0 to {MAX_SLOT_USERS}"
        )));
    }
    let users: Vec<String> = conn
        .prepare_cached(
            "SELECT u.name FROM reservations r JOIN users u ON u.id = r.user_id WHERE r.hour = :hour ORDER BY u.name",
        )?
        .query_map(named_params! {":hour": hour}, |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if users.len() as i64 > max_users {
        let to_move = users.len() as i64 - max_users;
        return Err(refuse(format!(
            "slot {hour} holds {} users, more than {max_users}; move or cancel {to_move} of: {} (`reporter reserve USER --hour H` or `reporter cancel USER`)",
            users.len(),
            users.join(", ")
        )));
    }
    conn.prepare_cached("UPDATE hour_slots SET max_users = :max WHERE hour = :hour")?
        .execute(named_params! {":max": max_users, ":hour": hour})?;
    Ok(())
}
