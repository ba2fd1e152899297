//! A small HTTP/1.1 server for the example portals: one thread per
//! connection, kept alive between requests, request bodies by
//! `Content-Length`.
//!
//! A connection a browser opens and leaves idle (a preconnect, a kept-alive
//! socket of a browser that is still alive) holds only its own thread, so it
//! never delays another connection's requests. (tiny_http's pool could leave
//! a new connection queued behind such idle ones, so that the portal stopped
//! answering while browsers held sockets open.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// How long a kept-alive connection may sit idle before it is closed.
const IDLE: Duration = Duration::from_secs(300);
/// The most a request's head (request line and headers) may take.
const MAX_HEAD_BYTES: u64 = 64 * 1024;
/// The largest request body taken.
const MAX_BODY_BYTES: u64 = 64 * 1024;

pub enum Method {
    Get,
    Post,
    Put,
    Other,
}

/// One request, its body read.
pub struct Request {
    pub method: Method,
    /// The request target: path and query.
    pub url: String,
    headers: Vec<(String, String)>,
    pub body: String,
}

impl Request {
    /// The values of every header named `name` (case-insensitive).
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One answer; `Content-Length` and `Connection` are added when it is sent.
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    /// The bytes sent as they are (text or a binary download).
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

/// Binds `listen` (port 0 picks a free one).
pub fn bind(listen: &str) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(listen)?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// Serves every connection on a thread of its own, for ever.
pub fn serve<H>(listener: TcpListener, handle: H)
where
    H: Fn(Request) -> Response + Send + Sync + 'static,
{
    let handle = Arc::new(handle);
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let handle = Arc::clone(&handle);
        thread::spawn(move || connection(stream, &*handle));
    }
}

fn connection(stream: TcpStream, handle: &(dyn Fn(Request) -> Response + Send + Sync)) {
    let _ = stream.set_read_timeout(Some(IDLE));
    let _ = stream.set_nodelay(true);
    let Ok(reading) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(reading);
    let mut writer = stream;
    loop {
        let (request, keep_alive) = match read_request(&mut reader) {
            Ok(Some(read)) => read,
            Ok(None) => return,
            Err(status) => {
                let answer = Response {
                    status,
                    content_type: "text/plain",
                    body: Vec::new(),
                    headers: Vec::new(),
                };
                let _ = write_response(&mut writer, &answer, false);
                return;
            }
        };
        let answer = handle(request);
        if write_response(&mut writer, &answer, keep_alive).is_err() || !keep_alive {
            return;
        }
    }
}

/// The next request and whether the connection stays open after it; `None`
/// once the client hangs up (or stays idle too long); an error status for a
/// request this server does not take.
fn read_request(reader: &mut BufReader<TcpStream>) -> Result<Option<(Request, bool)>, u16> {
    let mut head = reader.by_ref().take(MAX_HEAD_BYTES);
    let mut line = String::new();
    // Blank lines before a request are allowed (RFC 9112, 2.2).
    loop {
        line.clear();
        match head.read_line(&mut line) {
            Ok(0) | Err(_) => return Ok(None),
            Ok(_) if line.trim().is_empty() => continue,
            Ok(_) => break,
        }
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(url), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    let method = match method {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        _ => Method::Other,
    };
    let (url, http10) = (url.to_string(), version == "HTTP/1.0");
    let mut headers = Vec::new();
    loop {
        line.clear();
        match head.read_line(&mut line) {
            Ok(0) | Err(_) => return Ok(None),
            Ok(_) if !line.ends_with('\n') => return Err(431),
            Ok(_) => {}
        }
        let text = line.trim_end();
        if text.is_empty() {
            break;
        }
        let Some((name, value)) = text.split_once(':') else {
            return Err(400);
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    if header("transfer-encoding").is_some() {
        return Err(411);
    }
    let length: u64 = match header("content-length") {
        Some(value) => value.parse().map_err(|_| 400u16)?,
        None => 0,
    };
    if length > MAX_BODY_BYTES {
        return Err(413);
    }
    let keep_alive = match header("connection") {
        Some(value) if value.contains("close") => false,
        Some(value) if value.contains("keep-alive") => true,
        _ => !http10,
    };
    let mut body = Vec::with_capacity(length as usize);
    if reader.take(length).read_to_end(&mut body).ok() != Some(length as usize) {
        return Ok(None);
    }
    let request = Request {
        method,
        url,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    Ok(Some((request, keep_alive)))
}

fn write_response(
    writer: &mut TcpStream,
    answer: &Response,
    keep_alive: bool,
) -> std::io::Result<()> {
    let reason = match answer.status {
        200 => "OK",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    };
    let mut out = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\n",
        answer.status, answer.content_type
    );
    for (name, value) in &answer.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: {}\r\n\r\n",
        answer.body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&answer.body);
    writer.write_all(&bytes)?;
    writer.flush()
}
