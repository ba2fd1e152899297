//! "SPA portal": a third fake orders portal for the end-to-end tests, a
//! single-page app (one HTML page, one inline script, plain DOM) over a JSON
//! API, deliberately unlike `sample_portal` and `claims_portal`: routes in
//! the URL fragment, bearer tokens in `localStorage`, a custom listbox with
//! an animated popover, a switch, an undoable save and a CSV built in the
//! page.
//!
//! ```text
//! cargo run --example spa_portal -- --users users.txt [--listen 127.0.0.1:0]
//!     [--seed 42] [--orders-per-user 150] [--api-fault-rate F]
//!     [--save-fault-rate F] [--save-mode undoable|immediate]
//!     [--snackbar-ms 4000] [--menu-animation-ms 200]
//!     [--session-max-requests N] [--export-mode anchor|location|open]
//! ```
//!
//! * `--users FILE`: one `login:password` per line, split at the first `:`
//!   (the password is taken verbatim, it may contain `:`, spaces, quotes,
//!   non-ASCII). Blank lines and lines starting with `#` are skipped.
//! * `--api-fault-rate F`: share of (user, method, path) keys of
//!   authenticated API calls (not `/api/login`) whose FIRST request answers
//!   HTTP 500 (nothing done); later requests with the same key work.
//! * `--save-fault-rate F`: share of (user, order id) whose report, when it
//!   gets stored, is answered HTTP 500 (the report IS stored).
//!   Both rules hash the seed and the key, so they are reproducible.
//! * `--save-mode`: `undoable` (default) saves when the "Element updated"
//!   snackbar closes, unless Undo was clicked; `immediate` saves at once.
//! * `--snackbar-ms N`: how long the snackbar stays up.
//! * `--menu-animation-ms N`: the reason menu's opening transition.
//! * `--session-max-requests N`: a token serves N authenticated API
//!   requests; after that it is dead (401).
//! * `--export-mode`: how the page hands over the CSV blob: `anchor`
//!   (default, a temporary `<a download>` clicked), `location`
//!   (`location.href = blobUrl`) or `open` (`window.open(blobUrl)`).
//!
//! Once ready it prints `spa portal listening on http://ADDR` on stdout.
//! Passwords and tokens are never logged.
//!
//! # API
//!
//! Every `/api/*` answer is JSON (`Cache-Control: no-store`); errors are
//! `{"error": "..."}`.
//!
//! * `POST /api/login` `{"username","password"}`: 200 `{"token": HEX}`
//!   (counted as `logins`), 401 `{"error":"Invalid credentials"}` (counted
//!   as `failed_logins`), 400 for a body that is not such a JSON object.
//! * Every other `/api/*` request needs `Authorization: Bearer TOKEN` of a
//!   live token, else 401. Unknown API routes answer 404.
//! * `GET /api/orders`: `[{"id","status","customer","total","date",
//!   "reported"}]`; ids are strings from `"1001"` on, `status` is
//!   `disputed` (about 75 %), `delivered` or `shipped`; `customer` may hold
//!   `,`, `"`, `&`, `<` and non-ASCII; `total` is a string like `"12.50"`;
//!   `date` like `"2026-11-03"`; `reported` a bool.
//! * `GET /api/orders/ID`: that object plus `"report": null` or
//!   `{"reason","notify","comment","time"}`; 404 for an unknown id.
//! * `PUT /api/orders/ID/report` `{"reason","notify","comment"}`: 404 for
//!   an unknown id; 400 for a body that is not a JSON object of those
//!   (`notify` a bool, the others strings; missing ones default); 422 unless
//!   `reason` is `not_received`, `damaged` or `wrong_item`; 409 for an
//!   order already reported (counted as `duplicate_report_posts`);
//!   otherwise the report is stored and the answer is 200 with the order as
//!   `GET /api/orders/ID` gives it (or 500 under `--save-fault-rate`).
//!
//! # Other routes
//!
//! * `GET /` and `GET /index.html`: the app. Anything else outside `/api`
//!   and `/_admin` answers 404.
//! * `GET /_admin/reports`: one JSON line per report
//!   `{"user","order","reason","notify","comment","time"}`.
//! * `GET /_admin/stats`: `{"logins","reports","duplicate_report_posts",
//!   "requests","failed_logins","server_errors"}` (`requests` counts every
//!   request, `server_errors` every answer >= 500).
//!
//! # The app
//!
//! Routes live in the fragment: `#/login`, `#/orders`, `#/orders/ID`; an
//! empty or unknown fragment (or any route but `#/login` without a stored
//! token) is replaced by `#/orders` with a token in `localStorage.token`,
//! else `#/login`. Each route renders into `main#view`: first
//! `p.loading` "Loading…", then the view; a failed load shows only
//! `div.load-error[role=alert]` ("Server error (STATUS)", "Not found (404)"
//! or "Network error"). Any API answer 401 (outside the login) forgets the
//! token and goes to `#/login`. Every API call uses `fetch` with
//! `Authorization: Bearer TOKEN` (and `Content-Type: application/json` when
//! it has a body).
//!
//! * Logged in, `header.app-bar` (before `main#view`) holds `span.user-name`
//!   (the login typed at sign-in, kept in `localStorage.username`) and
//!   `button.logout` (forgets the token, goes to `#/login`).
//! * `#/login`: `form.login-form` with `input[name=username]`,
//!   `input[name=password]` (type password), `button.sign-in[type=submit]`
//!   "Sign in" (disabled while the request runs). 200 stores the token and
//!   sets `location.hash = "#/orders"`; 401 shows
//!   `div.login-error[role=alert]` "Invalid credentials"; anything else
//!   `div.login-error[role=alert]` "Server error".
//! * `#/orders`: `h1` "Orders", `button.export[aria-label=Export]` "Export"
//!   and `table.orders` with one `tr[data-id=ID]` per order: `td.id` with
//!   `a[href="#/orders/ID"]`, `td.status`, `td.customer`, `td.total`,
//!   `td.date`, `td.reported` ("Reported" or empty). Export fetches
//!   `GET /api/orders` again and builds `orders.csv` in the page: header
//!   `id,status,customer,total,date`, RFC 4180 quoting, CRLF after every
//!   line (the last one too), no BOM, a `Blob` of type `text/csv`, handed
//!   over as `--export-mode` says. A failed export shows the error snackbar.
//! * `#/orders/ID`: `a.back`, `h1.order-id` "Order ID", `dd.order-status`,
//!   `dd.order-customer`, `dd.order-total`, `dd.order-date`. A reported
//!   order shows `span.reported-chip` "Reported" (and `dl.report-details`)
//!   and no form. Otherwise `div.report-form` (not a `<form>`):
//!   * `label#reason-label` "Reason", then a `div.select` (relative) holding
//!     `div.select-display[role=combobox][aria-haspopup=listbox]
//!     [aria-expanded][aria-controls=reason-listbox]
//!     [aria-labelledby=reason-label][tabindex=0]` ("Choose…" or the chosen
//!     text) followed by the invisible `input.native-input[name=reason]
//!     [aria-hidden=true][tabindex=-1]` (absolute, bottom left, full width,
//!     `opacity:0`, `pointer-events:none`). A primary-button `mousedown` on
//!     the combobox (or Enter, Space, ArrowUp/Down on it) appends to the end
//!     of `<body>` `div.popover-backdrop[role=presentation]` (fixed, inset
//!     0, transparent, z-index 1300) holding `ul.menu#reason-listbox
//!     [role=listbox]` with `li[role=option][data-value=not_received]` "Not
//!     received", `[data-value=damaged]` "Damaged", `[data-value=wrong_item]`
//!     "Wrong item" (36px each). The menu grows from `scale(0.6)`,
//!     `opacity:0` (origin top) over `--menu-animation-ms` and takes no
//!     pointer events until that transition ends: a click meanwhile hits
//!     the backdrop. A mousedown or click on the backdrop itself, Escape or
//!     Tab closes the menu without a choice; a click on an option (or Enter
//!     / Space on a focused one) sets the input's value and the combobox
//!     text, marks the option `aria-selected=true`, removes the popover and
//!     sets `aria-expanded=false`. A route change closes the menu.
//!   * `label.switch` holding `input[type=checkbox][name=notify][role=switch]`
//!     (invisible, covering the whole label), `span.track`, "Notify
//!     customer".
//!   * `textarea[name=comment]#comment`.
//!   * `button.save[type=button]` "Save": without a reason it shows
//!     `div.form-error[role=alert]` "Choose a reason" and sends nothing.
//!     Undoable: shows `div.snackbar[role=alert]` (fixed bottom left,
//!     appended to `<body>`) with `span.snackbar-message` "Element updated",
//!     `button.snackbar-undo` "Undo" and `button.snackbar-close
//!     [aria-label=Close]` "×". It closes after `--snackbar-ms` (paused
//!     while the pointer is over it, the rest of the time restarted on
//!     leave), on the close button, on a mousedown outside it, or when a
//!     newer snackbar replaces it. Undo sends nothing; any other close sends
//!     `PUT /api/orders/ID/report` `{"reason","notify","comment"}`. Route
//!     changes do not touch the snackbar. Immediate: sends the PUT at once
//!     and on 2xx shows the same snackbar without the Undo button. Save is
//!     never disabled: a second Save sends a second PUT (409).
//!   * A 2xx answer to the PUT re-renders the order (from the answer) if it
//!     is still the route shown; an error answer (but 401) shows
//!     `div.error-snackbar[role=alert]` "Server error (STATUS)" (or
//!     "Network error") at the top, which goes after `--snackbar-ms`, on a
//!     click, or on the next Save.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context, Result, bail};
use chrono::{Days, NaiveDate, SecondsFormat, Utc};
use clap::{Parser, ValueEnum};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[path = "support/http.rs"]
mod http;
use http::{Method, Request, Response};

