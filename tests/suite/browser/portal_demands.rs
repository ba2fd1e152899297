//! What other real portals ask, on the claims portal: a one-time code after
//! the password, an Excel export with ids stored as numbers and a date
//! column, a report of two forms, and a login that fails once or is answered
//! HTTP 401.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use super::assert_passwords_kept;
use crate::support::wait_for;
use crate::support::web::{PortalApp, WebCluster, WebExtra, WebSetup, files_under};

const USERS: [(&str, &str); 2] = [
    ("ana@example.com", "p a\"ss'w&rd%20#<b>:1"),
    ("ben@example.com", "Grüße, ñandú & <co>:\"% #2"),
];

/// The base32 secrets as the portal knows them; ben's file holds the
/// otpauth:// URI an authenticator app is given.
const SECRETS: [(&str, &str); 2] = [
    ("ana@example.com", "JBSWY3DPEHPK3PXPJBSWY3DP"),
    ("ben@example.com", "KRSXG5CTMVRXEZLUKRSXG5CT"),
];

const FLOWS: &str = r##"
report_statuses = ["Claim open"]
report_reason = "missing"
report_comment = "Filed by reporter"

[portal.selectors]
login_error = ".alert-danger"
logged_in = "span.account-name"

[[portal.login]]
goto = "/account/signin"
[[portal.login]]
click_if_present = "#consent .consent-accept"
[[portal.login]]
fill = { selector = "input[name=email]", value = "{login}" }
[[portal.login]]
click = "button.next"
[[portal.login]]
fill = { selector = "input[name=passwd]", value = "{password}" }
[[portal.login]]
click = "button.signin"
[[portal.login]]
fill = { selector = "input[name=code]", value = "{totp}" }
[[portal.login]]
click = "button.verify"

[portal.export]
format = "xlsx"
sheet = "Claims"
[portal.export.columns]
order_id = "Number"
status = "Order state"
url_id = "Reference"
[[portal.export.steps]]
goto = "/app/home"
[[portal.export.steps]]
click_if_present = "#consent .consent-accept"
[[portal.export.steps]]
download = "a.btn-export"

[[portal.report]]
goto = "/app/orders/{order}"
[[portal.report]]
click_if_present = "#consent .consent-accept"
[[portal.report]]
reported_if = ".badge-claimed"
[[portal.report]]
check = "input[name=claim_reason][value=missing]"
[[portal.report]]
fill = { selector = "textarea[name=details]", value = "{comment}: {column:Total} on {column:Order date}" }
[[portal.report]]
check = "input[name=attest]"
[[portal.report]]
submit = "button.btn-primary"
[[portal.report]]
confirm = { selector = ".flash-success", error = ".form-error" }
[[portal.report]]
reported_if = ".badge-evidence"
[[portal.report]]
fill = { selector = "input[name=tracking]", value = "TRK-{order}" }
[[portal.report]]
submit = "button.btn-secondary"
[[portal.report]]
confirm = { selector = ".flash-evidence", error = ".form-error" }
"##;

fn cluster(flags: &[&str], users: &[(&str, &str)]) -> WebCluster {
    let cluster = WebCluster::start_with(
        WebSetup {
            users,
            portal_flags: flags,
            max_active_browsers: 4,
            range_size: 100,
            lease_ttl: 5.0,
            page_timeout: 20.0,
            retries: 0,
        },
        WebExtra {
            app: PortalApp::Claims,
            portal_config: FLOWS,
            // The defaults: 5 download retries, 2 report retries, 3 tries per order.
            retry_config: Some(""),
        },
    );
    for (user, secret) in SECRETS {
        let file = cluster.sandbox.path(&format!("credentials/{user}.totp"));
        let text = if user.starts_with("ben") {
            format!("otpauth://totp/Claims:{user}?secret={secret}&issuer=Claims&digits=6\n")
        } else {
            format!("{}\n", secret.to_lowercase())
        };
        std::fs::write(&file, text).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    cluster
}

/// The portal's secrets file for `users`, written before the portal starts.
fn secrets_file(users: &[(&str, &str)]) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    let lines: String = SECRETS
        .iter()
        .filter(|(u, _)| users.iter().any(|(name, _)| name == u))
        .map(|(u, s)| format!("{u}:{s}\n"))
        .collect();
    std::fs::write(file.path(), lines).unwrap();
    file
}

