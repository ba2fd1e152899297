//! "Claims portal": a second fake orders portal for the end-to-end tests,
//! deliberately unlike `sample_portal` (two-step sign-in, cookie overlay,
//! awkward order references, a `;`-separated CSV, radio/checkbox forms).
//!
//! ```text
//! cargo run --example claims_portal -- --users users.txt [--listen 127.0.0.1:0]
//!     [--seed 42] [--orders-per-user 120] [--page-fault-rate F]
//!     [--submit-fault-rate F] [--fail-first-export]
//!     [--session-max-requests N] [--submit-delay-ms 600]
//!     [--totp-secrets FILE] [--export-format csv|xlsx] [--two-part-claims]
//!     [--evidence-fault-rate F] [--login-fault-once] [--login-status-code N]
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
//! * `--submit-delay-ms N`: delay before the password form (and the
//!   one-time code form) really submits.
//!
//! Optional features, all off by default (without these flags the portal
//! serves the same pages and the same CSV as it always did; the routes they
//! add answer 404 without them):
//!
//! * `--totp-secrets FILE`: one `login:BASE32SECRET` per line, split at the
//!   first `:` (blank lines and lines starting with `#` skipped; the secret
//!   is RFC 4648 base32, case-insensitive, spaces and `=` padding ignored;
//!   every login must be one of `--users`). Such a user signs in with a
//!   second step, a one-time code: RFC 6238 TOTP, HMAC-SHA1, 30 s period,
//!   6 digits (see `GET /account/verify` below).
//! * `--export-format csv|xlsx` (default `csv`): with `xlsx` the home page's
//!   `a.btn-export` points at `/app/exports/claims.xlsx` (a workbook, see
//!   below); the CSV route keeps working either way.
//! * `--two-part-claims`: a claim is made of two forms, the claim and then
//!   its evidence (see the order page below).
//! * `--evidence-fault-rate F` (with `--two-part-claims`): share of order
//!   references whose evidence POST, the first time, is answered HTTP 500
//!   WITHOUT storing anything (a fault between the two submits); the next
//!   POST works. Hashed from the seed and the reference like the other
//!   fault rules.
//! * `--login-fault-once`: each login's first POST of the password form
//!   (counted by the submitted e-mail, right password or not, once the
//!   csrf token is valid) answers HTTP 500 with an error page and signs
//!   nothing in; later POSTs work.
//! * `--login-status-code N` (200..=599, e.g. 401): a wrong password is
//!   answered with status N instead of 200 (the same page with the alert).
//!
//! Once ready it prints `claims portal listening on http://ADDR` on stdout.
//! Passwords, one-time code secrets, codes and cookies are never logged.
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
//!   page again (200, or `--login-status-code`) with
//!   `div.alert.alert-danger[role=alert]` "The e-mail or password is
//!   incorrect."; the right one sets cookie `sid` (HttpOnly, Path=/) and
//!   answers 303 to `/app/home`, except for a user of `--totp-secrets`:
//!   then no session yet, but cookie `pending=<random>` (HttpOnly, Path=/,
//!   Max-Age=300; the pending sign-in is kept server-side for 5 minutes)
//!   and 303 to `/account/verify`.
//! * `GET /account/verify` (only with `--totp-secrets`; without a live
//!   `pending` cookie: 303 to `/account/signin`): `form#otp-form` (POST
//!   /account/verify) with hidden `csrf_token`, `input[name=code]` (type
//!   text, `inputmode="numeric"`, `autocomplete="one-time-code"`) and
//!   `button.verify` ("Verify"). Like the password form, a script cancels
//!   the submit, shows `p.verifying` ("Verifying...") and calls
//!   `form.submit()` after `--submit-delay-ms`.
//! * `POST /account/verify`: 403 for an unknown csrf token; without a live
//!   `pending` cookie: 303 to `/account/signin`. Otherwise the code is
//!   checked (`totp_checks`): exactly 6 digits (surrounding whitespace
//!   ignored) equal to the code of the current 30 s step or of the previous
//!   one (a code may be used more than once). Right: sets `sid` (as above),
//!   clears `pending` and answers 303 to `/app/home`. Wrong: the verify page
//!   again (200) with `div.alert.alert-danger[role=alert]` "The code is
//!   incorrect." (`totp_failures` and `failed_logins`); the pending sign-in
//!   stays usable.
//! * `GET /account/signout`: ends the session, 303 to `/account/signin`.
//! * Any `/app/...` request without a live session: 303 to `/account/signin`.
//! * `GET /app/home`: `header span.account-name` (the login),
//!   `header a[href="/account/signout"]`, `a.btn-export` (the export:
//!   `/app/exports/claims.csv`, or `.xlsx` with `--export-format xlsx`) and
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
//! * `GET /app/exports/claims.xlsx` (only with `--export-format xlsx`):
//!   `application/vnd.openxmlformats-officedocument.spreadsheetml.sheet`,
//!   attachment `claims.xlsx`, one sheet "Claims" with the header row
//!   `Reference, Order state, Customer note, Total, Order date, Number` and
//!   one row per order (in the CSV's order): reference, state and note as
//!   text (the note verbatim, newlines and all), the total as a number
//!   (`12.5`), the order date as a date cell (2026-01-01 plus the order
//!   number modulo 365 days) and the order number, the digits of the
//!   reference after `2026`, as a number (`3851` for `SO/2026-03851#B`).
//!   `--fail-first-export` counts it as an export like the CSV (one first
//!   export per user, whichever format).
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
//!   With `--two-part-claims` a claimed order whose evidence is missing also
//!   shows, after the badge, `form.evidence-form` (POST
//!   /app/orders/{ref}/evidence) with hidden `csrf_token`,
//!   `input[name=tracking]` (type text, required) and
//!   `button.btn.btn-secondary` ("Add evidence"); once the evidence is
//!   added it shows `span.badge.badge-evidence` ("Evidence added") after the
//!   claimed badge instead of that form, and with `?evidence=1` also
//!   `div.flash.flash-evidence` "Evidence added.".
//! * `POST /app/orders/{ref}/claim`: 403 for an unknown csrf token; without
//!   `attest=yes` or a valid `claim_reason`: the order page with status 422
//!   and `div.form-error`, nothing recorded; an already claimed order: the
//!   order page (badge), counted as `duplicate_report_posts`; otherwise the
//!   claim is recorded and answered 303 to `/app/orders/{ref}?filed=1` (or
//!   500 under `--submit-fault-rate`).
//! * `POST /app/orders/{ref}/evidence` (only with `--two-part-claims`): 404
//!   for an unknown reference; 403 for an unknown csrf token; 409 (an error
//!   page) for an order without a claim; an order whose evidence is already
//!   added: the order page (200, badges), counted as
//!   `duplicate_evidence_posts`, nothing changes; without a non-blank
//!   `tracking`: the order page with status 422 and `div.form-error`,
//!   nothing stored; otherwise 500 without storing anything the first time
//!   under `--evidence-fault-rate`, else the evidence (the tracking value,
//!   trimmed) is stored with the claim (`evidence_added`) and answered 303
//!   to `/app/orders/{ref}?evidence=1`.
//! * `GET /_admin/reports`: one JSON line per claim
//!   `{"user","order","reason","comment","time"}` (comment = details); with
//!   `--two-part-claims` also `"evidence"`: the tracking value, null until
//!   given.
//! * `GET /_admin/stats`: `{"logins","reports","duplicate_report_posts",
//!   "requests","failed_logins","server_errors","totp_checks",
//!   "totp_failures","evidence_added","duplicate_evidence_posts"}` (the last
//!   four stay 0 without the flags that use them). `logins` counts sessions
//!   created (for a `--totp-secrets` user, at the right code).

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use chrono::{Days, NaiveDate, SecondsFormat, Utc};
use clap::{Parser, ValueEnum};
use hmac::{Hmac, Mac};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use sha1::Sha1;

