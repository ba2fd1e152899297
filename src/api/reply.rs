//! Responses: JSON bodies, and errors as `{"error": "<what to do>"}`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde::Serialize;

use crate::error::is_refusal;

pub type Reply = Response<Full<Bytes>>;

/// A JSON response.
pub fn json(status: StatusCode, value: &impl Serialize) -> Reply {
    match serde_json::to_vec(value) {
        Ok(body) => bytes(status, "application/json", body.into()),
        Err(err) => ApiError::internal(&err.into()).into_reply(),
    }
}

/// A response with a body of this type.
pub fn bytes(status: StatusCode, content_type: &'static str, body: Bytes) -> Reply {
    let mut reply = Response::new(Full::new(body));
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    reply
}

/// `204 No Content`.
pub fn no_content() -> Reply {
    let mut reply = Response::new(Full::new(Bytes::new()));
    *reply.status_mut() = StatusCode::NO_CONTENT;
    reply
}

/// A request answered with an error: a status and one line saying what to do.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// The `Allow` header of a `405`.
    pub allow: Option<HeaderValue>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            allow: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// A failure of the server, not of the request: logged in full, answered
    /// without details.
    pub fn internal(err: &anyhow::Error) -> ApiError {
        tracing::error!(error = %format!("{err:#}"), "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server failed to answer; try again, and if it persists tell the operator",
        )
    }

    pub fn into_reply(self) -> Reply {
        let mut reply = json(self.status, &serde_json::json!({ "error": self.message }));
        if self.status == StatusCode::UNAUTHORIZED {
            reply
                .headers_mut()
                .insert("www-authenticate", HeaderValue::from_static("Bearer"));
        }
        if let Some(allow) = self.allow {
            reply.headers_mut().insert(hyper::header::ALLOW, allow);
        }
        reply
    }
}

/// A refusal from the shared database code is the client's mistake (`400`,
/// with the CLI's message); anything else is the server's.
impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> ApiError {
        if is_refusal(&err) {
            ApiError::bad_request(format!("{err:#}"))
        } else {
            ApiError::internal(&err)
        }
    }
}
