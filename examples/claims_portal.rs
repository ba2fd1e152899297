//! "Claims portal": a second fake orders portal for the end-to-end tests,
//! deliberately unlike `sample_portal` (two-step sign-in, cookie overlay,
//! awkward order references, a `;`-separated CSV, radio/checkbox forms).
//!
//! ```text
//! cargo run --example claims_portal -- --users users.txt [--listen 127.0.0.1:0]
//!     [--seed 42] [--orders-per-user 120] [--page-fault-rate F]
//!     [--submit-fault-rate F] [--fail-first-export]
//!     [--session-max-requests N] [--submit-delay-ms 600]
//! ```
//!
//! * `--users FILE`: one `login:password` per line, split at the first `:`
//!   (the password is taken verbatim, it may contain `:`, spaces, quotes,
//!   `&`, `%`, `#`, `<`, non-ASCII). Blank lines and lines starting with `#`
//!   are skipped. Logins are e-mail addresses: the sign-in field is
//!   `type="email"`, so a browser refuses to submit anything else.
//! * `--page-fault-rate F`: share of order references whose order page
//!   answers HTTP 500 the first time it is requested (per user), then works.
//! * `--submit-fault-rate F`: share of order references whose claim, when it
//!   gets recorded, is answered HTTP 500 (the claim IS stored).
//!   Both rules hash the seed and the reference, so they are reproducible.
//! * `--fail-first-export`: each user's first export request answers 500.
//! * `--session-max-requests N`: a session serves N authenticated requests;
//!   after that every `/app/...` page redirects to the sign-in page.
//! * `--submit-delay-ms N`: delay before the password form really submits.
//!
//! Once ready it prints `claims portal listening on http://ADDR` on stdout.
//! Passwords and cookies are never logged.
//!
//! Pages (all HTML server-rendered, no external assets):
//!
//! * Every HTML page except `/_admin/*` starts with a cookie overlay, unless
//!   the request carries the cookie `consent=yes`:
//!   `<div id="consent" style="position:fixed;inset:0;...;z-index:1000">`
//!   holding `<button type="button" class="consent-accept">Accept all</button>`.
//!   It covers the whole page, so clicks elsewhere are intercepted until
//!   `#consent .consent-accept` is clicked (sets `consent=yes; path=/`,
//!   removes the overlay).
//! * `GET /` redirects to `/app/home`.
//! * `GET /account/signin`: `form.signin-step1` (POST /account/signin) with
//!   `input[name=email]` (type email) and `button.next` ("Continue").
//!   The POST answers 303 to `/account/password?email=<percent-encoded>`.
//! * `GET /account/password?email=..`: `form#pw-form` (POST
//!   /account/password) with hidden `email` and `csrf_token`,
//!   `input[name=passwd]` (type password) and `button.signin` ("Sign in").
//!   A script cancels the submit, shows `p.signing-in` ("Signing in...") and
//!   calls `form.submit()` after `--submit-delay-ms`. The POST answers 403
//!   for a csrf token that was never issued; a wrong password renders the
//!   page again (200) with `div.alert.alert-danger[role=alert]` "The e-mail
//!   or password is incorrect."; the right one sets cookie `sid` (HttpOnly,
//!   Path=/) and answers 303 to `/app/home`.
//! * `GET /account/signout`: ends the session, 303 to `/account/signin`.
//! * Any `/app/...` request without a live session: 303 to `/account/signin`.
//! * `GET /app/home`: `header span.account-name` (the login),
//!   `header a[href="/account/signout"]`, `a.btn-export` (the export) and
//!   `table.orders` with one `tr.order-row[data-ref=REF]` per order:
//!   `td.ref a` (link to the order page), `td.state`, `td.total`, `td.claim`
//!   ("Claim filed" or empty).
//! * `GET /app/exports/claims.csv`: `text/csv; charset=utf-8`, attachment
//!   `claims.csv`. UTF-8 BOM, CRLF line ends, `;` delimiter, header
//!   `Reference;Order state;Customer note;Total`. Reference, state and total
//!   (`12,50`) are unquoted; the note is always double-quoted and may hold
//!   `;`, doubled quotes `""` and bare LF newlines.
//!   References look like `SO/2026-00017#B`, `SO 2026&00018`,
//!   `SO/2026-00019`, `SO-2026-00020` (the four kinds rotate). About 75%
//!   of orders are `Claim open`; the rest `Closed` or `Shipped`.
//! * `GET /app/orders/{ref}`: `{ref}` is the reference percent-encoded as ONE
//!   path segment (`/` = `%2F`, `#` = `%23`, space = `%20`, `&` = `%26`);
//!   unknown references answer 404. Shows `h1.order-ref`, `dd.order-state`,
//!   `dd.order-total`, `dd.order-note`, `a.back` (to /app/home). A claimed
//!   order shows `span.badge.badge-claimed` ("Claim filed TIME") and no
//!   form; otherwise `form.claim-form` (POST /app/orders/{ref}/claim) with
//!   hidden `csrf_token`, radios `input[name=claim_reason]` with values
//!   `missing`, `damaged`, `late`, `textarea[name=details]`, the required
//!   checkbox `input[name=attest][value=yes]` ("I confirm this claim is
//!   accurate") and `button.btn.btn-primary` ("File claim"). Form elements
//!   carry no ids. With `?filed=1` a claimed order also shows
//!   `div.flash.flash-success` "Your claim was filed.".
//! * `POST /app/orders/{ref}/claim`: 403 for an unknown csrf token; without
//!   `attest=yes` or a valid `claim_reason`: the order page with status 422
//!   and `div.form-error`, nothing recorded; an already claimed order: the
//!   order page (badge), counted as `duplicate_report_posts`; otherwise the
//!   claim is recorded and answered 303 to `/app/orders/{ref}?filed=1` (or
//!   500 under `--submit-fault-rate`).
//! * `GET /_admin/reports`: one JSON line per claim
//!   `{"user","order","reason","comment","time"}` (comment = details).
//! * `GET /_admin/stats`: `{"logins","reports","duplicate_report_posts",
//!   "requests","failed_logins","server_errors"}`.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context, Result, bail};
use chrono::{SecondsFormat, Utc};
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