const REASONS: [&str; 3] = ["not_received", "damaged", "wrong_item"];
const CUSTOMERS: [&str; 10] = [
    "Müller, \"Hans\"",
    "Anna Schmidt",
    "O'Brien & Sons",
    "Zoë Dubois",
    "Smith, John",
    "\"Best\" Widgets Ltd",
    "José García-Núñez",
    "Li Wei",
    "Åsa Lindqvist, AB",
    "Peter <Pan>",
];

#[derive(Parser, Debug)]
#[command(about = "Single-page-app orders portal for end-to-end tests")]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// File with one `login:password` per line.
    #[arg(long)]
    users: PathBuf,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, default_value_t = 150)]
    orders_per_user: usize,
    /// Share of (user, method, path) API keys whose first request answers 500.
    #[arg(long, default_value_t = 0.0)]
    api_fault_rate: f64,
    /// Share of orders whose stored report is answered with 500.
    #[arg(long, default_value_t = 0.0)]
    save_fault_rate: f64,
    /// When the page sends a report: after the undo snackbar, or at once.
    #[arg(long, value_enum, default_value_t = SaveMode::Undoable)]
    save_mode: SaveMode,
    /// How long the "Element updated" snackbar stays up.
    #[arg(long, default_value_t = 4000)]
    snackbar_ms: u64,
    /// Duration of the reason menu's opening transition.
    #[arg(long, default_value_t = 200)]
    menu_animation_ms: u64,
    /// Expire a token after this many authenticated API requests.
    #[arg(long)]
    session_max_requests: Option<u32>,
    /// How the page hands over the exported CSV blob.
    #[arg(long, value_enum, default_value_t = ExportMode::Anchor)]
    export_mode: ExportMode,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SaveMode {
    Undoable,
    Immediate,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ExportMode {
    Anchor,
    Location,
    Open,
}

struct Order {
    id: String,
    status: &'static str,
    customer: &'static str,
    total_cents: u64,
    date: String,
}

struct Session {
    login: String,
    requests: u32,
}

#[derive(Serialize)]
struct Report {
    user: String,
    order: String,
    reason: String,
    notify: bool,
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
    tokens: HashMap<String, Session>,
    reports: Vec<Report>,
    /// (login, order id) -> index into `reports`.
    reported: HashMap<(String, String), usize>,
    /// API call keys whose first request already failed on purpose.
    failed_calls: HashSet<String>,
    stats: Stats,
}

struct Portal {
    args: Args,
    passwords: HashMap<String, String>,
    orders: HashMap<String, Vec<Order>>,
    /// The app, its settings filled in.
    page: String,
    state: Mutex<State>,
}

/// The parts of a request the handlers look at.
struct Incoming {
    method: Method,
    path: String,
    token: Option<String>,
    body: String,
}

#[derive(Deserialize)]
struct Credentials {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize)]
struct ReportBody {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    notify: Option<bool>,
    #[serde(default)]
    comment: Option<String>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    for (flag, rate) in [
        ("--api-fault-rate", args.api_fault_rate),
        ("--save-fault-rate", args.save_fault_rate),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            bail!("{flag} must be between 0 and 1");
        }
    }
    let passwords = read_users(&args.users)?;
    let orders = passwords
        .keys()
        .map(|login| (login.clone(), generate_orders(&args, login)))
        .collect();
    let (listener, addr) =
        http::bind(&args.listen).with_context(|| format!("cannot listen on {}", args.listen))?;
    let portal = Arc::new(Portal {
        page: app_page(&args),
        state: Mutex::default(),
        args,
        passwords,
        orders,
    });
    let mut stdout = std::io::stdout();
    writeln!(stdout, "spa portal listening on http://{addr}")?;
    stdout.flush()?;
    http::serve(listener, move |request| serve(&portal, request));
    Ok(())
}

