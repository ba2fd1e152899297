//! Portal flows written in the config, against a portal unlike the sample
//! one (`examples/claims_portal.rs`): a two-step login that submits from a
//! script, a cookie overlay, CSRF fields, a radio group and a required
//! checkbox, a `;` export with quoted newlines and a BOM, order ids that need
//! percent-encoding, and faults, all with the default retry settings.

use std::time::Duration;

use super::assert_passwords_kept;
use crate::support::wait_for;
use crate::support::web::{PortalApp, WebCluster, WebExtra, WebSetup, files_under};

/// Passwords with every character that breaks naive quoting or encoding.
const CLAIMS_USERS: [(&str, &str); 2] = [
    ("ana@example.com", "p a\"ss'w&rd%20#<b>:1"),
    ("ben@example.com", "Grüße, ñandú & <co>:\"% #2"),
];

/// The claims portal's flows, written as an operator would.
const CLAIMS_FLOWS: &str = r##"
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

[portal.export]
delimiter = ";"
[portal.export.columns]
order_id = "Reference"
status = "order state"
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
fill = { selector = "textarea[name=details]", value = "{comment}: {column:Total}" }
[[portal.report]]
check = "input[name=attest]"
[[portal.report]]
submit = "button.btn-primary"
[[portal.report]]
confirm = { selector = ".flash-success", error = ".form-error" }
"##;

fn claims_setup<'a>(users: &'a [(&'a str, &'a str)], flags: &'a [&'a str]) -> WebSetup<'a> {
    WebSetup {
        users,
        portal_flags: flags,
        max_active_browsers: 4,
        range_size: 100,
        lease_ttl: 5.0,
        page_timeout: 20.0,
        retries: 0,
    }
}

fn claims_extra(flows: &str) -> WebExtra<'_> {
    WebExtra {
        app: PortalApp::Claims,
        portal_config: flows,
        // The defaults: 5 download retries, 2 report retries, 3 tries per order.
        retry_config: Some(""),
    }
}