#[path = "support/http.rs"]
mod http;
use http::{Method, Request, Response};

const REASONS: [(&str, &str); 3] = [
    ("missing", "Item missing"),
    ("damaged", "Item damaged"),
    ("late", "Delivered late"),
];
const NOTES: [&str; 8] = [
    "Left at door;\nring twice",
    "He said \"fragile\"",
    "",
    "Deliver after 5pm",
    "Box was open; \"gift\" wrap torn\nplease call",
    "Zustellung verspätet – café au lait",
    "Back entrance, gate code 1234",
    "\"Urgent\"; reorder if lost",
];
const CONSENT_OVERLAY: &str = "<div id=\"consent\" style=\"position:fixed;inset:0;\
background:rgba(0,0,0,.4);z-index:1000\"><div class=\"consent-box\"><p>We use cookies</p>\
<button type=\"button\" class=\"consent-accept\">Accept all</button></div></div>\n\
<script>document.querySelector('#consent .consent-accept').addEventListener('click', \
function () { document.cookie = 'consent=yes; path=/'; \
var o = document.getElementById('consent'); o.parentNode.removeChild(o); });</script>\n";

#[derive(Parser, Debug)]
#[command(about = "Claims orders portal for end-to-end tests")]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// File with one `login:password` per line.
    #[arg(long)]
    users: PathBuf,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, default_value_t = 120)]
    orders_per_user: usize,
    /// Share of orders whose page answers 500 the first time.
    #[arg(long, default_value_t = 0.0)]
    page_fault_rate: f64,
    /// Share of orders whose recorded claim is answered with 500.
    #[arg(long, default_value_t = 0.0)]
    submit_fault_rate: f64,
    /// Answer 500 to each user's first export request.
    #[arg(long)]
    fail_first_export: bool,
    /// Expire a session after this many authenticated requests.
    #[arg(long)]
    session_max_requests: Option<u32>,
    /// Delay before the password form really submits.
    #[arg(long, default_value_t = 600)]
    submit_delay_ms: u64,
}

struct Order {
    reference: String,
    state: &'static str,
    note: &'static str,
    total_cents: u64,
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
    csrf_tokens: HashSet<String>,
    reports: Vec<Report>,
    /// (login, reference) -> index into `reports`.
    claims: HashMap<(String, String), usize>,
    /// (login, reference) of order pages requested at least once.
    pages_seen: HashSet<(String, String)>,
    exported: HashSet<String>,
    stats: Stats,
}

struct Portal {
    args: Args,
    passwords: HashMap<String, String>,
    orders: HashMap<String, Vec<Order>>,
    state: Mutex<State>,
}

