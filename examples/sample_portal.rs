//! Sample "orders portal": a small server-rendered web app that the
//! end-to-end tests drive with a real headless browser.
//!
//! Each user logs in, lists their orders, may export them as CSV, and
//! reports an order through a form. Reports are recorded once per order and
//! can be inspected through the unauthenticated `/_admin` endpoints.
//!
//! ```text
//! cargo run --example sample_portal -- --listen 127.0.0.1:0 --users users.txt \
//!     [--seed N] [--orders-per-user N] [--mixed-statuses] [--slow-ms N] \
//!     [--error-rate F] [--session-ttl-secs N] [--expire-after-reports N]
//! ```
//!
//! * `--users FILE`: one `login:password` per line (blank lines and `#`
//!   comments are skipped).
//! * `--seed`, `--orders-per-user`: orders are generated deterministically
//!   from the seed and the login (`ORD-<login>-00001`, ...). Every order is
//!   `disputed` unless `--mixed-statuses` is given (then about 80% disputed,
//!   the rest delivered / returned / cancelled).
//! * `--slow-ms N`: delay every response except `/_admin/*` by N ms.
//! * `--error-rate F`: answer HTTP 500 to that share (0..=1) of order pages
//!   and report POSTs, drawn from an RNG seeded with `--seed`.
//! * `--session-ttl-secs N`: sessions expire N seconds after login.
//! * `--expire-after-reports N`: a session expires once N report POSTs
//!   (new or duplicate) have been handled in it.
//!
//! Once ready it prints `sample portal listening on http://ADDR` on stdout.
//! Passwords and cookies are never logged.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{Days, NaiveDate, SecondsFormat, Utc};
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

#[path = "support/http.rs"]
mod http;
use http::{Method, Request, Response};

const PAGE_SIZE: usize = 50;
const REASONS: [&str; 3] = ["wrong_item", "not_received", "damaged"];
const OTHER_STATUSES: [&str; 3] = ["delivered", "returned", "cancelled"];

#[derive(Parser, Debug)]
#[command(about = "Sample orders portal for end-to-end tests")]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// File with one `login:password` per line.
    #[arg(long)]
    users: PathBuf,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, default_value_t = 300)]
    orders_per_user: usize,
    /// Mix statuses instead of making every order "disputed".
    #[arg(long)]
    mixed_statuses: bool,
    #[arg(long, default_value_t = 0)]
    slow_ms: u64,
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    #[arg(long, default_value_t = 3600)]
    session_ttl_secs: u64,
    #[arg(long)]
    expire_after_reports: Option<u32>,
}

struct Order {
    id: String,
    date: NaiveDate,
    amount_cents: u64,
    status: &'static str,
}

struct Session {
    login: String,
    started: Instant,
    report_posts: u32,
}

#[derive(Serialize)]
struct Report {
    user: String,
    order: String,
    reason: String,
    comment: String,
    time: String,
}

#[derive(Serialize, Default)]
struct Stats {
    logins: u64,
    reports: u64,
    duplicate_report_posts: u64,
    requests: u64,
    failed_logins: u64,
    server_errors: u64,
}

/// Everything that changes while the portal runs.
#[derive(Default)]
struct State {
    sessions: HashMap<String, Session>,
    reports: Vec<Report>,
    report_by_order: HashMap<String, usize>,
    stats: Stats,
}

struct Portal {
    args: Args,
    passwords: HashMap<String, String>,
    orders: HashMap<String, Vec<Order>>,
    state: Mutex<State>,
    fault_rng: Mutex<StdRng>,
}

/// The parts of a request the handlers look at.
struct Incoming {
    method: Method,
    path: String,
    query: HashMap<String, String>,
    session_token: Option<String>,
    body: String,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if !(0.0..=1.0).contains(&args.error_rate) {
        bail!("--error-rate must be between 0 and 1");
    }
    let passwords = read_users(&args.users)?;
    let orders = passwords
        .keys()
        .map(|login| (login.clone(), generate_orders(&args, login)))
        .collect();
    let (listener, addr) =
        http::bind(&args.listen).with_context(|| format!("cannot listen on {}", args.listen))?;
    let portal = Arc::new(Portal {
        state: Mutex::default(),
        fault_rng: Mutex::new(StdRng::seed_from_u64(args.seed)),
        args,
        passwords,
        orders,
    });
    let mut stdout = std::io::stdout();
    writeln!(stdout, "sample portal listening on http://{addr}")?;
    stdout.flush()?;
    http::serve(listener, move |request| serve(&portal, request));
    Ok(())
}

fn read_users(path: &Path) -> Result<HashMap<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut users = HashMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((login, password)) = line.split_once(':') else {
            bail!("{}:{}: expected login:password", path.display(), number + 1);
        };
        users.insert(login.to_string(), password.to_string());
    }
    Ok(users)
}

