//! `GET runs/` and `GET runs/<run_id>/progress/`: the caller's runs, through
//! the same functions as `reporter progress`.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use crate::db::runs;

use super::caller::{self, Bearer, Scope};
use super::reply::{self, ApiError, Reply};
use super::{Api, body};

/// Runs listed by `GET runs/`, newest first.
const RECENT_RUNS: i64 = 20;

pub async fn list(
    api: &Api,
    bearer: Bearer<'_>,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    // A bad query is reported after the token is checked: 401 comes first.
    let user = body::user_param(request.uri());
    let recent = bearer
        .read(api, move |conn, caller| {
            let user = user?;
            Ok(match caller::scope(conn, &caller, user.as_deref())? {
                Scope::User { id, .. } => runs::recent_for_user(conn, id, RECENT_RUNS)?,
                Scope::All => runs::recent(conn, RECENT_RUNS)?,
            })
        })
        .await?;
    Ok(reply::json(StatusCode::OK, &recent))
}

pub async fn progress(
    api: &Api,
    bearer: Bearer<'_>,
    request: Request<Incoming>,
    run_id: i64,
) -> Result<Reply, ApiError> {
    // A bad query is reported after the token is checked: 401 comes first.
    let user = body::user_param(request.uri());
    let found = bearer
        .read(api, move |conn, caller| {
            let user = user?;
            let progress = match caller::scope(conn, &caller, user.as_deref())? {
                Scope::User { name, .. } => runs::run_progress(conn, run_id, Some(&name))?
                    .filter(|run| !run.users.is_empty()),
                Scope::All => runs::run_progress(conn, run_id, None)?,
            };
            Ok(progress)
        })
        .await?;
    match found {
        Some(progress) => Ok(reply::json(StatusCode::OK, &progress)),
        None => Err(ApiError::not_found(format!(
            "run {run_id} does not exist or has no reservation of yours; list your runs with GET /api/reporter/runs/"
        ))),
    }
}