/// The parts of a request the handlers look at. `path` is still encoded.
struct Incoming {
    method: Method,
    path: String,
    query: HashMap<String, String>,
    sid: Option<String>,
    consent: bool,
    body: String,
}

fn main() -> Result<()> {
    let args = Args::parse();
    for (flag, rate) in [
        ("--page-fault-rate", args.page_fault_rate),
        ("--submit-fault-rate", args.submit_fault_rate),
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
        state: Mutex::default(),
        args,
        passwords,
        orders,
    });
    let mut stdout = std::io::stdout();
    writeln!(stdout, "claims portal listening on http://{addr}")?;
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
    let first_number = rng.random_range(10..5_000);
    let note_offset = rng.random_range(0..NOTES.len());
    (0..args.orders_per_user)
        .map(|index| {
            let number = first_number + index;
            let suffix = char::from(b'A' + rng.random_range(0..6u8));
            let reference = match index % 4 {
                0 => format!("SO/2026-{number:05}#{suffix}"),
                1 => format!("SO 2026&{number:05}"),
                2 => format!("SO/2026-{number:05}"),
                _ => format!("SO-2026-{number:05}"),
            };
            let state = if rng.random_bool(0.75) {
                "Claim open"
            } else if rng.random_bool(0.5) {
                "Closed"
            } else {
                "Shipped"
            };
            Order {
                reference,
                state,
                note: NOTES[(index + note_offset) % NOTES.len()],
                total_cents: rng.random_range(199..99_999),
            }
        })
        .collect()
}

fn serve(portal: &Portal, request: Request) -> Response {
    let incoming = read_incoming(request);
    portal.lock().stats.requests += 1;
    let mut reply = route(portal, &incoming);
    if reply.status >= 500 {
        portal.lock().stats.server_errors += 1;
    }
    let is_page = reply.content_type.starts_with("text/html");
    if is_page && !incoming.consent && !incoming.path.starts_with("/_admin") {
        reply.body = reply
            .body
            .replacen("<body>\n", &format!("<body>\n{CONSENT_OVERLAY}"), 1);
    }
    reply
}

fn read_incoming(request: Request) -> Incoming {
    let (path, query) = request.url.split_once('?').unwrap_or((&request.url, ""));
    let (path, query) = (path.to_string(), parse_form(query));
    let cookies: Vec<String> = request
        .header_values("Cookie")
        .flat_map(|value| value.split(';'))
        .map(|pair| pair.trim().to_string())
        .collect();
    let sid = cookies
        .iter()
        .find_map(|pair| pair.strip_prefix("sid="))
        .filter(|sid| !sid.is_empty())
        .map(str::to_string);
    let consent = cookies.iter().any(|pair| pair == "consent=yes");
    Incoming {
        method: request.method,
        path,
        query,
        sid,
        consent,
        body: request.body,
    }
}

fn route(portal: &Portal, req: &Incoming) -> Response {
    let path = req.path.as_str();
    match (&req.method, path) {
        (Method::Get, "/") => redirect("/app/home"),
        (Method::Get, "/account/signin") => signin_page(None),
        (Method::Post, "/account/signin") => signin_step1(&parse_form(&req.body)),
        (Method::Get, "/account/password") => match req.query.get("email") {
            Some(email) if !email.is_empty() => password_page(portal, email, false),
            _ => redirect("/account/signin"),
        },
        (Method::Post, "/account/password") => signin_step2(portal, &parse_form(&req.body)),
        (Method::Get, "/account/signout") => signout(portal, req),
        (Method::Get, "/_admin/reports") => admin_reports(portal),
        (Method::Get, "/_admin/stats") => admin_stats(portal),
        _ if path != "/app" && !path.starts_with("/app/") => not_found(),
        _ => match portal.session_login(req.sid.as_deref()) {
            None => redirect("/account/signin"),
            Some(login) => route_app(portal, req, &login),
        },
    }
}

/// Routes under `/app`, all of which need a live session.
fn route_app(portal: &Portal, req: &Incoming, login: &str) -> Response {
    let path = req.path.as_str();
    match (&req.method, path) {
        (Method::Get, "/app" | "/app/" | "/app/home") => home_page(portal, login),
        (Method::Get, "/app/exports/claims.csv") => export_csv(portal, login),
        _ => {
            let Some(rest) = path.strip_prefix("/app/orders/") else {
                return not_found();
            };
            let (segment, claim) = match rest.strip_suffix("/claim") {
                Some(segment) => (segment, true),
                None => (rest, false),
            };
            if segment.is_empty() || segment.contains('/') {
                return not_found();
            }
            let reference = percent_decode(segment, false);
            match (&req.method, claim) {
                (Method::Get, false) => order_page(portal, req, login, &reference),
                (Method::Post, true) => submit_claim(portal, req, login, &reference),
                _ => not_found(),
            }
        }
    }
}

