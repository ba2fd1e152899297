//! Selenium IDE recordings of the claims and sample portals, imported into the config
//! with `reporter portal import --write`, then run for real: every open
//! order reported once, the recorded password nowhere.

use std::path::PathBuf;
use std::time::Duration;

use super::assert_passwords_kept;
use crate::support::wait_for;
use crate::support::web::{PortalApp, WebCluster, WebExtra, WebSetup, files_under};

/// The password the claims recording typed (the portal's, for this user).
const USERS: [(&str, &str); 1] = [("ana@example.com", "p a\"ss'w&rd%20#<b>:1")];

/// What a recording cannot show: the export's dialect and what to report.
const PORTAL: &str = r#"
report_statuses = ["Claim open"]
report_reason = "missing"
report_comment = "Filed by reporter"

[portal.selectors]
login_error = ".alert-danger"

[portal.export]
delimiter = ";"
[portal.export.columns]
order_id = "Reference"
status = "order state"
"#;

/// Starts the portal, imports the recording into the config, runs one hour
/// for the user and checks every open order was reported once.
fn import_and_run(
    app: PortalApp,
    users: &[(&str, &str)],
    portal_config: &str,
    recording: &str,
    reported_if: &str,
) {
    let mut cluster = WebCluster::start_with(
        WebSetup {
            users,
            portal_flags: &["--orders-per-user", "20"],
            max_active_browsers: 2,
            range_size: 100,
            lease_ttl: 5.0,
            page_timeout: 20.0,
            retries: 2,
        },
        WebExtra {
            app,
            portal_config,
            retry_config: None,
        },
    );
    let recording = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(recording);
    let import = cluster
        .sandbox
        .run(&[
            "portal",
            "import",
            recording.to_str().unwrap(),
            "--reported-if",
            reported_if,
            "--write",
        ])
        .ok();
    let run = cluster.run_for_users(9);
    let worker = cluster.spawn_worker("w", &["--until-idle"]);
    let code = wait_for(
        "the worker to drain the run",
        Duration::from_secs(300),
        || cluster.exited(worker),
    );
    assert_eq!(code, 0, "{}", cluster.worker_log("w"));
    let progress = cluster.progress(run);
    assert_eq!(progress["status"], "done", "{progress:#}");
    let pending = progress["users"][0]["pending_orders"].as_u64().unwrap();
    assert!(pending > 0, "no order to report: {progress:#}");
    cluster.assert_every_order_reported_once(pending as usize);

    let config = std::fs::read_to_string(cluster.sandbox.path("reporter.toml")).unwrap();
    for (name, text) in [
        ("the config", &config),
        ("the import's stderr", &import.stderr),
    ] {
        for (_, password) in users {
            assert!(!text.contains(password), "the password appears in {name}");
        }
    }
    let artifacts = files_under(&cluster.sandbox.path("artifacts"));
    assert_passwords_kept(&cluster, users, &["w"], &artifacts);
}

#[test]
fn a_recording_of_the_claims_portal_imported_into_the_config_reports_every_open_order_once() {
    import_and_run(
        PortalApp::Claims,
        &USERS,
        PORTAL,
        "claims_portal.side",
        ".badge-claimed",
    );
}

#[test]
fn a_recording_of_the_sample_portal_imported_into_the_config_reports_every_open_order_once() {
    import_and_run(
        PortalApp::Sample,
        &[("alice", "Tr0ub4dor-alice-9q")],
        "",
        "sample_portal.side",
        "#already-reported",
    );
}
