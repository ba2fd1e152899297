//! Which handler answers a request, and the request log line.

use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, StatusCode};

use super::caller::Bearer;
use super::reply::{self, ApiError, Reply};
use super::{Api, body, health, reservations, runs};

/// Where the original system's endpoints live.
const PREFIX: &str = "/api/reporter/";

/// Answers one request and logs it: method, path, status, duration and the
/// caller's name. Never the token, the query or the body.
pub async fn respond(api: &Api, request: Request<Incoming>) -> Reply {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let mut user = None;
    let reply = route(api, request, &mut user)
        .await
        .unwrap_or_else(ApiError::into_reply);
    tracing::info!(
        %method,
        path,
        status = reply.status().as_u16(),
        duration_ms = format!("{:.1}", started.elapsed().as_secs_f64() * 1000.0),
        user = user.as_deref().unwrap_or("-"),
        "request"
    );
    reply
}

async fn route(
    api: &Api,
    request: Request<Incoming>,
    user: &mut Option<String>,
) -> Result<Reply, ApiError> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    match path.as_str() {
        "/healthz" => {
            only(&method, &[Method::GET])?;
            return Ok(health::healthz(api).await);
        }
        "/metrics" => {
            only(&method, &[Method::GET])?;
            return health::metrics(api).await;
        }
        _ => {}
    }
    let segments: Vec<&str> = path
        .strip_prefix(PREFIX)
        .ok_or_else(no_such_endpoint)?
        .trim_end_matches('/')
        .split('/')
        .collect();
    let endpoint = match segments.as_slice() {
        ["slots"] => Endpoint::Slots,
        ["reservations"] => Endpoint::Reservations,
        ["runs"] => Endpoint::Runs,
        ["runs", id, "progress"] => Endpoint::Progress(id.parse().map_err(|_| {
            ApiError::not_found(format!(
                "run `{id}` does not exist; list your runs with GET {PREFIX}runs/"
            ))
        })?),
        _ => return Err(no_such_endpoint()),
    };
    let allowed: &[Method] = match endpoint {
        Endpoint::Reservations => &[Method::GET, Method::POST, Method::DELETE],
        _ => &[Method::GET],
    };
    only(&method, allowed)?;
    let bearer = Bearer::from_headers(request.headers(), user)?;
    match (endpoint, method) {
        (Endpoint::Slots, _) => {
            // Nothing to choose here, but a misspelled parameter is still refused.
            let query = body::user_param(request.uri());
            let slots = api.db.slots();
            let body = bearer
                .read(api, move |_, _| query.and_then(|_| slots.json()))
                .await?;
            Ok(reply::bytes(StatusCode::OK, "application/json", body))
        }
        (Endpoint::Reservations, Method::GET) => reservations::show(api, bearer, request).await,
        (Endpoint::Reservations, Method::POST) => reservations::reserve(api, bearer, request).await,
        (Endpoint::Reservations, _) => reservations::cancel(api, bearer, request).await,
        (Endpoint::Runs, _) => runs::list(api, bearer, request).await,
        (Endpoint::Progress(run_id), _) => runs::progress(api, bearer, request, run_id).await,
    }
}

enum Endpoint {
    Slots,
    Reservations,
    Runs,
    Progress(i64),
}

fn no_such_endpoint() -> ApiError {
    ApiError::not_found(format!(
        "no such endpoint; the API is slots/, reservations/, runs/ and runs/<run_id>/progress/ under {PREFIX}"
    ))
}

/// `405` naming the methods that would work.
fn only(method: &Method, allowed: &[Method]) -> Result<(), ApiError> {
    if allowed.contains(method) {
        return Ok(());
    }
    let names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed here; use {}", names.join(", ")),
    )
    .with_allow(names.join(", ")))
}

impl ApiError {
    fn with_allow(self, allow: String) -> ApiError {
        ApiError {
            allow: HeaderValue::from_str(&allow).ok(),
            ..self
        }
    }
}