/// Stable FNV-1a hash, so orders do not depend on the std hasher.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn generate_orders(args: &Args, login: &str) -> Vec<Order> {
    let mut rng = StdRng::seed_from_u64(args.seed ^ fnv1a(login));
    let first_day = NaiveDate::from_ymd_opt(2024, 1, 1).expect("valid date");
    let mut date = first_day;
    (1..=args.orders_per_user)
        .map(|number| {
            date = date + Days::new(rng.random_range(0..3));
            let status = if args.mixed_statuses && rng.random_bool(0.2) {
                OTHER_STATUSES[rng.random_range(0..OTHER_STATUSES.len())]
            } else {
                "disputed"
            };
            Order {
                id: format!("ORD-{login}-{number:05}"),
                date,
                amount_cents: rng.random_range(500..50_000),
                status,
            }
        })
        .collect()
}

fn serve(portal: &Portal, request: Request) -> Response {
    let incoming = read_incoming(request);
    portal.lock().stats.requests += 1;
    if portal.args.slow_ms > 0 && !incoming.path.starts_with("/_admin") {
        thread::sleep(Duration::from_millis(portal.args.slow_ms));
    }
    route(portal, &incoming)
}

fn read_incoming(request: Request) -> Incoming {
    let (path, query) = request.url.split_once('?').unwrap_or((&request.url, ""));
    let (path, query) = (percent_decode(path, false), parse_form(query));
    let session_token = request
        .header_values("Cookie")
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix("session="))
        .map(str::to_string);
    Incoming {
        method: request.method,
        path,
        query,
        session_token,
        body: request.body,
    }
}

fn route(portal: &Portal, req: &Incoming) -> Response {
    let path = req.path.as_str();
    match (&req.method, path) {
        (Method::Get, "/") => redirect("/orders"),
        (Method::Get, "/login") => login_page(None),
        (Method::Post, "/login") => login(portal, &parse_form(&req.body)),
        (Method::Get, "/logout") => logout(portal, req),
        (Method::Get, "/_admin/reports") => admin_reports(portal),
        (Method::Get, "/_admin/stats") => admin_stats(portal),
        _ if !path.starts_with("/orders") => not_found(),
        _ => match portal.session_login(req.session_token.as_deref()) {
            None => redirect("/login"),
            Some(login) => route_orders(portal, req, &login),
        },
    }
}

/// Routes under `/orders`, all of which need a live session.
fn route_orders(portal: &Portal, req: &Incoming, login: &str) -> Response {
    let rest = req.path.strip_prefix("/orders").unwrap_or_default();
    match (&req.method, rest) {
        (Method::Get, "" | "/") => orders_page(portal, login, &req.query),
        (Method::Get, "/export.csv") => export_csv(portal, login),
        (Method::Get, rest) => match rest.strip_prefix('/') {
            Some(id) if !id.contains('/') => order_page(portal, login, id),
            _ => not_found(),
        },
        (Method::Post, rest) => match rest
            .strip_prefix('/')
            .and_then(|r| r.strip_suffix("/report"))
        {
            Some(id) => submit_report(portal, req, login, id),
            None => not_found(),
        },
        _ => not_found(),
    }
}

impl State {
    /// When the order was reported, if it was.
    fn reported_at(&self, order_id: &str) -> Option<String> {
        let index = *self.report_by_order.get(order_id)?;
        Some(self.reports[index].time.clone())
    }
}

impl Portal {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The login of a live session, dropping the session if it expired.
    fn session_login(&self, token: Option<&str>) -> Option<String> {
        let token = token?;
        let mut state = self.lock();
        let session = state.sessions.get(token)?;
        let too_old = session.started.elapsed() > Duration::from_secs(self.args.session_ttl_secs);
        let used_up = self
            .args
            .expire_after_reports
            .is_some_and(|limit| session.report_posts >= limit);
        if too_old || used_up {
            state.sessions.remove(token);
            return None;
        }
        Some(session.login.clone())
    }

    fn order(&self, login: &str, id: &str) -> Option<&Order> {
        self.orders.get(login)?.iter().find(|order| order.id == id)
    }

    /// Decides whether this order request fails with an injected HTTP 500.
    fn inject_fault(&self) -> bool {
        if self.args.error_rate <= 0.0 {
            return false;
        }
        let rng = &mut *self.fault_rng.lock().unwrap_or_else(|p| p.into_inner());
        let fail = rng.random_bool(self.args.error_rate);
        self.lock().stats.server_errors += u64::from(fail);
        fail
    }
}