impl Portal {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The login of a live session; counts the request against its budget.
    fn session_login(&self, sid: Option<&str>) -> Option<String> {
        let sid = sid?;
        let mut state = self.lock();
        let session = state.sessions.get_mut(sid)?;
        if self
            .args
            .session_max_requests
            .is_some_and(|limit| session.requests >= limit)
        {
            state.sessions.remove(sid);
            return None;
        }
        session.requests += 1;
        Some(session.login.clone())
    }

    fn order(&self, login: &str, reference: &str) -> Option<&Order> {
        let orders = self.orders.get(login)?;
        orders.iter().find(|order| order.reference == reference)
    }

    /// Whether the fault rule `kind` applies to this reference.
    fn faulty(&self, kind: &str, rate: f64, reference: &str) -> bool {
        let hash = stable_hash(&format!("{}\0{kind}\0{reference}", self.args.seed));
        let fraction = (hash >> 11) as f64 / (1u64 << 53) as f64;
        fraction < rate
    }

    fn new_csrf_token(&self) -> String {
        let token = format!("{:032x}", rand::rng().random::<u128>());
        self.lock().csrf_tokens.insert(token.clone());
        token
    }

    fn csrf_ok(&self, form: &HashMap<String, String>) -> bool {
        form.get("csrf_token")
            .is_some_and(|token| self.lock().csrf_tokens.contains(token))
    }
}

fn signin_page(error: Option<&str>) -> Response {
    html(
        "Sign in",
        &format!(
            "<h1>Sign in to Claims</h1>\n{}\
             <form class=\"signin-step1\" method=\"post\" action=\"/account/signin\">\n\
             <label>E-mail address <input type=\"email\" name=\"email\"></label>\n\
             <button type=\"submit\" class=\"next\">Continue</button>\n</form>",
            error.map(alert).unwrap_or_default()
        ),
    )
}

fn signin_step1(form: &HashMap<String, String>) -> Response {
    match form.get("email").map(|email| email.trim()) {
        Some(email) if !email.is_empty() => redirect(&format!(
            "/account/password?email={}",
            percent_encode(email)
        )),
        _ => signin_page(Some("Please enter your e-mail address.")).status(422),
    }
}

fn password_page(portal: &Portal, email: &str, failed: bool) -> Response {
    let error = if failed {
        alert("The e-mail or password is incorrect.")
    } else {
        String::new()
    };
    let (email, token) = (escape(email), portal.new_csrf_token());
    let delay = portal.args.submit_delay_ms;
    html(
        "Sign in",
        &format!(
            "<h1>Enter your password</h1>\n{error}<p class=\"signin-email\">{email} \
             <a href=\"/account/signin\">Not you?</a></p>\n\
             <form id=\"pw-form\" method=\"post\" action=\"/account/password\">\n\
             <input type=\"hidden\" name=\"email\" value=\"{email}\">\n\
             <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\n\
             <label>Password <input type=\"password\" name=\"passwd\" \
             autocomplete=\"current-password\"></label>\n\
             <button type=\"submit\" class=\"signin\">Sign in</button>\n</form>\n\
             <script>document.getElementById('pw-form').addEventListener('submit', \
             function (event) {{ event.preventDefault(); var form = this; \
             form.querySelector('button.signin').disabled = true; \
             var note = document.createElement('p'); note.className = 'signing-in'; \
             note.textContent = 'Signing in...'; form.appendChild(note); \
             setTimeout(function () {{ form.submit(); }}, {delay}); }});</script>"
        ),
    )
}

fn signin_step2(portal: &Portal, form: &HashMap<String, String>) -> Response {
    if !portal.csrf_ok(form) {
        return forbidden();
    }
    let email = form.get("email").map(String::as_str).unwrap_or_default();
    let password = form.get("passwd").map(String::as_str).unwrap_or_default();
    if portal.passwords.get(email).map(String::as_str) != Some(password) {
        portal.lock().stats.failed_logins += 1;
        return password_page(portal, email, true);
    }
    let sid = format!("{:032x}", rand::rng().random::<u128>());
    let session = Session {
        login: email.to_string(),
        requests: 0,
    };
    let mut state = portal.lock();
    state.stats.logins += 1;
    state.sessions.insert(sid.clone(), session);
    redirect("/app/home").header("Set-Cookie", format!("sid={sid}; HttpOnly; Path=/"))
}

