//! Who is asking (the bearer token) and for whom (`?user=NAME`, admins only).

use hyper::header::AUTHORIZATION;
use hyper::{HeaderMap, StatusCode};
use rusqlite::Connection;

use crate::db::tokens::{self, Caller};
use crate::db::users;

use super::Api;
use super::reply::ApiError;

/// The users a request is about.
pub enum Scope {
    /// One user: a user token's own, or the one an admin named.
    User { id: i64, name: String },
    /// Everyone: an admin token without `?user=`.
    All,
}

fn unauthorized() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "missing, unknown or revoked token; send `Authorization: Bearer TOKEN` with a token from `reporter tokens add USER`",
    )
}

/// The bearer token of a request, and where the request log learns the
/// caller's name. The token goes no further than the hash it is looked up by.
pub struct Bearer<'a> {
    token: String,
    who: &'a mut Option<String>,
}

impl<'a> Bearer<'a> {
    /// The token of `Authorization: Bearer TOKEN`; `401` without one.
    pub fn from_headers(
        headers: &HeaderMap,
        who: &'a mut Option<String>,
    ) -> Result<Bearer<'a>, ApiError> {
        let token = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty() && token.len() <= 256)
            .ok_or_else(unauthorized)?
            .to_owned();
        Ok(Bearer { token, who })
    }

    /// Runs `f` for the token's caller on a reading connection: checking the
    /// token and the read are one trip to a database thread. `401` for a
    /// token that is unknown or revoked.
    pub async fn read<T: Send + 'static>(
        self,
        api: &Api,
        f: impl FnOnce(&Connection, Caller) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let token = self.token;
        let (name, result) = api
            .db
            .read(move |conn| {
                let caller = tokens::authenticate(conn, &token)?.ok_or_else(unauthorized)?;
                Ok((caller.name().to_owned(), f(conn, caller)))
            })
            .await?;
        *self.who = Some(name);
        result
    }

    /// The token's caller.
    pub async fn caller(self, api: &Api) -> Result<Caller, ApiError> {
        self.read(api, |_, caller| Ok(caller)).await
    }
}

/// The users the request is about. Another user's name, for a user token, is
/// answered like a name that does not exist, so names cannot be probed.
pub fn scope(conn: &Connection, caller: &Caller, user: Option<&str>) -> Result<Scope, ApiError> {
    let unknown = |name: &str| {
        ApiError::not_found(format!(
            "user `{name}` does not exist; leave out ?user= to act as the token's own user"
        ))
    };
    match (caller, user) {
        (Caller::User { id, name }, None) => Ok(Scope::User {
            id: *id,
            name: name.clone(),
        }),
        (Caller::User { id, name }, Some(asked)) if asked == name => Ok(Scope::User {
            id: *id,
            name: name.clone(),
        }),
        (Caller::User { .. }, Some(asked)) => Err(unknown(asked)),
        (Caller::Admin { .. }, None) => Ok(Scope::All),
        (Caller::Admin { .. }, Some(asked)) => match users::find(conn, asked)? {
            Some(user) => Ok(Scope::User {
                id: user.id,
                name: user.name,
            }),
            None => Err(ApiError::not_found(format!(
                "user `{asked}` does not exist; see `reporter users list`"
            ))),
        },
    }
}

/// The one user a reservation request is about; an admin must name one.
pub fn one_user(
    conn: &Connection,
    caller: &Caller,
    user: Option<&str>,
) -> Result<(i64, String), ApiError> {
    match scope(conn, caller, user)? {
        Scope::User { id, name } => Ok((id, name)),
        Scope::All => Err(ApiError::bad_request(
            "an admin token acts for one user here; add ?user=NAME",
        )),
    }
}
