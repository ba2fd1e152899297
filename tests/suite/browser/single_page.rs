//! A single-page portal (`examples/spa_portal.rs`): routes in the URL
//! fragment, a token in `localStorage`, a CSV export built in the page as a
//! Blob, a custom listbox in an animated popover, a switch, and a save that
//! is sent only when its "Element updated — Undo" message closes; with API
//! faults and saves that are stored and then answered 500.

use std::time::Duration;

use crate::support::wait_for;
use crate::support::web::{PortalApp, WebCluster, WebExtra, WebSetup};

const USERS: [(&str, &str); 2] = [("ana", "pä ss\"w&rd:1"), ("ben", "Grüße <b> %20#2")];

/// The login and the export of the single-page portal, as an operator writes them.
const LOGIN_AND_EXPORT: &str = r##"
report_statuses = ["disputed"]
report_reason = "damaged"
report_comment = "Filed by reporter"

[portal.selectors]
login_error = ".login-error"
logged_in = "header .user-name"

[[portal.login]]
goto = "/#/login"
[[portal.login]]
fill = { selector = "input[name=username]", value = "{login}" }
[[portal.login]]
fill = { selector = "input[name=password]", value = "{password}" }
[[portal.login]]
click = "button.sign-in"

[portal.export]
[portal.export.columns]
order_id = "id"
[[portal.export.steps]]
goto = "/#/orders"
[[portal.export.steps]]
download = "button[aria-label=Export]"
"##;

/// The report flow up to its submit: the order's route, the custom listbox,
/// the switch, the comment and Save.
const REPORT_FORM: &str = r##"
[[portal.report]]
goto = "/#/orders/{order}"
[[portal.report]]
reported_if = ".reported-chip"
[[portal.report]]
select = { selector = "[role=combobox][aria-labelledby=reason-label]", value = "{reason}" }
[[portal.report]]
check = "input[name=notify]"
[[portal.report]]
fill = { selector = "textarea[name=comment]", value = "{comment}" }
[[portal.report]]
submit = "button.save"
"##;

/// Closing the message sends the save; the report counts once the portal
/// answered that request.
const CONFIRM_BY_REQUEST: &str = r##"
[[portal.report]]
click = ".snackbar .snackbar-close"
[[portal.report]]
confirm = { request = "PUT /api/orders/{order}/report" }
"##;

fn setup<'a>(users: &'a [(&'a str, &'a str)], flags: &'a [&'a str]) -> WebSetup<'a> {
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

fn extra(flows: &str) -> WebExtra<'_> {
    WebExtra {
        app: PortalApp::Spa,
        portal_config: flows,
        // The defaults: 5 download retries, 2 report retries, 3 tries per order.
        retry_config: Some(""),
    }
}

/// Runs every reserved user's orders with one worker and waits for it.
fn drain(cluster: &mut WebCluster) -> i64 {
    let run = cluster.run_for_users(9);
    let worker = cluster.spawn_worker("w", &["--until-idle"]);
    let code = wait_for(
        "the worker to drain the run",
        Duration::from_secs(600),
        || cluster.exited(worker),
    );
    assert_eq!(code, 0, "{}", cluster.worker_log("w"));
    run
}