fn signout(portal: &Portal, req: &Incoming) -> Response {
    if let Some(sid) = &req.sid {
        portal.lock().sessions.remove(sid);
    }
    redirect("/account/signin").header("Set-Cookie", "sid=; HttpOnly; Path=/; Max-Age=0".into())
}

fn home_page(portal: &Portal, login: &str) -> Response {
    let state = portal.lock();
    let rows: String = portal.orders[login]
        .iter()
        .map(|order| {
            let claimed = state
                .claims
                .contains_key(&(login.to_string(), order.reference.clone()));
            format!(
                "<tr class=\"order-row\" data-ref=\"{reference}\"><td class=\"ref\">\
                 <a href=\"/app/orders/{encoded}\">{reference}</a></td>\
                 <td class=\"state\">{state}</td><td class=\"total\">{total}</td>\
                 <td class=\"claim\">{claim}</td></tr>\n",
                reference = escape(&order.reference),
                encoded = percent_encode(&order.reference),
                state = order.state,
                total = format_total(order.total_cents),
                claim = if claimed { "Claim filed" } else { "" },
            )
        })
        .collect();
    drop(state);
    html(
        "Your orders",
        &format!(
            "{}<h1>Your orders</h1>\n\
             <p><a class=\"btn-export\" href=\"/app/exports/claims.csv\">Download all orders</a></p>\n\
             <table class=\"orders\">\n<tr><th>Reference</th><th>Order state</th><th>Total</th>\
             <th>Claim</th></tr>\n{rows}</table>",
            header(login)
        ),
    )
}

fn export_csv(portal: &Portal, login: &str) -> Response {
    let first = portal.lock().exported.insert(login.to_string());
    if first && portal.args.fail_first_export {
        return server_error();
    }
    let mut csv = String::from("\u{feff}Reference;Order state;Customer note;Total\r\n");
    for order in &portal.orders[login] {
        csv += &format!(
            "{};{};\"{}\";{}\r\n",
            order.reference,
            order.state,
            order.note.replace('"', "\"\""),
            format_total(order.total_cents)
        );
    }
    let disposition = "attachment; filename=\"claims.csv\"".to_string();
    Response::new("text/csv; charset=utf-8", csv).header("Content-Disposition", disposition)
}

fn order_page(portal: &Portal, req: &Incoming, login: &str, reference: &str) -> Response {
    let Some(order) = portal.order(login, reference) else {
        return not_found();
    };
    let key = (login.to_string(), reference.to_string());
    let first_visit = portal.lock().pages_seen.insert(key);
    if first_visit && portal.faulty("page", portal.args.page_fault_rate, reference) {
        return server_error();
    }
    let filed = req.query.get("filed").is_some_and(|v| v == "1");
    order_html(portal, login, order, filed, None)
}

/// The order page: details, then the claimed badge or the claim form.
fn order_html(
    portal: &Portal,
    login: &str,
    order: &Order,
    filed: bool,
    error: Option<&str>,
) -> Response {
    let key = (login.to_string(), order.reference.clone());
    let claimed_at = {
        let state = portal.lock();
        state
            .claims
            .get(&key)
            .map(|&i| state.reports[i].time.clone())
    };
    let encoded = percent_encode(&order.reference);
    let mut action = String::new();
    if let Some(error) = error {
        action += &format!("<div class=\"form-error\">{}</div>\n", escape(error));
    }
    match claimed_at {
        Some(time) => {
            if filed {
                action += "<div class=\"flash flash-success\">Your claim was filed.</div>\n";
            }
            action += &format!("<span class=\"badge badge-claimed\">Claim filed {time}</span>");
        }
        None => {
            let radios: String = REASONS
                .iter()
                .map(|(value, label)| {
                    format!(
                        "<label><input type=\"radio\" name=\"claim_reason\" value=\"{value}\"> \
                         {label}</label>\n"
                    )
                })
                .collect();
            action += &format!(
                "<form class=\"claim-form\" method=\"post\" action=\"/app/orders/{encoded}/claim\">\n\
                 <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\n\
                 <fieldset class=\"claim-reason\"><legend>Reason</legend>\n{radios}</fieldset>\n\
                 <label>Details <textarea name=\"details\"></textarea></label>\n\
                 <label><input type=\"checkbox\" name=\"attest\" value=\"yes\" required> \
                 I confirm this claim is accurate</label>\n\
                 <button type=\"submit\" class=\"btn btn-primary\">File claim</button>\n</form>",
                token = portal.new_csrf_token(),
            );
        }
    }
    html(
        &order.reference,
        &format!(
            "{}<p><a class=\"back\" href=\"/app/home\">All orders</a></p>\n\
             <h1 class=\"order-ref\">{reference}</h1>\n<dl class=\"order-details\">\n\
             <dt>Order state</dt><dd class=\"order-state\">{state}</dd>\n\
             <dt>Total</dt><dd class=\"order-total\">{total}</dd>\n\
             <dt>Customer note</dt><dd class=\"order-note\">{note}</dd>\n</dl>\n{action}",
            header(login),
            reference = escape(&order.reference),
            state = order.state,
            total = format_total(order.total_cents),
            note = escape(order.note),
        ),
    )
}