/// `SO/2026-03851#B` → `3851`: the number the export stores for a reference.
fn number_of(reference: &str) -> String {
    let after = &reference[reference.find("2026").expect("a 2026 reference") + 4..];
    let digits: String = after
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse::<u64>().unwrap().to_string()
}

#[test]
fn a_login_with_a_one_time_code_an_excel_export_and_a_report_of_two_forms_report_every_order_once()
{
    let secrets = secrets_file(&USERS);
    let flags = [
        "--orders-per-user",
        "150",
        "--totp-secrets",
        secrets.path().to_str().unwrap(),
        "--export-format",
        "xlsx",
        "--two-part-claims",
        "--evidence-fault-rate",
        "0.05",
        "--submit-fault-rate",
        "0.02",
        "--page-fault-rate",
        "0.03",
        "--login-fault-once",
    ];
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut cluster = cluster(&flags, &USERS);
    let run = cluster.run_for_users(9);
    let worker = cluster.spawn_worker("w", &["--until-idle"]);
    let code = wait_for(
        "the worker to drain the run",
        Duration::from_secs(900),
        || cluster.exited(worker),
    );
    assert_eq!(code, 0, "{}", cluster.worker_log("w"));
    let progress = cluster.assert_run_done(run);
    let stats = cluster.portal.stats();
    assert_eq!(
        stats["duplicate_report_posts"], 0,
        "a claim sent twice: {stats}"
    );
    assert_eq!(
        stats["duplicate_evidence_posts"], 0,
        "evidence sent twice: {stats}"
    );
    assert!(stats["totp_checks"].as_u64().unwrap() >= 2, "{stats}");

    // Every order the export listed as open is in the portal's record once,
    // with both parts, and recorded reported under the number the export
    // stores for it.
    let reports = cluster.portal.report_lines();
    let mut portal: Vec<(String, String)> = reports
        .iter()
        .map(|r| {
            let order = r["order"].as_str().unwrap();
            assert!(
                r["evidence"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("TRK-")),
                "the second part is missing: {r}"
            );
            let details = r["comment"].as_str().unwrap();
            assert!(
                details.contains(" on 2026-") && !details.contains(".0 "),
                "cells read as a person reads them: {details}"
            );
            (r["user"].as_str().unwrap().to_string(), number_of(order))
        })
        .collect();
    portal.sort();
    let before = portal.len();
    portal.dedup();
    assert_eq!(before, portal.len(), "an order reported twice");
    let mut recorded: Vec<(String, String)> = cluster
        .sandbox
        .conn()
        .prepare(
            "SELECT u.login, o.order_ref FROM run_orders o JOIN run_users ru ON ru.id = o.run_user_id
             JOIN users u ON u.id = ru.user_id WHERE o.status = 'reported'",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    recorded.sort();
    let pending: u64 = progress["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["pending_orders"].as_u64().unwrap())
        .sum();
    assert!(pending > 150, "{progress:#}");
    assert_eq!(
        recorded.len() as u64,
        pending,
        "every open order recorded reported"
    );
    assert_eq!(portal, recorded, "the portal's record and ours");

    let log = cluster.worker_log("w");
    assert!(
        log.contains("login failed; trying it again"),
        "the login was not retried in place"
    );
    assert!(
        log.contains("trying it again"),
        "no order was retried in place"
    );
    let artifacts = files_under(&cluster.sandbox.path("artifacts"));
    let mut kept: Vec<(&str, &str)> = USERS.to_vec();
    kept.extend(SECRETS);
    assert_passwords_kept(&cluster, &kept, &["w"], &artifacts);
    assert_codes_kept(&cluster, started, &artifacts);
}

/// The RFC 6238 code (HMAC-SHA1, 30 s, 6 digits) of a base32 secret at a
/// 30-second step, computed here as an authenticator app would.
fn totp_code(secret: &str, step: u64) -> String {
    use hmac::{Hmac, Mac};
    let mut bits = 0u64;
    let mut count = 0;
    let mut key = Vec::new();
    for c in secret.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => continue,
        };
        bits = (bits << 5) | u64::from(value);
        count += 5;
        if count >= 8 {
            count -= 8;
            key.push((bits >> count) as u8);
        }
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&key).unwrap();
    mac.update(&step.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let at = (hash[19] & 0x0f) as usize;
    let number = u32::from_be_bytes([hash[at] & 0x7f, hash[at + 1], hash[at + 2], hash[at + 3]]);
    format!("{:06}", number % 1_000_000)
}

/// No one-time code valid while the test ran stands alone (not inside a
/// longer number, nor as a timestamp's `T051353` or `.123456` digits) in the
/// worker's log, the database, its WAL, or an evidence file or its name.
fn assert_codes_kept(cluster: &WebCluster, started: u64, artifacts: &[std::path::PathBuf]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let codes: Vec<String> = SECRETS
        .iter()
        .flat_map(|(_, secret)| {
            (started / 30 - 1..=now / 30 + 1).map(|step| totp_code(secret, step))
        })
        .collect();
    let mut haystacks = vec![("w.log".to_string(), cluster.worker_log("w").into_bytes())];
    for name in ["reporter.db", "reporter.db-wal"] {
        let bytes = std::fs::read(cluster.sandbox.path(name)).unwrap_or_default();
        haystacks.push((name.into(), bytes));
    }
    for path in artifacts {
        let name = path.display().to_string();
        haystacks.push((name.clone(), name.clone().into_bytes()));
        if path.extension().is_some_and(|x| x == "html") {
            haystacks.push((name, std::fs::read(path).unwrap()));
        }
    }
    for code in &codes {
        for (name, bytes) in &haystacks {
            let standalone = bytes.windows(code.len() + 2).any(|w| {
                &w[1..=code.len()] == code.as_bytes()
                    && !w[0].is_ascii_digit()
                    && !matches!(w[0], b'T' | b'.')
                    && !w[code.len() + 1].is_ascii_digit()
            });
            assert!(!standalone, "a one-time code appears in {name}");
        }
    }
}

#[test]
fn a_login_answered_401_is_tried_once_and_names_the_credentials_file() {
    let users = [("ana@example.com", "the-right-one")];
    let secrets = secrets_file(&users);
    let flags = [
        "--orders-per-user",
        "5",
        "--login-status-code",
        "401",
        "--totp-secrets",
        secrets.path().to_str().unwrap(),
    ];
    let mut cluster = cluster(&flags, &users);
    let credentials = cluster.sandbox.path("credentials/ana@example.com");
    std::fs::write(&credentials, "a-wrong-one\n").unwrap();
    let run = cluster.run_for_users(9);
    let worker = cluster.spawn_worker("w", &["--until-idle"]);
    let code = wait_for("the worker to give up", Duration::from_secs(120), || {
        cluster.exited(worker)
    });
    assert_eq!(code, 0, "{}", cluster.worker_log("w"));
    let progress = cluster.progress(run);
    assert_eq!(progress["status"], "failed", "{progress:#}");
    let error = progress["users"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("HTTP 401") && error.contains(&format!("`{}`", credentials.display())),
        "{error}"
    );
    assert_eq!(cluster.portal.stats()["failed_logins"], 1, "one attempt");
}

#[test]
fn portal_try_walks_a_login_with_a_one_time_code_and_reads_the_excel_export() {
    let users = [("ana@example.com", "pw-ana-1")];
    let secrets = secrets_file(&users);
    let flags = [
        "--orders-per-user",
        "6",
        "--totp-secrets",
        secrets.path().to_str().unwrap(),
        "--export-format",
        "xlsx",
        "--two-part-claims",
    ];
    let cluster = cluster(&flags, &users);
    let out = cluster.sandbox.run(&[
        "portal",
        "try",
        "ana@example.com",
        "--login",
        "ana@example.com",
    ]);
    assert!(out.code == 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("order id from column `Number`")
            && out.stdout.contains("Excel, sheet `Claims`"),
        "{}",
        out.stdout
    );
    assert!(cluster.portal.reports().is_empty(), "portal try submitted");
    assert!(cluster.portal.stats()["totp_checks"].as_u64().unwrap() >= 1);
}

#[test]
fn the_tests_own_one_time_codes_follow_rfc_6238() {
    // RFC 6238, appendix B: "12345678901234567890" at T = 59 s is 94287082.
    assert_eq!(totp_code("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", 1), "287082");
}