fn pending_orders(progress: &serde_json::Value) -> u64 {
    progress["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["pending_orders"].as_u64().unwrap())
        .sum()
}

/// 2 users × 150 orders with faults, default retries: every open order is
/// reported once by the portal's own record, with the option the config
/// names, and nothing is recorded that the portal does not hold.
fn every_order_reported_once(save_mode: &str) {
    let flags = [
        "--orders-per-user",
        "150",
        "--api-fault-rate",
        "0.05",
        "--save-fault-rate",
        "0.02",
        "--save-mode",
        save_mode,
    ];
    let flows = format!("{LOGIN_AND_EXPORT}{REPORT_FORM}{CONFIRM_BY_REQUEST}");
    let mut cluster = WebCluster::start_with(setup(&USERS, &flags), extra(&flows));
    let run = drain(&mut cluster);
    let progress = cluster.assert_run_done(run);
    let pending = pending_orders(&progress);
    assert!(pending > 150, "about 3 in 4 orders are open: {progress:#}");
    cluster.assert_every_order_reported_once(pending as usize);
    for report in cluster.portal.report_lines() {
        assert_eq!(report["reason"], "damaged", "the option picked: {report}");
        assert_eq!(report["notify"], true, "the switch: {report}");
        assert_eq!(report["comment"], "Filed by reporter", "{report}");
    }
    let stats = cluster.portal.stats();
    assert!(
        stats["server_errors"].as_u64().unwrap() > 5,
        "the faults happened: {stats}"
    );
}

#[test]
fn a_single_page_portal_with_an_undoable_save_has_every_open_order_reported_once_by_its_own_record()
{
    every_order_reported_once("undoable");
}

#[test]
fn a_single_page_portal_whose_save_is_sent_at_once_has_every_open_order_reported_once_by_its_own_record()
 {
    every_order_reported_once("immediate");
}

#[test]
fn a_message_on_screen_is_never_taken_for_the_portals_word() {
    // The flow confirms by the on-screen message alone, as an operator
    // reading the page would write it, and asks for a fresh look after.
    let flows = format!(
        "verify_after_submit = true\n{LOGIN_AND_EXPORT}{REPORT_FORM}\n[[portal.report]]\nconfirm = \".snackbar\"\n"
    );
    let users = [("ana", "pw-ana-1")];

    // The message closes on its own after 1.5 s and the page then sends
    // the save: each order is recorded once the portal answered it.
    let flags = [
        "--orders-per-user",
        "6",
        "--snackbar-ms",
        "1500",
        "--seed",
        "3",
    ];
    let mut cluster = WebCluster::start_with(setup(&users, &flags), extra(&flows));
    let run = drain(&mut cluster);
    let progress = cluster.assert_run_done(run);
    let pending = pending_orders(&progress);
    assert!(pending > 0, "{progress:#}");
    cluster.assert_every_order_reported_once(pending as usize);

    // The message stays up (the save would go out only when it closes):
    // no order is recorded reported, each fails with the reason, and the
    // portal holds nothing.
    let flags = [
        "--orders-per-user",
        "3",
        "--snackbar-ms",
        "600000",
        "--seed",
        "3",
    ];
    let mut setup = setup(&users, &flags);
    setup.page_timeout = 4.0;
    let mut cluster = WebCluster::start_with(setup, extra(&flows));
    let run = drain(&mut cluster);
    let progress = cluster.progress(run);
    assert!(
        cluster.portal.reports().is_empty(),
        "the portal got a report"
    );
    let failures = cluster.order_failures();
    let failed: i64 = failures.iter().map(|(_, n)| n).sum();
    assert_eq!(failed as u64, pending_orders(&progress), "{progress:#}");
    assert!(
        failures
            .iter()
            .all(|(why, _)| why.contains("the page sent the portal nothing since the submit")),
        "{failures:#?}"
    );
}

#[test]
fn portal_try_walks_the_single_page_portal_whichever_way_it_hands_over_its_export() {
    let users = [("ana", "pw-ana-1")];
    for mode in ["anchor", "location", "open"] {
        let flags = ["--orders-per-user", "4", "--export-mode", mode];
        let flows = format!("{LOGIN_AND_EXPORT}{REPORT_FORM}{CONFIRM_BY_REQUEST}");
        let cluster = WebCluster::start_with(setup(&users, &flags), extra(&flows));
        let out = cluster
            .sandbox
            .run(&["portal", "try", "ana", "--login", "ana"]);
        assert!(out.code == 0, "{mode}: {}\n{}", out.stdout, out.stderr);
        assert!(out.stdout.contains("column `id`"), "{mode}: {}", out.stdout);
        assert!(cluster.portal.reports().is_empty(), "portal try submitted");
    }
}