/// Records a claim once; a repeated POST answers the already-claimed page.
fn submit_claim(portal: &Portal, req: &Incoming, login: &str, reference: &str) -> Response {
    let Some(order) = portal.order(login, reference) else {
        return not_found();
    };
    let form = parse_form(&req.body);
    if !portal.csrf_ok(&form) {
        return forbidden();
    }
    let reason = form
        .get("claim_reason")
        .map(String::as_str)
        .unwrap_or_default();
    let mut missing = Vec::new();
    if !REASONS.iter().any(|(value, _)| *value == reason) {
        missing.push("Please choose a claim reason.");
    }
    if form.get("attest").map(String::as_str) != Some("yes") {
        missing.push("Please confirm that this claim is accurate.");
    }
    if !missing.is_empty() {
        return order_html(portal, login, order, false, Some(&missing.join(" "))).status(422);
    }
    let key = (login.to_string(), order.reference.clone());
    let mut state = portal.lock();
    if state.claims.contains_key(&key) {
        state.stats.duplicate_report_posts += 1;
        drop(state);
        return order_html(portal, login, order, false, None);
    }
    let report = Report {
        user: login.to_string(),
        order: order.reference.clone(),
        reason: reason.to_string(),
        comment: form.get("details").cloned().unwrap_or_default(),
        time: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
    };
    let index = state.reports.len();
    state.claims.insert(key, index);
    state.reports.push(report);
    state.stats.reports += 1;
    drop(state);
    if portal.faulty("submit", portal.args.submit_fault_rate, reference) {
        return server_error();
    }
    redirect(&format!(
        "/app/orders/{}?filed=1",
        percent_encode(reference)
    ))
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

fn header(login: &str) -> String {
    format!(
        "<header><span class=\"account-name\">{}</span> \
         <a href=\"/account/signout\">Sign out</a></header>\n",
        escape(login)
    )
}

fn alert(message: &str) -> String {
    format!(
        "<div class=\"alert alert-danger\" role=\"alert\">{}</div>\n",
        escape(message)
    )
}

impl Response {
    fn new(content_type: &'static str, body: String) -> Response {
        Response {
            status: 200,
            content_type,
            body,
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

fn html(title: &str, body: &str) -> Response {
    let title = escape(title);
    Response::new(
        "text/html; charset=utf-8",
        format!(
            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title} - Claims</title>\n\
             <style>.consent-box{{background:#fff;max-width:20em;margin:20vh auto;padding:1em}}\
             </style></head>\n<body>\n{body}\n</body></html>\n"
        ),
    )
}

fn redirect(location: &str) -> Response {
    Response::new("text/plain; charset=utf-8", String::new())
        .status(303)
        .header("Location", location.to_string())
}

fn not_found() -> Response {
    html("Not found", "<h1>Not Found</h1>").status(404)
}

fn forbidden() -> Response {
    html(
        "Forbidden",
        "<h1>Forbidden</h1>\n<p>Invalid or missing form token.</p>",
    )
    .status(403)
}

fn server_error() -> Response {
    html("Error", "<h1>Internal Server Error</h1>").status(500)
}

/// `1250` cents -> `12,50`.
fn format_total(cents: u64) -> String {
    format!("{},{:02}", cents / 100, cents % 100)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Encodes everything but unreserved characters, so the result is one path
/// segment or one query value.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
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

/// Decodes `%XX` escapes (as UTF-8), and `+` as a space when `plus_is_space`.
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