#[path = "support/http.rs"]
mod http;
use http::{Method, Request, Response};

#[path = "support/xlsx.rs"]
mod xlsx;
use xlsx::Cell;

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
/// How long a sign-in waiting for its one-time code stays usable.
const PENDING_TTL: Duration = Duration::from_secs(300);
/// The TOTP period (RFC 6238), in seconds.
const TOTP_STEP_SECS: u64 = 30;
const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

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
    /// Delay before the password (and one-time code) form really submits.
    #[arg(long, default_value_t = 600)]
    submit_delay_ms: u64,
    /// File with one `login:BASE32SECRET` per line: those users also enter
    /// a one-time code (TOTP) to sign in.
    #[arg(long)]
    totp_secrets: Option<PathBuf>,
    /// What the home page's export button downloads.
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    export_format: ExportFormat,
    /// A claim is two forms: the claim, then its evidence.
    #[arg(long)]
    two_part_claims: bool,
    /// Share of orders whose first evidence POST answers 500, storing nothing.
    #[arg(long, default_value_t = 0.0)]
    evidence_fault_rate: f64,
    /// Answer 500 to each user's first POST of the password form.
    #[arg(long)]
    login_fault_once: bool,
    /// The status of the page answering a wrong password (default 200).
    #[arg(long, value_parser = clap::value_parser!(u16).range(200..=599))]
    login_status_code: Option<u16>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ExportFormat {
    Csv,
    Xlsx,
}