/// Reads `login:password` lines; the password is kept verbatim.
fn read_users(path: &Path) -> Result<HashMap<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut users = HashMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let Some((login, password)) = line.split_once(':') else {
            bail!("{}:{}: expected login:password", path.display(), number + 1);
        };
        users.insert(login.trim().to_string(), password.to_string());
    }
    Ok(users)
}

/// Stable FNV-1a hash with a final avalanche step.
fn stable_hash(text: &str) -> u64 {
    let mut hash = text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

fn generate_orders(args: &Args, login: &str) -> Vec<Order> {
    let mut rng = StdRng::seed_from_u64(args.seed ^ stable_hash(login));
    let first_day = NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid date");
    (0..args.orders_per_user)
        .map(|index| {
            let status = if rng.random_bool(0.75) {
                "disputed"
            } else if rng.random_bool(0.5) {
                "delivered"
            } else {
                "shipped"
            };
            let day = first_day + Days::new(rng.random_range(0..365));
            Order {
                id: (1001 + index).to_string(),
                status,
                customer: CUSTOMERS[rng.random_range(0..CUSTOMERS.len())],
                total_cents: rng.random_range(199..99_999),
                date: day.to_string(),
            }
        })
        .collect()
}

fn serve(portal: &Portal, request: Request) -> Response {
    let incoming = read_incoming(request);
    portal.lock().stats.requests += 1;
    let reply = route(portal, &incoming);
    if reply.status >= 500 {
        portal.lock().stats.server_errors += 1;
    }
    reply
}

fn read_incoming(request: Request) -> Incoming {
    let path = request
        .url
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    let token = request
        .header_values("Authorization")
        .find_map(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|token| !token.is_empty())
        .map(str::to_string);
    Incoming {
        method: request.method,
        path,
        token,
        body: request.body,
    }
}

fn route(portal: &Portal, req: &Incoming) -> Response {
    let path = req.path.as_str();
    match (&req.method, path) {
        (Method::Get, "/" | "/index.html") => {
            Response::new("text/html; charset=utf-8", portal.page.clone())
                .header("Cache-Control", "no-store".into())
        }
        (Method::Post, "/api/login") => login(portal, &req.body),
        (Method::Get, "/_admin/reports") => admin_reports(portal),
        (Method::Get, "/_admin/stats") => admin_stats(portal),
        _ if path == "/api" || path.starts_with("/api/") => {
            match portal.token_login(req.token.as_deref()) {
                None => json_error(401, "Not signed in, or the session expired"),
                Some(login) => route_api(portal, req, &login),
            }
        }
        _ => Response::new("text/plain; charset=utf-8", "Not Found\n".into()).status(404),
    }
}

/// Routes under `/api` but the login, all of which need a live token.
fn route_api(portal: &Portal, req: &Incoming, login: &str) -> Response {
    if portal.first_call_fails(login, &req.method, &req.path) {
        return json_error(500, "Internal server error");
    }
    let rest = req.path.strip_prefix("/api/").unwrap_or_default();
    let segments: Vec<&str> = rest.split('/').collect();
    match (&req.method, segments.as_slice()) {
        (Method::Get, ["orders"]) => list_orders(portal, login),
        (Method::Get, ["orders", id]) => show_order(portal, login, id),
        (Method::Put, ["orders", id, "report"]) => save_report(portal, login, id, &req.body),
        _ => json_error(404, "Not found"),
    }
}

impl Portal {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The login of a live token; counts the request against its budget.
    fn token_login(&self, token: Option<&str>) -> Option<String> {
        let token = token?;
        let mut state = self.lock();
        let session = state.tokens.get_mut(token)?;
        if self
            .args
            .session_max_requests
            .is_some_and(|limit| session.requests >= limit)
        {
            state.tokens.remove(token);
            return None;
        }
        session.requests += 1;
        Some(session.login.clone())
    }

    fn user_orders(&self, login: &str) -> &[Order] {
        self.orders
            .get(login)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    fn order(&self, login: &str, id: &str) -> Option<&Order> {
        self.user_orders(login).iter().find(|order| order.id == id)
    }

    /// Whether the fault rule `kind` applies to this key.
    fn faulty(&self, kind: &str, rate: f64, key: &str) -> bool {
        let hash = stable_hash(&format!("{}\0{kind}\0{key}", self.args.seed));
        let fraction = (hash >> 11) as f64 / (1u64 << 53) as f64;
        fraction < rate
    }

    /// Whether this is the first request of a call the API fault rule hits.
    fn first_call_fails(&self, login: &str, method: &Method, path: &str) -> bool {
        let key = format!("{login}\0{}\0{path}", method_name(method));
        self.faulty("api", self.args.api_fault_rate, &key) && self.lock().failed_calls.insert(key)
    }
}

impl State {
    fn report(&self, login: &str, id: &str) -> Option<&Report> {
        let index = *self.reported.get(&(login.to_string(), id.to_string()))?;
        self.reports.get(index)
    }
}

fn method_name(method: &Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Other => "OTHER",
    }
}

fn login(portal: &Portal, body: &str) -> Response {
    let Ok(credentials) = serde_json::from_str::<Credentials>(body) else {
        return json_error(400, "Expected a JSON object with username and password");
    };
    let known = portal.passwords.get(&credentials.username);
    if known != Some(&credentials.password) {
        portal.lock().stats.failed_logins += 1;
        return json_error(401, "Invalid credentials");
    }
    let token = format!("{:032x}", rand::rng().random::<u128>());
    let session = Session {
        login: credentials.username,
        requests: 0,
    };
    let mut state = portal.lock();
    state.stats.logins += 1;
    state.tokens.insert(token.clone(), session);
    json_ok(&json!({ "token": token }))
}

fn list_orders(portal: &Portal, login: &str) -> Response {
    let state = portal.lock();
    let orders: Vec<Value> = portal
        .user_orders(login)
        .iter()
        .map(|order| order_summary(order, state.report(login, &order.id).is_some()))
        .collect();
    drop(state);
    json_ok(&Value::Array(orders))
}

fn show_order(portal: &Portal, login: &str, id: &str) -> Response {
    let Some(order) = portal.order(login, id) else {
        return json_error(404, "Order not found");
    };
    let state = portal.lock();
    json_ok(&order_detail(order, state.report(login, id)))
}

/// Stores a report once; see the module documentation for the answers.
fn save_report(portal: &Portal, login: &str, id: &str, body: &str) -> Response {
    let Some(order) = portal.order(login, id) else {
        return json_error(404, "Order not found");
    };
    let Ok(body) = serde_json::from_str::<ReportBody>(body) else {
        return json_error(
            400,
            "Expected a JSON object with reason, notify and comment",
        );
    };
    let reason = body.reason.unwrap_or_default();
    if !REASONS.contains(&reason.as_str()) {
        return json_error(
            422,
            "reason must be one of not_received, damaged, wrong_item",
        );
    }
    let mut state = portal.lock();
    if state.report(login, id).is_some() {
        state.stats.duplicate_report_posts += 1;
        return json_error(409, "This order was already reported");
    }
    let report = Report {
        user: login.to_string(),
        order: order.id.clone(),
        reason,
        notify: body.notify.unwrap_or_default(),
        comment: body.comment.unwrap_or_default(),
        time: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
    };
    let answer = order_detail(order, Some(&report));
    let index = state.reports.len();
    state
        .reported
        .insert((login.to_string(), order.id.clone()), index);
    state.reports.push(report);
    state.stats.reports += 1;
    drop(state);
    let key = format!("{login}\0{id}");
    if portal.faulty("save", portal.args.save_fault_rate, &key) {
        return json_error(500, "Internal server error");
    }
    json_ok(&answer)
}

fn order_summary(order: &Order, reported: bool) -> Value {
    json!({
        "id": order.id,
        "status": order.status,
        "customer": order.customer,
        "total": format_total(order.total_cents),
        "date": order.date,
        "reported": reported,
    })
}

fn order_detail(order: &Order, report: Option<&Report>) -> Value {
    let mut detail = order_summary(order, report.is_some());
    detail["report"] = report.map_or(Value::Null, |report| {
        json!({
            "reason": report.reason,
            "notify": report.notify,
            "comment": report.comment,
            "time": report.time,
        })
    });
    detail
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

impl Response {
    fn new(content_type: &'static str, body: String) -> Response {
        Response {
            status: 200,
            content_type,
            body: body.into_bytes(),
            headers: Vec::new(),
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

fn json_ok(value: &Value) -> Response {
    Response::new("application/json", value.to_string()).header("Cache-Control", "no-store".into())
}

fn json_error(status: u16, message: &str) -> Response {
    json_ok(&json!({ "error": message })).status(status)
}

/// `1250` cents -> `12.50`.
fn format_total(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// The app with its settings filled in.
fn app_page(args: &Args) -> String {
    let save_mode = match args.save_mode {
        SaveMode::Undoable => "undoable",
        SaveMode::Immediate => "immediate",
    };
    let export_mode = match args.export_mode {
        ExportMode::Anchor => "anchor",
        ExportMode::Location => "location",
        ExportMode::Open => "open",
    };
    let config = json!({
        "saveMode": save_mode,
        "exportMode": export_mode,
        "snackbarMs": args.snackbar_ms,
        "menuAnimationMs": args.menu_animation_ms,
    });
    APP_HTML.replace("__CONFIG__", &config.to_string())
}

/// The whole single-page app; `__CONFIG__` becomes a JSON object.
const APP_HTML: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Orders</title>
<link rel="icon" href="data:,">
<style>
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,sans-serif;color:#222;background:#fafafa}
.app-bar{display:flex;align-items:center;gap:16px;height:56px;padding:0 16px;background:#1976d2;color:#fff}
.app-bar .app-title{flex:1;font-weight:600;font-size:16px}
.app-bar .logout{background:transparent;color:#fff;border:1px solid rgba(255,255,255,.7);border-radius:4px;padding:4px 10px;cursor:pointer;font:inherit}
main#view{padding:16px 24px;max-width:980px}
.toolbar{display:flex;align-items:center;justify-content:space-between}
button{font:inherit}
.export,.save,.sign-in{background:#1976d2;color:#fff;border:0;border-radius:4px;padding:6px 16px;cursor:pointer}
button:disabled{opacity:.6;cursor:default}
table.orders{border-collapse:collapse;width:100%;background:#fff}
table.orders th,table.orders td{border-bottom:1px solid #e0e0e0;padding:6px 10px;text-align:left}
.login-form{display:flex;flex-direction:column;gap:12px;max-width:320px}
.login-form label{display:flex;flex-direction:column;gap:4px}
.login-form input,textarea{font:inherit;padding:8px;border:1px solid #bbb;border-radius:4px}
.login-error,.form-error,.load-error{color:#b00020;background:#fdecea;border-radius:4px;padding:8px 12px}
.order-details,.report-details{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px}
.order-details dd,.report-details dd{margin:0}
.reported-chip{display:inline-block;padding:2px 10px;border-radius:12px;background:#e0f2f1;color:#00695c}
.report-form{display:flex;flex-direction:column;gap:16px;max-width:420px;padding:16px;background:#fff;border:1px solid #e0e0e0;border-radius:4px}
.field{display:flex;flex-direction:column;gap:4px}
.select{position:relative}
.select-display{min-height:38px;padding:8px 12px;border:1px solid #bbb;border-radius:4px;background:#fff;cursor:pointer;user-select:none}
.select-display:focus,.select-display[aria-expanded=true]{outline:2px solid #1976d2;outline-offset:-1px}
.switch{position:relative;display:inline-block;padding-left:52px;line-height:24px;cursor:pointer;user-select:none}
.switch .track{position:absolute;left:0;top:2px;width:40px;height:20px;border-radius:10px;background:#bbb;transition:background .15s}
.switch .track::after{content:"";position:absolute;top:2px;left:2px;width:16px;height:16px;border-radius:50%;background:#fff;transition:transform .15s}
.switch input:checked+.track{background:#1976d2}
.switch input:checked+.track::after{transform:translateX(20px)}
.switch input:focus-visible+.track{outline:2px solid #1976d2;outline-offset:2px}
.popover-backdrop{position:fixed;inset:0;background:transparent;z-index:1300}
.menu{position:absolute;margin:0;padding:8px 0;list-style:none;min-width:160px;background:#fff;border-radius:4px;box-shadow:0 5px 15px rgba(0,0,0,.25);opacity:0;transform:scale(0.6);transform-origin:top;pointer-events:none}
.menu.open{opacity:1;transform:none}
.menu.ready{pointer-events:auto}
.menu li{height:36px;line-height:36px;padding:0 16px;cursor:pointer;white-space:nowrap}
.menu li:hover,.menu li:focus{background:#eee;outline:none}
.menu li[aria-selected=true]{background:#e3f2fd}
.snackbar{position:fixed;left:24px;bottom:24px;z-index:1400;display:flex;align-items:center;gap:8px;min-width:288px;padding:6px 8px 6px 16px;border-radius:4px;background:#323232;color:#fff;box-shadow:0 3px 5px rgba(0,0,0,.3)}
.snackbar-message{flex:1}
.snackbar button{background:transparent;border:0;color:#90caf9;cursor:pointer;padding:6px 8px}
.snackbar .snackbar-close{color:#fff;font-size:18px;line-height:1}
.error-snackbar{position:fixed;top:24px;left:50%;transform:translateX(-50%);z-index:1400;padding:10px 16px;border-radius:4px;background:#d32f2f;color:#fff;cursor:pointer;box-shadow:0 3px 5px rgba(0,0,0,.3)}
</style>
</head>
<body>
<main id="view"></main>
<script>
'use strict';
(function () {
  const CONFIG = __CONFIG__;
  const REASONS = [['not_received', 'Not received'], ['damaged', 'Damaged'], ['wrong_item', 'Wrong item']];
  const SWITCH_STYLE = 'position:absolute;top:0;left:0;opacity:0;width:100%;height:100%;margin:0;cursor:pointer;z-index:1';
  const NATIVE_INPUT_STYLE = 'position:absolute;opacity:0;pointer-events:none;bottom:0;left:0;width:100%';
  const view = document.getElementById('view');
  let renderSeq = 0;                 // bumped by every render: late answers are dropped
  let current = {name: '', id: null}; // the route on screen
  let menu = null;                   // the open reason menu
  let snack = null;                  // the open "Element updated" snackbar
  let errorSnack = null;             // the open error snackbar

  function esc(value) {
    const entities = {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'};
    return String(value == null ? '' : value).replace(/[&<>"']/g, (c) => entities[c]);
  }

  function reasonText(value) {
    const found = REASONS.find((reason) => reason[0] === value);
    return found ? found[1] : String(value == null ? '' : value);
  }

  function isOk(answer) {
    return answer.status >= 200 && answer.status < 300;
  }

  function errorText(status) {
    if (status === 0) return 'Network error';
    if (status === 404) return 'Not found (404)';
    return 'Server error (' + status + ')';
  }

  // --- API -----------------------------------------------------------------

  async function api(method, path, body, anonymous) {
    const headers = {};
    const token = localStorage.getItem('token');
    if (token && !anonymous) headers['Authorization'] = 'Bearer ' + token;
    const init = {method: method, headers: headers, cache: 'no-store'};
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    try {
      const response = await fetch(path, init);
      const text = await response.text();
      let data = null;
      try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
      return {status: response.status, data: data};
    } catch (e) {
      return {status: 0, data: null};
    }
  }

  // A 401 forgets the token and shows the login (true), anything else false.
  function authFailed(answer) {
    if (answer.status !== 401) return false;
    localStorage.removeItem('token');
    localStorage.removeItem('username');
    if (current.name !== 'login') go('#/login');
    return true;
  }

  // --- Routing ---------------------------------------------------------------

  function go(hash) {
    if (location.hash === hash) route(); else location.hash = hash;
  }

  function redirect(hash) {
    history.replaceState(history.state, '', hash);
    route();
  }

  function route() {
    closeMenu();
    const hash = location.hash;
    if (hash === '#/login') { showLogin(); return; }
    if (!localStorage.getItem('token')) { redirect('#/login'); return; }
    if (hash === '#/orders') { showOrders(); return; }
    const match = /^#\/orders\/([^\/]+)$/.exec(hash);
    let id = null;
    if (match) {
      try { id = decodeURIComponent(match[1]); } catch (e) { id = null; }
    }
    if (id) { showOrder(id); return; }
    redirect('#/orders');
  }

  function setHeader(show) {
    let bar = document.querySelector('header.app-bar');
    if (!show) {
      if (bar) bar.remove();
      return;
    }
    if (!bar) {
      bar = document.createElement('header');
      bar.className = 'app-bar';
      bar.innerHTML = '<span class="app-title">Orders portal</span><span class="user-name"></span>' +
        '<button type="button" class="logout">Log out</button>';
      bar.querySelector('button.logout').addEventListener('click', () => {
        localStorage.removeItem('token');
        localStorage.removeItem('username');
        go('#/login');
      });
      document.body.insertBefore(bar, view);
    }
    bar.querySelector('.user-name').textContent = localStorage.getItem('username') || '';
  }

  // Shows "Loading…" for a route; returns the render's number.
  function beginRender(name, id, title) {
    current = {name: name, id: id};
    document.title = title + ' - Orders';
    setHeader(true);
    view.innerHTML = '<p class="loading">Loading…</p>';
    return ++renderSeq;
  }

  // Whether a view's answer can be shown; else shows the error (or login).
  function loaded(answer) {
    if (isOk(answer) && answer.data) return true;
    if (authFailed(answer)) return false;
    view.innerHTML = '<div class="load-error" role="alert">' + esc(errorText(answer.status)) + '</div>';
    return false;
  }

  // --- Login -----------------------------------------------------------------

  function showLogin() {
    current = {name: 'login', id: null};
    renderSeq++;
    document.title = 'Sign in - Orders';
    setHeader(false);
    view.innerHTML = '<h1>Sign in</h1><form class="login-form">' +
      '<label>Username <input name="username" autocomplete="username"></label>' +
      '<label>Password <input type="password" name="password" autocomplete="current-password"></label>' +
      '<button type="submit" class="sign-in">Sign in</button></form>';
    view.querySelector('form.login-form').addEventListener('submit', submitLogin);
  }

  async function submitLogin(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const old = form.querySelector('.login-error');
    if (old) old.remove();
    const username = form.elements.username.value;
    const button = form.querySelector('button.sign-in');
    button.disabled = true;
    const answer = await api('POST', '/api/login',
      {username: username, password: form.elements.password.value}, true);
    button.disabled = false;
    if (isOk(answer) && answer.data && typeof answer.data.token === 'string') {
      localStorage.setItem('token', answer.data.token);
      localStorage.setItem('username', username);
      const before = location.hash;
      location.hash = '#/orders';
      if (before === '#/orders') route(); // no hashchange then
      return;
    }
    if (!form.isConnected) return;
    const error = document.createElement('div');
    error.className = 'login-error';
    error.setAttribute('role', 'alert');
    error.textContent = answer.status === 401 ? 'Invalid credentials' : 'Server error';
    form.insertBefore(error, form.firstChild);
  }

  // --- Orders ------------------------------------------------------------------

  async function showOrders() {
    const seq = beginRender('orders', null, 'Orders');
    const answer = await api('GET', '/api/orders');
    if (seq !== renderSeq || !loaded(answer)) return;
    const orders = Array.isArray(answer.data) ? answer.data : [];
    const rows = orders.map((order) =>
      '<tr data-id="' + esc(order.id) + '">' +
      '<td class="id"><a href="#/orders/' + esc(encodeURIComponent(order.id)) + '">' + esc(order.id) + '</a></td>' +
      '<td class="status">' + esc(order.status) + '</td>' +
      '<td class="customer">' + esc(order.customer) + '</td>' +
      '<td class="total">' + esc(order.total) + '</td>' +
      '<td class="date">' + esc(order.date) + '</td>' +
      '<td class="reported">' + (order.reported ? 'Reported' : '') + '</td></tr>').join('');
    view.innerHTML = '<div class="toolbar"><h1>Orders</h1>' +
      '<button type="button" class="export" aria-label="Export">Export</button></div>' +
      '<table class="orders"><thead><tr><th>Order</th><th>Status</th><th>Customer</th>' +
      '<th>Total</th><th>Date</th><th>Report</th></tr></thead><tbody>' + rows + '</tbody></table>';
    view.querySelector('button.export').addEventListener('click', (event) => exportOrders(event.currentTarget));
  }

  async function exportOrders(button) {
    button.disabled = true;
    const answer = await api('GET', '/api/orders');
    button.disabled = false;
    if (isOk(answer) && Array.isArray(answer.data)) {
      download(toCsv(answer.data));
      return;
    }
    if (!authFailed(answer)) showErrorSnackbar(errorText(answer.status));
  }

  function csvField(value) {
    const text = value == null ? '' : String(value);
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function toCsv(orders) {
    const columns = ['id', 'status', 'customer', 'total', 'date'];
    const lines = [columns.join(',')];
    for (const order of orders) lines.push(columns.map((column) => csvField(order[column])).join(','));
    return lines.join('\r\n') + '\r\n';
  }

  function download(csv) {
    const blob = new Blob([csv], {type: 'text/csv'});
    const url = URL.createObjectURL(blob);
    if (CONFIG.exportMode === 'location') {
      location.href = url;
    } else if (CONFIG.exportMode === 'open') {
      window.open(url);
    } else {
      const link = document.createElement('a');
      link.style.display = 'none';
      link.href = url;
      link.setAttribute('download', 'orders.csv');
      document.body.appendChild(link);
      link.click();
      link.remove();
    }
  }

  // --- One order ---------------------------------------------------------------

  async function showOrder(id) {
    const seq = beginRender('order', id, 'Order ' + id);
    const answer = await api('GET', '/api/orders/' + encodeURIComponent(id));
    if (seq !== renderSeq || !loaded(answer)) return;
    renderOrder(answer.data);
  }

  function renderOrder(order) {
    renderSeq++;
    closeMenu();
    const id = String(order.id);
    let html = '<p><a class="back" href="#/orders">All orders</a></p>' +
      '<h1 class="order-id">Order ' + esc(id) + '</h1>' +
      '<dl class="order-details">' +
      '<dt>Status</dt><dd class="order-status">' + esc(order.status) + '</dd>' +
      '<dt>Customer</dt><dd class="order-customer">' + esc(order.customer) + '</dd>' +
      '<dt>Total</dt><dd class="order-total">' + esc(order.total) + '</dd>' +
      '<dt>Date</dt><dd class="order-date">' + esc(order.date) + '</dd></dl>';
    const report = order.report;
    if (report) {
      html += '<p><span class="reported-chip">Reported</span></p>' +
        '<dl class="report-details">' +
        '<dt>Reason</dt><dd class="report-reason">' + esc(reasonText(report.reason)) + '</dd>' +
        '<dt>Notify customer</dt><dd class="report-notify">' + (report.notify ? 'Yes' : 'No') + '</dd>' +
        '<dt>Comment</dt><dd class="report-comment">' + esc(report.comment) + '</dd>' +
        '<dt>Reported at</dt><dd class="report-time">' + esc(report.time) + '</dd></dl>';
      view.innerHTML = html;
      return;
    }
    html += '<h2>Report a problem</h2><div class="report-form">' +
      '<div class="field"><label id="reason-label">Reason</label><div class="select">' +
      '<div role="combobox" aria-haspopup="listbox" aria-expanded="false" aria-controls="reason-listbox"' +
      ' aria-labelledby="reason-label" tabindex="0" class="select-display">Choose…</div>' +
      '<input name="reason" class="native-input" aria-hidden="true" tabindex="-1" value=""' +
      ' style="' + NATIVE_INPUT_STYLE + '"></div></div>' +
      '<div class="field"><label class="switch"><input type="checkbox" name="notify" role="switch"' +
      ' style="' + SWITCH_STYLE + '"><span class="track"></span>Notify customer</label></div>' +
      '<div class="field"><label for="comment">Comment</label>' +
      '<textarea id="comment" name="comment" rows="3"></textarea></div>' +
      '<div class="actions"><button type="button" class="save">Save</button></div></div>';
    view.innerHTML = html;
    const form = view.querySelector('div.report-form');
    wireSelect(form.querySelector('.select-display'), form.querySelector('input.native-input'));
    form.querySelector('button.save').addEventListener('click', () => save(id, form));
  }

  function save(id, form) {
    const old = form.querySelector('.form-error');
    if (old) old.remove();
    closeErrorSnackbar();
    const reason = form.querySelector('input[name=reason]').value;
    if (!reason) {
      const error = document.createElement('div');
      error.className = 'form-error';
      error.setAttribute('role', 'alert');
      error.textContent = 'Choose a reason';
      form.insertBefore(error, form.querySelector('.actions'));
      return;
    }
    const body = {
      reason: reason,
      notify: form.querySelector('input[name=notify]').checked,
      comment: form.querySelector('textarea[name=comment]').value,
    };
    if (CONFIG.saveMode === 'immediate') {
      sendReport(id, body, true);
    } else {
      showSnackbar(true, () => sendReport(id, body, false));
    }
  }

  async function sendReport(id, body, announce) {
    const answer = await api('PUT', '/api/orders/' + encodeURIComponent(id) + '/report', body);
    if (isOk(answer)) {
      if (announce) showSnackbar(false, null);
      if (current.name === 'order' && current.id === id) {
        if (answer.data && answer.data.report) renderOrder(answer.data); else showOrder(id);
      }
      return;
    }
    if (!authFailed(answer)) showErrorSnackbar(errorText(answer.status));
  }

  // --- The reason listbox --------------------------------------------------------

  function wireSelect(display, input) {
    display.addEventListener('mousedown', (event) => {
      if (event.button !== 0) return;
      event.preventDefault();
      display.focus();
      openMenu(display, input);
    });
    display.addEventListener('keydown', (event) => {
      if (['Enter', ' ', 'ArrowDown', 'ArrowUp'].indexOf(event.key) < 0) return;
      event.preventDefault();
      openMenu(display, input);
    });
  }

  function openMenu(display, input) {
    closeMenu();
    const backdrop = document.createElement('div');
    backdrop.className = 'popover-backdrop';
    backdrop.setAttribute('role', 'presentation');
    const list = document.createElement('ul');
    list.className = 'menu';
    list.id = 'reason-listbox';
    list.setAttribute('role', 'listbox');
    list.setAttribute('aria-labelledby', 'reason-label');
    list.tabIndex = -1;
    for (const [value, text] of REASONS) {
      const item = document.createElement('li');
      item.setAttribute('role', 'option');
      item.setAttribute('data-value', value);
      item.setAttribute('aria-selected', String(value === input.value));
      item.tabIndex = -1;
      item.textContent = text;
      list.appendChild(item);
    }
    backdrop.appendChild(list);
    document.body.appendChild(backdrop);
    const state = {backdrop: backdrop, list: list, display: display, input: input, timer: null};
    menu = state;
    display.setAttribute('aria-expanded', 'true');
    placeMenu(display, list);

    backdrop.addEventListener('mousedown', (event) => {
      if (event.target !== backdrop) return;
      event.preventDefault();
      closeMenu();
    });
    backdrop.addEventListener('click', (event) => {
      if (event.target === backdrop) closeMenu();
    });
    list.addEventListener('click', (event) => {
      const item = event.target.closest('li[role=option]');
      if (item && menu === state) choose(state, item);
    });
    list.addEventListener('keydown', (event) => menuKey(state, event));

    const ms = Number(CONFIG.menuAnimationMs) || 0;
    if (ms > 0) {
      list.style.transition = 'opacity ' + ms + 'ms ease, transform ' + ms + 'ms ease';
      void list.offsetWidth; // start from the closed look
      list.addEventListener('transitionend', (event) => {
        if (event.target === list) menuReady(state);
      });
      state.timer = setTimeout(() => menuReady(state), ms + 100);
    } else {
      list.style.transition = 'none';
      menuReady(state);
    }
    list.classList.add('open');
    const selected = list.querySelector('li[aria-selected=true]') || list.firstElementChild;
    selected.focus({preventScroll: true});
  }

  // Below the combobox, or above it when there is no room below.
  function placeMenu(display, list) {
    const rect = display.getBoundingClientRect();
    list.style.left = Math.max(8, rect.left) + 'px';
    list.style.minWidth = rect.width + 'px';
    const height = list.offsetHeight;
    let top = rect.bottom + 4;
    if (top + height > window.innerHeight - 8) top = Math.max(8, rect.top - height - 4);
    list.style.top = top + 'px';
  }

  function menuReady(state) {
    if (menu !== state) return;
    clearTimeout(state.timer);
    state.list.classList.add('ready');
  }

  function menuKey(state, event) {
    const items = Array.prototype.slice.call(state.list.children);
    const index = items.indexOf(document.activeElement);
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      const step = event.key === 'ArrowDown' ? 1 : items.length - 1;
      items[(Math.max(index, 0) + step) % items.length].focus();
    } else if ((event.key === 'Enter' || event.key === ' ') && index >= 0) {
      event.preventDefault();
      choose(state, items[index]);
    } else if (event.key === 'Escape' || event.key === 'Tab') {
      event.preventDefault();
      closeMenu();
    }
  }

  function choose(state, item) {
    state.input.value = item.getAttribute('data-value');
    state.display.textContent = item.textContent;
    for (const other of state.list.children) {
      other.setAttribute('aria-selected', String(other === item));
    }
    const form = state.display.closest('.report-form');
    const error = form && form.querySelector('.form-error');
    if (error) error.remove();
    closeMenu();
  }

  function closeMenu() {
    const state = menu;
    if (!state) return;
    menu = null;
    clearTimeout(state.timer);
    state.backdrop.remove();
    state.display.setAttribute('aria-expanded', 'false');
    if (state.display.isConnected) state.display.focus({preventScroll: true});
  }

  // --- Snackbars -------------------------------------------------------------------

  // Shows "Element updated"; `commit` runs when it closes other than by Undo.
  function showSnackbar(undoable, commit) {
    closeSnackbar('replaced');
    const el = document.createElement('div');
    el.className = 'snackbar';
    el.setAttribute('role', 'alert');
    el.innerHTML = '<span class="snackbar-message">Element updated</span>' +
      (undoable ? '<button type="button" class="snackbar-undo">Undo</button>' : '') +
      '<button type="button" class="snackbar-close" aria-label="Close">×</button>';
    const state = {el: el, commit: commit, remaining: Number(CONFIG.snackbarMs) || 0, startedAt: 0, timer: null};
    state.clickAway = (event) => {
      if (snack === state && !el.contains(event.target)) closeSnackbar('clickaway');
    };
    snack = state;
    document.body.appendChild(el);
    const undo = el.querySelector('button.snackbar-undo');
    if (undo) undo.addEventListener('click', () => { if (snack === state) closeSnackbar('undo'); });
    el.querySelector('button.snackbar-close').addEventListener('click', () => {
      if (snack === state) closeSnackbar('close');
    });
    el.addEventListener('mouseenter', () => {
      if (snack !== state || state.timer === null) return;
      clearTimeout(state.timer);
      state.timer = null;
      state.remaining -= Date.now() - state.startedAt;
    });
    el.addEventListener('mouseleave', () => {
      if (snack === state && state.timer === null) startSnackbarTimer(state);
    });
    document.addEventListener('mousedown', state.clickAway, true);
    startSnackbarTimer(state);
  }

  function startSnackbarTimer(state) {
    state.startedAt = Date.now();
    state.timer = setTimeout(() => {
      if (snack === state) closeSnackbar('timeout');
    }, Math.max(0, state.remaining));
  }

  function closeSnackbar(reason) {
    const state = snack;
    if (!state) return;
    snack = null;
    clearTimeout(state.timer);
    document.removeEventListener('mousedown', state.clickAway, true);
    state.el.remove();
    if (reason !== 'undo' && state.commit) state.commit();
  }

  function showErrorSnackbar(text) {
    closeErrorSnackbar();
    const el = document.createElement('div');
    el.className = 'error-snackbar';
    el.setAttribute('role', 'alert');
    el.textContent = text;
    const state = {el: el, timer: null};
    el.addEventListener('click', () => { if (errorSnack === state) closeErrorSnackbar(); });
    state.timer = setTimeout(() => { if (errorSnack === state) closeErrorSnackbar(); },
      Number(CONFIG.snackbarMs) || 0);
    errorSnack = state;
    document.body.appendChild(el);
  }

  function closeErrorSnackbar() {
    const state = errorSnack;
    if (!state) return;
    errorSnack = null;
    clearTimeout(state.timer);
    state.el.remove();
  }

  window.addEventListener('hashchange', route);
  route();
})();
</script>
</body></html>
"##;
