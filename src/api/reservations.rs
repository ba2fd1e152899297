//! `GET`, `POST` and `DELETE reservations/`: the caller's one reservation,
//! through the same functions as `reserve`, `reservations` and `cancel`.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::{Deserialize, Serialize};

use crate::db::reservations::{self, Reserved};
use crate::db::{slots, users};
use crate::error::is_refusal;

use super::caller::{self, Bearer};
use super::reply::{self, ApiError, Reply};
use super::{Api, body};

/// The body of `POST reservations/`, as the original API named it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewReservation {
    slot_id: i64,
    monthly_orders_estimate: Option<i64>,
}

const SHAPE: &str = r#"{"slot_id": 0-23, "monthly_orders_estimate": N (optional)}"#;

/// A reservation as the API shows it.
#[derive(Debug, Serialize)]
struct ReservationView {
    user: String,
    slot_id: i64,
    hour: i64,
    monthly_orders_estimate: i64,
}

/// What `POST` did: the CLI's `reserve --json` with `slot_id`.
#[derive(Debug, Serialize)]
struct ReservedView {
    slot_id: i64,
    #[serde(flatten)]
    reserved: Reserved,
}

pub async fn show(
    api: &Api,
    bearer: Bearer<'_>,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    // A bad query is reported after the token is checked: 401 comes first.
    let user = body::user_param(request.uri());
    let found = bearer
        .read(api, move |conn, caller| {
            let user = user?;
            let (_, name) = caller::one_user(conn, &caller, user.as_deref())?;
            let mine = reservations::of_user(conn, &name)?;
            Ok(mine.map(|r| ReservationView {
                user: r.user,
                slot_id: r.hour,
                hour: r.hour,
                monthly_orders_estimate: r.monthly_orders_estimate,
            }))
        })
        .await?;
    Ok(reply::json(StatusCode::OK, &found))
}

pub async fn reserve(
    api: &Api,
    bearer: Bearer<'_>,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    let caller = bearer.caller(api).await?;
    let user = body::user_param(request.uri())?;
    let wanted: NewReservation = body::json(request, SHAPE).await?;
    slots::check_hour(wanted.slot_id)?;
    if let Some(n) = wanted.monthly_orders_estimate {
        users::check_estimate(n)?;
    }
    let done = api
        .db
        .write(move |tx| {
            let (_, name) = caller::one_user(tx, &caller, user.as_deref())?;
            // The hour, the estimate and the user are checked above, so the
            // one refusal left is a full slot.
            reservations::reserve(tx, &name, wanted.slot_id, wanted.monthly_orders_estimate)
                .map_err(|err| {
                    if is_refusal(&err) {
                        ApiError::new(StatusCode::CONFLICT, format!("{err:#}"))
                    } else {
                        ApiError::internal(&err)
                    }
                })
        })
        .await?;
    let status = if done.moved || done.previous_hour.is_none() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(reply::json(
        status,
        &ReservedView {
            slot_id: done.hour,
            reserved: done,
        },
    ))
}

pub async fn cancel(
    api: &Api,
    bearer: Bearer<'_>,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    let caller = bearer.caller(api).await?;
    let user = body::user_param(request.uri())?;
    api.db
        .write(move |tx| {
            let (_, name) = caller::one_user(tx, &caller, user.as_deref())?;
            reservations::cancel(tx, &name).map_err(|err| {
                if is_refusal(&err) {
                    ApiError::not_found(format!("`{name}` holds no reservation; nothing to cancel"))
                } else {
                    ApiError::internal(&err)
                }
            })
        })
        .await?;
    Ok(reply::no_content())
}