struct Order {
    reference: String,
    /// The digits of the reference after `2026`, as a number.
    number: usize,
    state: &'static str,
    note: &'static str,
    total_cents: u64,
}

struct Session {
    login: String,
    requests: u32,
}

/// A sign-in whose password was right, waiting for its one-time code.
struct Pending {
    login: String,
    expires: Instant,
}

#[derive(Serialize)]
struct Report {
    user: String,
    order: String,
    reason: String,
    comment: String,
    time: String,
    /// Only with `--two-part-claims` (the key is left out otherwise): the
    /// tracking value, null until given.
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<Option<String>>,
}

#[derive(Serialize, Default)]
struct Stats {
    logins: u64,
    reports: u64,
    duplicate_report_posts: u64,
    requests: u64,
    failed_logins: u64,
    server_errors: u64,
    totp_checks: u64,
    totp_failures: u64,
    evidence_added: u64,
    duplicate_evidence_posts: u64,
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
    /// Sign-ins waiting for their one-time code, by `pending` cookie.
    pending: HashMap<String, Pending>,
    /// E-mails that posted the password form at least once.
    password_posts: HashSet<String>,
    /// (login, reference) whose evidence POST was answered with a fault.
    evidence_faulted: HashSet<(String, String)>,
    stats: Stats,
}

struct Portal {
    args: Args,
    passwords: HashMap<String, String>,
    /// The decoded TOTP keys of the users who sign in with a one-time code.
    totp_keys: HashMap<String, Vec<u8>>,
    orders: HashMap<String, Vec<Order>>,
    state: Mutex<State>,
}

/// The parts of a request the handlers look at. `path` is still encoded.
struct Incoming {
    method: Method,
    path: String,
    query: HashMap<String, String>,
    sid: Option<String>,
    pending: Option<String>,
    consent: bool,
    body: String,
}

fn main() -> Result<()> {
    let args = Args::parse();
    for (flag, rate) in [
        ("--page-fault-rate", args.page_fault_rate),
        ("--submit-fault-rate", args.submit_fault_rate),
        ("--evidence-fault-rate", args.evidence_fault_rate),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            bail!("{flag} must be between 0 and 1");
        }
    }
    let passwords = read_users(&args.users)?;
    let totp_keys = match &args.totp_secrets {
        Some(path) => read_totp_secrets(path, &passwords)?,
        None => HashMap::new(),
    };
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
        totp_keys,
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

/// Reads `login:BASE32SECRET` lines into decoded keys. Errors name the line,
/// never the secret.
fn read_totp_secrets(
    path: &Path,
    passwords: &HashMap<String, String>,
) -> Result<HashMap<String, Vec<u8>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut keys = HashMap::new();
    for (number, line) in text.lines().enumerate() {
        let at = || format!("{}:{}", path.display(), number + 1);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let Some((login, secret)) = line.split_once(':') else {
            bail!("{}: expected login:BASE32SECRET", at());
        };
        let login = login.trim();
        if !passwords.contains_key(login) {
            bail!("{}: {login} is not one of --users", at());
        }
        let Some(key) = base32_decode(secret) else {
            bail!("{}: the secret is not base32", at());
        };
        keys.insert(login.to_string(), key);
    }
    Ok(keys)
}