fn login(portal: &Portal, form: &HashMap<String, String>) -> Response {
    let login = form.get("login").map(String::as_str).unwrap_or_default();
    let password = form.get("password").map(String::as_str).unwrap_or_default();
    let mut state = portal.lock();
    if portal.passwords.get(login).map(String::as_str) != Some(password) {
        state.stats.failed_logins += 1;
        return login_page(Some("Invalid login or password")).status(401);
    }
    state.stats.logins += 1;
    let token = format!("{:032x}", rand::rng().random::<u128>());
    let session = Session {
        login: login.to_string(),
        started: Instant::now(),
        report_posts: 0,
    };
    state.sessions.insert(token.clone(), session);
    redirect("/orders").header("Set-Cookie", format!("session={token}; HttpOnly; Path=/"))
}

fn logout(portal: &Portal, req: &Incoming) -> Response {
    if let Some(token) = &req.session_token {
        portal.lock().sessions.remove(token);
    }
    redirect("/login").header("Set-Cookie", "session=; HttpOnly; Path=/; Max-Age=0".into())
}

fn login_page(error: Option<&str>) -> Response {
    let error = error
        .map(|e| format!("<p id=\"login-error\">{}</p>\n", escape(e)))
        .unwrap_or_default();
    html(
        "Sign in",
        &format!(
            "<h1>Sign in</h1>\n{error}<form id=\"login-form\" method=\"post\" action=\"/login\">\n\
             <label for=\"login\">Login</label> <input name=\"login\" id=\"login\">\n\
             <label for=\"password\">Password</label> \
             <input name=\"password\" id=\"password\" type=\"password\">\n\
             <button id=\"login-submit\" type=\"submit\">Sign in</button>\n</form>"
        ),
    )
}

fn orders_page(portal: &Portal, login: &str, query: &HashMap<String, String>) -> Response {
    let orders = &portal.orders[login];
    let pages = orders.len().div_ceil(PAGE_SIZE).max(1);
    let page = query
        .get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let state = portal.lock();
    let rows: String = orders
        .iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .map(|order| order_row(order, state.report_by_order.contains_key(&order.id)))
        .collect();
    drop(state);
    let link = |id, n, text| format!("<a id=\"{id}\" href=\"/orders?page={n}\">{text}</a>\n");
    let mut nav = format!("<p id=\"page-info\">Page {page} of {pages}</p>\n");
    if page > 1 {
        nav += &link("prev-page", page - 1, "Previous");
    }
    if page < pages {
        nav += &link("next-page", page + 1, "Next");
    }
    html(
        "Orders",
        &format!(
            "{}<h1>Orders</h1>\n\
             <a id=\"export\" href=\"/orders/export.csv\" download=\"orders.csv\">Export CSV</a>\n\
             <table id=\"orders\">\n<tr><th>Order</th><th>Date</th><th>Amount</th><th>Status</th></tr>\n\
             {rows}</table>\n{nav}",
            user_bar(login)
        ),
    )
}

fn order_row(order: &Order, reported: bool) -> String {
    let id = escape(&order.id);
    format!(
        "<tr class=\"order\" data-order=\"{id}\" data-status=\"{status}\" data-reported=\"{reported}\">\
         <td class=\"order-id\"><a href=\"/orders/{id}\">{id}</a></td>\
         <td class=\"date\">{date}</td><td class=\"amount\">{amount}</td>\
         <td class=\"status\">{status}</td></tr>\n",
        status = order.status,
        date = order.date,
        amount = format_amount(order.amount_cents),
    )
}

fn export_csv(portal: &Portal, login: &str) -> Response {
    let mut csv = String::from("order_id,date,amount,status\n");
    for order in &portal.orders[login] {
        let amount = format_amount(order.amount_cents);
        csv += &format!("{},{},{amount},{}\n", order.id, order.date, order.status);
    }
    let disposition = "attachment; filename=\"orders.csv\"".to_string();
    Response::new("text/csv", csv).header("Content-Disposition", disposition)
}

fn order_page(portal: &Portal, login: &str, id: &str) -> Response {
    let Some(order) = portal.order(login, id) else {
        return not_found();
    };
    if portal.inject_fault() {
        return server_error();
    }
    let reported_at = portal.lock().reported_at(id);
    let action = reported_at.map_or_else(|| report_form(&order.id), already_reported);
    order_html(login, order, &action)
}

fn order_html(login: &str, order: &Order, action: &str) -> Response {
    html(
        &order.id,
        &format!(
            "{}<h1 id=\"order-id\">{id}</h1>\n<dl>\n\
             <dt>Date</dt><dd id=\"order-date\">{date}</dd>\n\
             <dt>Amount</dt><dd id=\"order-amount\">{amount}</dd>\n\
             <dt>Status</dt><dd id=\"order-status\">{status}</dd>\n</dl>\n{action}\n\
             <p><a id=\"back-to-orders\" href=\"/orders\">Back to orders</a></p>",
            user_bar(login),
            id = escape(&order.id),
            date = order.date,
            amount = format_amount(order.amount_cents),
            status = order.status,
        ),
    )
}