#[test]
fn a_portal_with_other_markup_and_transient_faults_has_every_open_order_reported_once_with_default_retries()
 {
    let flags = [
        "--orders-per-user",
        "150",
        "--page-fault-rate",
        "0.05",
        "--submit-fault-rate",
        "0.02",
        "--fail-first-export",
        "--session-max-requests",
        "120",
    ];
    let mut cluster = WebCluster::start_with(
        claims_setup(&CLAIMS_USERS, &flags),
        claims_extra(CLAIMS_FLOWS),
    );
    let run = cluster.run_for_users(9);
    let worker = cluster.spawn_worker("w", &["--until-idle"]);
    let code = wait_for(
        "the worker to drain the run",
        Duration::from_secs(600),
        || cluster.exited(worker),
    );
    assert_eq!(code, 0, "{}", cluster.worker_log("w"));
    let progress = cluster.assert_run_done(run);
    let pending: u64 = progress["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["pending_orders"].as_u64().unwrap())
        .sum();
    assert!(pending > 150, "about 3 in 4 orders are open: {progress:#}");
    cluster.assert_every_order_reported_once(pending as usize);
    let stats = cluster.portal.stats();
    assert!(
        stats["server_errors"].as_u64().unwrap() > 3,
        "the faults happened: {stats}"
    );
    let log = cluster.worker_log("w");
    assert!(
        log.contains("trying it again"),
        "no order was retried in place"
    );
    let artifacts = files_under(&cluster.sandbox.path("artifacts"));
    assert_passwords_kept(&cluster, &CLAIMS_USERS, &["w"], &artifacts);
}

#[test]
fn a_wrong_password_fails_the_download_at_once_naming_the_credentials_file() {
    let portal_users = [("ana@example.com", "the-right-one")];
    let mut cluster = WebCluster::start_with(
        claims_setup(&portal_users, &["--orders-per-user", "5"]),
        claims_extra(CLAIMS_FLOWS),
    );
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
        error.contains("refused the login")
            && error.contains(&format!("`{}`", credentials.display())),
        "{error}"
    );
    let attempts: i64 = cluster
        .sandbox
        .conn()
        .query_row(
            "SELECT attempt FROM jobs WHERE kind = 'download'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(attempts, 1, "a refused login is not retried");
    assert_eq!(cluster.portal.stats()["failed_logins"], 1);
}

#[test]
fn a_selector_that_matches_nothing_fails_the_range_at_once_with_the_step_named() {
    let users = [("ana@example.com", "pw-1")];
    let flows = CLAIMS_FLOWS.replace("input[name=attest]", "input[name=attest-typo]");
    let mut cluster = WebCluster::start_with(
        claims_setup(&users, &["--orders-per-user", "8"]),
        claims_extra(&flows),
    );
    let run = cluster.run_for_users(9);
    let worker = cluster.spawn_worker("w", &["--until-idle"]);
    let code = wait_for("the worker to give up", Duration::from_secs(180), || {
        cluster.exited(worker)
    });
    assert_eq!(code, 0, "{}", cluster.worker_log("w"));
    let progress = cluster.progress(run);
    assert_eq!(progress["status"], "failed", "{progress:#}");
    let errors: Vec<String> = cluster
        .sandbox
        .conn()
        .prepare("SELECT DISTINCT error FROM run_orders WHERE status = 'failed'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("portal.report step 6 (check `input[name=attest-typo]`)"),
        "{errors:?}"
    );
    let failures: i64 = cluster
        .sandbox
        .conn()
        .query_row("SELECT attempt FROM jobs WHERE kind = 'report'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(failures, 1, "a flow that does not fit is not retried");
    assert!(cluster.portal.reports().is_empty());
}

#[test]
fn portal_try_walks_both_portals_without_submitting_and_names_a_broken_step() {
    // The sample portal, with its default flows.
    let sample = WebCluster::start(WebSetup {
        users: &[("alice", "Tr0ub4dor-alice-9q")],
        portal_flags: &["--orders-per-user", "3"],
        max_active_browsers: 1,
        range_size: 100,
        lease_ttl: 5.0,
        page_timeout: 20.0,
        retries: 0,
    });
    let dir = sample.sandbox.path("try-sample");
    let out = sample.sandbox.run(&[
        "portal",
        "try",
        "alice",
        "--login",
        "alice",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert!(out.code == 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("already has a report") || out.stdout.contains("form of"));
    let shots = files_under(&dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .count();
    assert!(shots >= 6, "a screenshot per step: {}", out.stdout);
    assert!(sample.portal.reports().is_empty(), "portal try submitted");

    // The claims portal, with flows from the config; then a broken selector.
    let users = [("ana@example.com", "p a\"ss'w&rd%20#<b>:1")];
    let mut claims = WebCluster::start_with(
        claims_setup(&users, &["--orders-per-user", "6"]),
        claims_extra(CLAIMS_FLOWS),
    );
    let dir = claims.sandbox.path("try-claims");
    let args = [
        "portal",
        "try",
        "ana@example.com",
        "--login",
        "ana@example.com",
    ];
    let out = claims
        .sandbox
        .run(&[&args[..], &["--dir", dir.to_str().unwrap()]].concat());
    assert!(out.code == 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("column `Reference`"), "{}", out.stdout);
    assert!(claims.portal.reports().is_empty(), "portal try submitted");
    assert!(
        files_under(&dir)
            .iter()
            .any(|p| p.display().to_string().contains("-report-step6-check.png")),
        "{}",
        out.stdout
    );

    let config = std::fs::read_to_string(claims.sandbox.path("reporter.toml")).unwrap();
    claims
        .sandbox
        .config(&config.replace("a.btn-export", "a.btn-exports"));
    let out = claims.sandbox.run(&args);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("portal.export step 3 (download `a.btn-exports`)"),
        "{}",
        out.stderr
    );
    assert!(claims.portal.reports().is_empty());
}