/// RFC 4648 base32 (`A`-`Z`, `2`-`7`), case-insensitive; whitespace and `=`
/// padding are ignored. `None` for any other character or no bytes at all.
fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let value = match c.to_ascii_uppercase() {
            c @ 'A'..='Z' => c as u32 - 'A' as u32,
            c @ '2'..='7' => c as u32 - '2' as u32 + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The 6-digit RFC 6238 code (HMAC-SHA1) of `key` for time step `counter`.
fn totp_code(key: &[u8], counter: u64) -> u32 {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let word = [
        digest[offset],
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ];
    (u32::from_be_bytes(word) & 0x7fff_ffff) % 1_000_000
}

/// Whether `code` is 6 digits equal to the code of the current step or of
/// the previous one (clock skew).
fn totp_matches(key: &[u8], code: &str, unix_secs: u64) -> bool {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|byte| byte.is_ascii_digit()) {
        return false;
    }
    let Ok(code) = code.parse::<u32>() else {
        return false;
    };
    let step = unix_secs / TOTP_STEP_SECS;
    [Some(step), step.checked_sub(1)]
        .into_iter()
        .flatten()
        .any(|counter| totp_code(key, counter) == code)
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
                number,
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
        let page = String::from_utf8_lossy(&reply.body);
        let page = page.replacen("<body>\n", &format!("<body>\n{CONSENT_OVERLAY}"), 1);
        reply.body = page.into_bytes();
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
    let cookie = |name: &str| {
        cookies
            .iter()
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .filter(|value| !value.is_empty())
            .map(str::to_string)
    };
    let (sid, pending) = (cookie("sid"), cookie("pending"));
    let consent = cookies.iter().any(|pair| pair == "consent=yes");
    Incoming {
        method: request.method,
        path,
        query,
        sid,
        pending,
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
        (Method::Get, "/account/verify") if !portal.totp_keys.is_empty() => verify_get(portal, req),
        (Method::Post, "/account/verify") if !portal.totp_keys.is_empty() => {
            verify_post(portal, req)
        }
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
        (Method::Get, "/app/exports/claims.xlsx")
            if portal.args.export_format == ExportFormat::Xlsx =>
        {
            export_xlsx(portal, login)
        }
        _ => {
            let Some(rest) = path.strip_prefix("/app/orders/") else {
                return not_found();
            };
            let two_part = portal.args.two_part_claims;
            let (segment, action) =
                match (rest.strip_suffix("/claim"), rest.strip_suffix("/evidence")) {
                    (Some(segment), _) => (segment, "claim"),
                    (None, Some(segment)) if two_part => (segment, "evidence"),
                    _ => (rest, ""),
                };
            if segment.is_empty() || segment.contains('/') {
                return not_found();
            }
            let reference = percent_decode(segment, false);
            match (&req.method, action) {
                (Method::Get, "") => order_page(portal, req, login, &reference),
                (Method::Post, "claim") => submit_claim(portal, req, login, &reference),
                (Method::Post, "evidence") => submit_evidence(portal, req, login, &reference),
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

    /// The login of a live pending sign-in (one waiting for its code).
    fn pending_login(&self, pending: Option<&str>) -> Option<String> {
        let pending = pending?;
        let mut state = self.lock();
        let now = Instant::now();
        state.pending.retain(|_, waiting| waiting.expires > now);
        state
            .pending
            .get(pending)
            .map(|waiting| waiting.login.clone())
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
    if portal.args.login_fault_once && portal.lock().password_posts.insert(email.to_string()) {
        return server_error();
    }
    let password = form.get("passwd").map(String::as_str).unwrap_or_default();
    if portal.passwords.get(email).map(String::as_str) != Some(password) {
        portal.lock().stats.failed_logins += 1;
        let page = password_page(portal, email, true);
        return match portal.args.login_status_code {
            Some(status) => page.status(status),
            None => page,
        };
    }
    if portal.totp_keys.contains_key(email) {
        let pending = format!("{:032x}", rand::rng().random::<u128>());
        let waiting = Pending {
            login: email.to_string(),
            expires: Instant::now() + PENDING_TTL,
        };
        portal.lock().pending.insert(pending.clone(), waiting);
        let max_age = PENDING_TTL.as_secs();
        return redirect("/account/verify").header(
            "Set-Cookie",
            format!("pending={pending}; HttpOnly; Path=/; Max-Age={max_age}"),
        );
    }
    start_session(portal, email)
}

/// Signs `login` in: a new session, its cookie and 303 to the home page.
fn start_session(portal: &Portal, login: &str) -> Response {
    let sid = format!("{:032x}", rand::rng().random::<u128>());
    let session = Session {
        login: login.to_string(),
        requests: 0,
    };
    let mut state = portal.lock();
    state.stats.logins += 1;
    state.sessions.insert(sid.clone(), session);
    redirect("/app/home").header("Set-Cookie", format!("sid={sid}; HttpOnly; Path=/"))
}

fn verify_page(portal: &Portal, failed: bool) -> Response {
    let error = if failed {
        alert("The code is incorrect.")
    } else {
        String::new()
    };
    let token = portal.new_csrf_token();
    let delay = portal.args.submit_delay_ms;
    html(
        "Verify",
        &format!(
            "<h1>Enter your verification code</h1>\n{error}\
             <p class=\"verify-hint\">Enter the 6-digit code from your authenticator app.</p>\n\
             <form id=\"otp-form\" method=\"post\" action=\"/account/verify\">\n\
             <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\n\
             <label>Code <input type=\"text\" name=\"code\" inputmode=\"numeric\" \
             autocomplete=\"one-time-code\"></label>\n\
             <button type=\"submit\" class=\"verify\">Verify</button>\n</form>\n\
             <script>document.getElementById('otp-form').addEventListener('submit', \
             function (event) {{ event.preventDefault(); var form = this; \
             form.querySelector('button.verify').disabled = true; \
             var note = document.createElement('p'); note.className = 'verifying'; \
             note.textContent = 'Verifying...'; form.appendChild(note); \
             setTimeout(function () {{ form.submit(); }}, {delay}); }});</script>"
        ),
    )
}

fn verify_get(portal: &Portal, req: &Incoming) -> Response {
    match portal.pending_login(req.pending.as_deref()) {
        Some(_) => verify_page(portal, false),
        None => redirect("/account/signin"),
    }
}

/// Checks the one-time code of a pending sign-in; never logs it.
fn verify_post(portal: &Portal, req: &Incoming) -> Response {
    let form = parse_form(&req.body);
    if !portal.csrf_ok(&form) {
        return forbidden();
    }
    let Some(login) = portal.pending_login(req.pending.as_deref()) else {
        return redirect("/account/signin");
    };
    let key = &portal.totp_keys[&login];
    let code = form.get("code").map(String::as_str).unwrap_or_default();
    let unix_secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let right = totp_matches(key, code, unix_secs);
    let mut state = portal.lock();
    state.stats.totp_checks += 1;
    if !right {
        state.stats.totp_failures += 1;
        state.stats.failed_logins += 1;
        drop(state);
        return verify_page(portal, true);
    }
    if let Some(pending) = &req.pending {
        state.pending.remove(pending);
    }
    drop(state);
    start_session(portal, &login)
        .header("Set-Cookie", "pending=; HttpOnly; Path=/; Max-Age=0".into())
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
             <p><a class=\"btn-export\" href=\"/app/exports/claims.{extension}\">Download all orders</a></p>\n\
             <table class=\"orders\">\n<tr><th>Reference</th><th>Order state</th><th>Total</th>\
             <th>Claim</th></tr>\n{rows}</table>",
            header(login),
            extension = match portal.args.export_format {
                ExportFormat::Csv => "csv",
                ExportFormat::Xlsx => "xlsx",
            },
        ),
    )
}

/// Whether this export is the user's first one that `--fail-first-export`
/// answers with 500 (whichever format).
fn first_export_fails(portal: &Portal, login: &str) -> bool {
    let first = portal.lock().exported.insert(login.to_string());
    first && portal.args.fail_first_export
}

fn export_csv(portal: &Portal, login: &str) -> Response {
    if first_export_fails(portal, login) {
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

/// The orders as one sheet "Claims": text, numbers and dates in cells of
/// their own types.
fn export_xlsx(portal: &Portal, login: &str) -> Response {
    if first_export_fails(portal, login) {
        return server_error();
    }
    let header = [
        "Reference",
        "Order state",
        "Customer note",
        "Total",
        "Order date",
        "Number",
    ];
    let mut rows = vec![header.into_iter().map(Cell::text).collect::<Vec<_>>()];
    for order in &portal.orders[login] {
        rows.push(vec![
            Cell::text(&order.reference),
            Cell::text(order.state),
            Cell::text(order.note),
            Cell::Number(order.total_cents as f64 / 100.0),
            Cell::Date(order_date(order)),
            Cell::Number(order.number as f64),
        ]);
    }
    let workbook = xlsx::workbook(&[("Claims", rows)]);
    let disposition = "attachment; filename=\"claims.xlsx\"".to_string();
    Response::new(XLSX_TYPE, workbook).header("Content-Disposition", disposition)
}

/// 2026-01-01 plus the order number modulo 365 days.
fn order_date(order: &Order) -> NaiveDate {
    let first = NaiveDate::from_ymd_opt(2026, 1, 1).expect("a valid date");
    first + Days::new((order.number % 365) as u64)
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
    let flag = |name: &str| req.query.get(name).is_some_and(|v| v == "1");
    let flash = Flash {
        filed: flag("filed"),
        evidence: flag("evidence"),
    };
    order_html(portal, login, order, flash, None)
}

/// Which flash messages an order page shows (each only when it applies).
#[derive(Clone, Copy, Default)]
struct Flash {
    /// `?filed=1`: "Your claim was filed.".
    filed: bool,
    /// `?evidence=1`: "Evidence added.".
    evidence: bool,
}

/// The order page: details, then the claimed badge or the claim form (and,
/// with `--two-part-claims`, the evidence badge or the evidence form).
fn order_html(
    portal: &Portal,
    login: &str,
    order: &Order,
    flash: Flash,
    error: Option<&str>,
) -> Response {
    let key = (login.to_string(), order.reference.clone());
    let claim = {
        let state = portal.lock();
        state.claims.get(&key).map(|&i| {
            let report = &state.reports[i];
            (report.time.clone(), report.evidence.clone().flatten())
        })
    };
    let encoded = percent_encode(&order.reference);
    let mut action = String::new();
    if let Some(error) = error {
        action += &format!("<div class=\"form-error\">{}</div>\n", escape(error));
    }
    match claim {
        Some((time, evidence)) => {
            if flash.filed {
                action += "<div class=\"flash flash-success\">Your claim was filed.</div>\n";
            }
            let two_part = portal.args.two_part_claims;
            if two_part && flash.evidence && evidence.is_some() {
                action += "<div class=\"flash flash-evidence\">Evidence added.</div>\n";
            }
            action += &format!("<span class=\"badge badge-claimed\">Claim filed {time}</span>");
            if two_part && evidence.is_some() {
                action += "\n<span class=\"badge badge-evidence\">Evidence added</span>";
            } else if two_part {
                action += &format!(
                    "\n<form class=\"evidence-form\" method=\"post\" \
                     action=\"/app/orders/{encoded}/evidence\">\n\
                     <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\n\
                     <label>Tracking number <input type=\"text\" name=\"tracking\" required></label>\n\
                     <button type=\"submit\" class=\"btn btn-secondary\">Add evidence</button>\n</form>",
                    token = portal.new_csrf_token(),
                );
            }
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
        let error = missing.join(" ");
        return order_html(portal, login, order, Flash::default(), Some(&error)).status(422);
    }
    let key = (login.to_string(), order.reference.clone());
    let mut state = portal.lock();
    if state.claims.contains_key(&key) {
        state.stats.duplicate_report_posts += 1;
        drop(state);
        return order_html(portal, login, order, Flash::default(), None);
    }
    let report = Report {
        user: login.to_string(),
        order: order.reference.clone(),
        reason: reason.to_string(),
        comment: form.get("details").cloned().unwrap_or_default(),
        time: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        evidence: portal.args.two_part_claims.then_some(None),
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

/// Stores a claim's evidence once (`--two-part-claims`); a repeated POST
/// answers the order page as it is.
fn submit_evidence(portal: &Portal, req: &Incoming, login: &str, reference: &str) -> Response {
    let Some(order) = portal.order(login, reference) else {
        return not_found();
    };
    let form = parse_form(&req.body);
    if !portal.csrf_ok(&form) {
        return forbidden();
    }
    let key = (login.to_string(), order.reference.clone());
    let mut state = portal.lock();
    let Some(&index) = state.claims.get(&key) else {
        drop(state);
        return conflict("This order has no claim yet.");
    };
    if matches!(state.reports[index].evidence, Some(Some(_))) {
        state.stats.duplicate_evidence_posts += 1;
        drop(state);
        return order_html(portal, login, order, Flash::default(), None);
    }
    let tracking = form
        .get("tracking")
        .map(|value| value.trim())
        .unwrap_or_default();
    if tracking.is_empty() {
        drop(state);
        let error = "Please enter the tracking number.";
        return order_html(portal, login, order, Flash::default(), Some(error)).status(422);
    }
    let rate = portal.args.evidence_fault_rate;
    if portal.faulty("evidence", rate, reference) && state.evidence_faulted.insert(key) {
        return server_error();
    }
    state.reports[index].evidence = Some(Some(tracking.to_string()));
    state.stats.evidence_added += 1;
    drop(state);
    redirect(&format!(
        "/app/orders/{}?evidence=1",
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
    /// A 200 answer; `body` is text or bytes.
    fn new(content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status: 200,
            content_type,
            body: body.into(),
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

fn conflict(message: &str) -> Response {
    html(
        "Conflict",
        &format!("<h1>Conflict</h1>\n<p>{}</p>", escape(message)),
    )
    .status(409)
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
