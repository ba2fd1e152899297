//! Bearer tokens of the HTTP API. A token is shown once when it is made; only
//! its SHA-256 is stored, and a request is matched by hashing what it sends.

use anyhow::Result;
use rand::RngCore;
use rusqlite::{Connection, OptionalExtension, named_params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::db::users;
use crate::error::refuse;
use crate::time::now_ms;

/// Every token starts with this, so a leaked one is easy to recognise.
pub const PREFIX: &str = "rpt_";
/// Random bytes in a token: 256 bits, so a fast hash is safe to store.
const RANDOM_BYTES: usize = 32;

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A customer: sees and changes only their own data.
    User { id: i64, name: String },
    /// An operator's token: may act for any user (`?user=NAME`).
    Admin { name: String },
}

impl Caller {
    /// The name shown in request logs.
    pub fn name(&self) -> &str {
        match self {
            Caller::User { name, .. } => name,
            Caller::Admin { name } => name,
        }
    }
}

/// A made token: its id and the secret, which is never stored.
pub struct Issued {
    pub id: i64,
    pub token: String,
}

/// A row of `tokens list`; never the hash.
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub kind: &'static str,
    pub name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// Lowercase hex SHA-256 of a token, as stored.
pub fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn new_secret() -> String {
    let mut bytes = [0u8; RANDOM_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{PREFIX}{hex}")
}

/// Makes a token for a user.
pub fn add_for_user(conn: &Connection, name: &str) -> Result<Issued> {
    let user = users::get(conn, name)?;
    insert(conn, Some(user.id), None)
}

/// Makes an admin token, named for whoever holds it.
pub fn add_admin(conn: &Connection, name: &str) -> Result<Issued> {
    users::check_name(name)?;
    insert(conn, None, Some(name))
}

fn insert(conn: &Connection, user_id: Option<i64>, admin: Option<&str>) -> Result<Issued> {
    let token = new_secret();
    conn.prepare_cached(
        "INSERT INTO api_tokens (user_id, admin_name, hash, created_at)
         VALUES (:user, :admin, :hash, :now)",
    )?
    .execute(named_params! {
        ":user": user_id, ":admin": admin, ":hash": hash(&token), ":now": now_ms(),
    })?;
    Ok(Issued {
        id: conn.last_insert_rowid(),
        token,
    })
}

/// Every token, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<TokenInfo>> {
    let mut stmt = conn.prepare_cached(
        "SELECT t.id, t.admin_name, u.name, t.created_at, t.revoked_at
         FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id ORDER BY t.id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            let admin: Option<String> = r.get(1)?;
            let user: Option<String> = r.get(2)?;
            Ok(TokenInfo {
                id: r.get(0)?,
                kind: if admin.is_some() { "admin" } else { "user" },
                name: admin.or(user).unwrap_or_default(),
                created_at: r.get(3)?,
                revoked_at: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Revokes a token; refused when there is no such live token.
pub fn revoke(conn: &Connection, id: i64) -> Result<()> {
    let changed = conn
        .prepare_cached(
            "UPDATE api_tokens SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL",
        )?
        .execute(named_params! {":id": id, ":now": now_ms()})?;
    if changed == 0 {
        return Err(refuse(format!(
            "token {id} does not exist or is already revoked; see `reporter tokens list`"
        )));
    }
    Ok(())
}

/// The caller a token speaks for, if it is a live token.
pub fn authenticate(conn: &Connection, token: &str) -> Result<Option<Caller>> {
    Ok(conn
        .prepare_cached(
            "SELECT t.user_id, u.name, t.admin_name
             FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id
             WHERE t.hash = :hash AND t.revoked_at IS NULL",
        )?
        .query_row(named_params! {":hash": hash(token)}, |r| {
            let user: Option<(i64, String)> = match r.get::<_, Option<i64>>(0)? {
                Some(id) => Some((id, r.get(1)?)),
                None => None,
            };
            Ok(match user {
                Some((id, name)) => Caller::User { id, name },
                None => Caller::Admin { name: r.get(2)? },
            })
        })
        .optional()?)
}
