//! What a request carries besides its token: `?user=NAME` and a JSON body,
//! each checked before anything touches the database.

use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, StatusCode, Uri};
use serde::de::DeserializeOwned;

use super::reply::ApiError;
use super::{BODY_LIMIT, BODY_TIMEOUT};

/// `?user=NAME`, the only query parameter there is.
pub fn user_param(uri: &Uri) -> Result<Option<String>, ApiError> {
    let mut user = None;
    for (key, value) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "user" if user.is_none() => user = Some(value.into_owned()),
            "user" => return Err(ApiError::bad_request("give ?user= once")),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter `{other}`; the only one is ?user=NAME (admin tokens)"
                )));
            }
        }
    }
    Ok(user)
}

/// The body as `T`: JSON, at most `BODY_LIMIT` bytes, in within `BODY_TIMEOUT`.
/// `shape` is the body expected, quoted in the error.
pub async fn json<T: DeserializeOwned>(
    request: Request<Incoming>,
    shape: &str,
) -> Result<T, ApiError> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    if !content_type.is_some_and(|t| t.eq_ignore_ascii_case("application/json")) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("send the body as JSON with `Content-Type: application/json`: {shape}"),
        ));
    }
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over {BODY_LIMIT} bytes; send only {shape}"),
        )
    };
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return Err(too_large());
    }
    tracing::debug!("reading the request body");
    let body = Limited::new(request.into_body(), BODY_LIMIT).collect();
    let bytes = match tokio::time::timeout(BODY_TIMEOUT, body).await {
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the body did not arrive within {} s; send it at once",
                    BODY_TIMEOUT.as_secs()
                ),
            ));
        }
        Ok(Err(err)) if err.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large()),
        Ok(Err(_)) => {
            return Err(ApiError::bad_request(
                "the body could not be read; send it again",
            ));
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    serde_json::from_slice(&bytes).map_err(|err| {
        ApiError::bad_request(format!("the body is not valid here ({err}); send {shape}"))
    })
}
