//! `GET /healthz` (the database and Redis answer) and `GET /metrics` (the
//! page of `reporter metrics`).

use std::time::Duration;

use bytes::Bytes;
use hyper::StatusCode;
use serde::Serialize;

use crate::metrics;

use super::Api;
use super::reply::{self, ApiError, Reply};

/// Longest a health check waits for Redis.
const REDIS_WAIT: Duration = Duration::from_secs(3);

#[derive(Serialize)]
struct Health {
    status: &'static str,
    database: String,
    redis: String,
}

pub async fn healthz(api: &Api) -> Reply {
    let database = api
        .db
        .read(|conn| {
            Ok(conn
                .query_row("SELECT 1", [], |_| Ok(()))
                .map_err(anyhow::Error::from)?)
        })
        .await;
    let database = match database {
        Ok(()) => "ok".to_string(),
        Err(err) => err.message,
    };
    let redis =
        match tokio::time::timeout(REDIS_WAIT, async { api.coordinator().await?.ping().await })
            .await
        {
            Ok(Ok(())) => "ok".to_string(),
            Ok(Err(err)) => format!("{err:#}"),
            Err(_) => format!("Redis did not answer within {} s", REDIS_WAIT.as_secs()),
        };
    let healthy = database == "ok" && redis == "ok";
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    reply::json(
        status,
        &Health {
            status: if healthy { "ok" } else { "failing" },
            database,
            redis,
        },
    )
}

pub async fn metrics(api: &Api) -> Result<Reply, ApiError> {
    let state = async { metrics::RedisState::read(&api.coordinator().await?).await };
    let state = match tokio::time::timeout(REDIS_WAIT, state).await {
        Ok(state) => metrics::answered(state),
        Err(_) => metrics::answered(Err(anyhow::anyhow!(
            "Redis did not answer within {} s",
            REDIS_WAIT.as_secs()
        ))),
    };
    let config = api.config.clone();
    let page = api
        .db
        .read(move |conn| Ok(metrics::render(&config, conn, state.as_ref())?))
        .await?;
    Ok(reply::bytes(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        Bytes::from(page),
    ))
}
