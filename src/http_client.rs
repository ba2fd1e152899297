//! One small HTTP/1.1 client, on hyper-util, for asking a server how it is:
//! `doctor`'s portal and WebDriver checks, and the wait for a chromedriver
//! this worker started. Plain `http://` only; for `https://` it checks that
//! the TLS port accepts a connection. Every call has one deadline.

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A server's answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

/// Why a GET got no answer, in words that end with what to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetError {
    /// No TCP connection (refused, unresolved, unreachable).
    Unreachable(String),
    /// Connected, but no whole answer within the deadline.
    Silent(Duration),
    /// Something answered, but not in HTTP.
    NotHttp,
    /// An `https://` URL whose port accepts connections: not checked further.
    TlsOnly,
}

impl std::fmt::Display for GetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GetError::Unreachable(why) => write!(
                f,
                "cannot connect ({why}); check the address, the network and that the server runs"
            ),
            GetError::Silent(limit) => write!(
                f,
                "no answer within {} s; check the server",
                limit.as_secs_f64()
            ),
            GetError::NotHttp => f.write_str("the answer is not HTTP"),
            GetError::TlsOnly => f.write_str("on its TLS port (not checked further)"),
        }
    }
}

/// GETs `url` and reads the whole answer within `limit`.
pub async fn get(url: &str, limit: Duration) -> Result<Answer, GetError> {
    if let Some(rest) = url.strip_prefix("https://") {
        return tls_port_open(rest, limit).await;
    }
    let uri: hyper::Uri = url
        .parse()
        .map_err(|err| GetError::Unreachable(format!("{err}")))?;
    let mut request = Request::get(uri.clone());
    // chromedriver answers 403 unless the Host is a loopback name.
    if uri.host().is_some_and(is_loopback) {
        request = request.header(hyper::header::HOST, "127.0.0.1");
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(|err| GetError::Unreachable(format!("{err}")))?;
    let client = Client::builder(TokioExecutor::new()).build_http();
    let exchange = async {
        let response = client.request(request).await.map_err(classify)?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|_| GetError::NotHttp)?
            .to_bytes();
        Ok(Answer { status, body })
    };
    tokio::time::timeout(limit, exchange)
        .await
        .map_err(|_| GetError::Silent(limit))?
}

/// As [`get`], from code that runs outside an async runtime or must not
/// hold up the one it runs on: the GET runs on a thread of its own.
pub fn get_blocking(url: &str, limit: Duration) -> Result<Answer, GetError> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|err| GetError::Unreachable(err.to_string()))?;
                runtime.block_on(get(url, limit))
            })
            .join()
            .unwrap_or_else(|_| Err(GetError::Unreachable("the request's thread failed".into())))
    })
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A connection error, or an answer that did not parse as HTTP.
fn classify(err: hyper_util::client::legacy::Error) -> GetError {
    if err.is_connect() {
        let cause = std::error::Error::source(&err)
            .map(|source| {
                // hyper-util's ConnectError wraps the io::Error: show the latter.
                std::error::Error::source(source)
                    .map_or_else(|| source.to_string(), |io| io.to_string())
            })
            .unwrap_or_else(|| err.to_string());
        return GetError::Unreachable(cause);
    }
    GetError::NotHttp
}

async fn tls_port_open(rest: &str, limit: Duration) -> Result<Answer, GetError> {
    let authority = rest.split('/').next().unwrap_or_default();
    let address = if authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok() && !authority.ends_with(']'))
    {
        authority.to_string()
    } else {
        format!("{authority}:443")
    };
    match tokio::time::timeout(limit, tokio::net::TcpStream::connect(&address)).await {
        Ok(Ok(_)) => Err(GetError::TlsOnly),
        Ok(Err(err)) => Err(GetError::Unreachable(err.to_string())),
        Err(_) => Err(GetError::Silent(limit)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_get_reads_the_status_and_body_and_names_why_it_failed() {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        let serving = std::thread::spawn(move || {
            let request = server.recv().unwrap();
            let host = request
                .headers()
                .iter()
                .find(|h| h.field.equiv("Host"))
                .map(|h| h.value.to_string());
            request
                .respond(tiny_http::Response::from_string("{\"ready\":true}").with_status_code(503))
                .unwrap();
            host
        });
        let answer = get_blocking(
            &format!("http://localhost:{port}/status"),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(answer.status, 503);
        assert_eq!(&answer.body[..], b"{\"ready\":true}");
        assert_eq!(serving.join().unwrap().as_deref(), Some("127.0.0.1"));

        let refused = get_blocking("http://127.0.0.1:1/", Duration::from_secs(5)).unwrap_err();
        assert!(
            matches!(&refused, GetError::Unreachable(why) if why.contains("refused")),
            "{refused:?}"
        );
        assert!(refused.to_string().starts_with("cannot connect ("));

        // A server that accepts and never answers.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", silent.local_addr().unwrap());
        let err = get_blocking(&url, Duration::from_millis(300)).unwrap_err();
        assert_eq!(err, GetError::Silent(Duration::from_millis(300)));
    }
}