fn already_reported(time: String) -> String {
    format!("<p id=\"already-reported\">Reported on {time}</p>")
}

fn report_form(id: &str) -> String {
    let options: String = REASONS
        .iter()
        .map(|r| format!("<option value=\"{r}\">{r}</option>"))
        .collect();
    format!(
        "<form id=\"report-form\" method=\"post\" action=\"/orders/{id}/report\">\n\
         <label for=\"reason\">Reason</label> <select name=\"reason\" id=\"reason\">{options}</select>\n\
         <label for=\"comment\">Comment</label> <textarea name=\"comment\" id=\"comment\"></textarea>\n\
         <button id=\"report-submit\" type=\"submit\">Report</button>\n</form>",
        id = escape(id)
    )
}

/// Records a report once; a repeated POST answers the "already reported" page.
fn submit_report(portal: &Portal, req: &Incoming, login: &str, id: &str) -> Response {
    let Some(order) = portal.order(login, id) else {
        return not_found();
    };
    if portal.inject_fault() {
        return server_error();
    }
    let form = parse_form(&req.body);
    let reason = form.get("reason").map(String::as_str).unwrap_or_default();
    if !REASONS.contains(&reason) {
        let body = format!(
            "<p id=\"report-error\">Unknown reason: {}</p>",
            escape(reason)
        );
        return order_html(login, order, &body).status(400);
    }
    let mut state = portal.lock();
    if let Some(session) = req
        .session_token
        .as_deref()
        .and_then(|token| state.sessions.get_mut(token))
    {
        session.report_posts += 1;
    }
    if let Some(time) = state.reported_at(id) {
        state.stats.duplicate_report_posts += 1;
        drop(state);
        return order_html(login, order, &already_reported(time));
    }
    let report = Report {
        user: login.to_string(),
        order: order.id.clone(),
        reason: reason.to_string(),
        comment: form.get("comment").cloned().unwrap_or_default(),
        time: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
    };
    let index = state.reports.len();
    state.report_by_order.insert(order.id.clone(), index);
    state.reports.push(report);
    state.stats.reports += 1;
    drop(state);
    let confirmation = format!(
        "<p id=\"confirmation\">Report received for {}</p>",
        escape(&order.id)
    );
    order_html(login, order, &confirmation)
}

fn admin_reports(portal: &Portal) -> Response {
    let state = portal.lock();
    let lines: String = state
        .reports
        .iter()
        .map(|report| serde_json::to_string(report).expect("report serializes") + "\n")
        .collect();
    Response::new("application/json", lines)
}

fn admin_stats(portal: &Portal) -> Response {
    let state = portal.lock();
    let stats = serde_json::to_string(&state.stats).expect("stats serialize");
    Response::new("application/json", stats + "\n")
}

fn user_bar(login: &str) -> String {
    format!(
        "<p id=\"user\">Signed in as <span id=\"logged-in-as\">{}</span> \
         <a id=\"logout\" href=\"/logout\">Sign out</a></p>\n",
        escape(login)
    )
}

impl Response {
    fn new(content_type: &'static str, body: String) -> Response {
        let headers = Vec::new();
        Response {
            status: 200,
            content_type,
            body: body.into_bytes(),
            headers,
        }
    }

    fn status(self, status: u16) -> Response {
        Response { status, ..self }
    }

    fn header(mut self, name: &'static str, value: String) -> Response {
        self.headers.push((name, value));
        self
    }
}

fn html(title: &str, body: &str) -> Response {
    let title = escape(title);
    Response::new(
        "text/html; charset=utf-8",
        format!(
            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
             <body>\n{body}\n</body></html>\n"
        ),
    )
}

fn redirect(location: &str) -> Response {
    Response::new("text/html; charset=utf-8", String::new())
        .status(303)
        .header("Location", location.to_string())
}

fn not_found() -> Response {
    html("Not found", "<h1 id=\"not-found\">Not found</h1>").status(404)
}

fn server_error() -> Response {
    html(
        "Error",
        "<h1 id=\"server-error\">Internal server error</h1>",
    )
    .status(500)
}

fn format_amount(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Parses `a=1&b=2` (query strings and urlencoded form bodies).
fn parse_form(text: &str) -> HashMap<String, String> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key, true), percent_decode(value, true))
        })
        .collect()
}

/// Decodes `%XX` escapes, and `+` as a space when `plus_is_space` (forms).
fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.as_bytes().iter();
    while let Some(&byte) = bytes.next() {
        let escaped = (bytes.as_slice().get(..2))
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match (byte, escaped) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                bytes.nth(1);
            }
            (b'+', _) if plus_is_space => out.push(b' '),
            _ => out.push(byte),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
