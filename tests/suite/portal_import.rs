//! `reporter portal import`: Selenium IDE recordings (in the `.side` format
//! the IDE saves) made into flows, printed or written into a config that
//! the config check accepts; the recorded password written nowhere.

use std::path::PathBuf;

use crate::support::{Run, Sandbox};

const SAMPLE_PASSWORD: &str = "Tr0ub4dor-alice-9q";
const CLAIMS_PASSWORD: &str = "p a\"ss'w&rd%20#<b>:1";

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

const SAMPLE_CONFIG: &str = "# Operators' notes: keep me\n[portal]\nkind = \"web\"\n\
    base_url = \"http://localhost:8080\" # the sample portal\n\
    report_reason = \"not_received\"\nreport_comment = \"Reported automatically by reporter\"\n\n\
    # An old login, replaced by the import\n[[portal.login]]\ngoto = \"/old-login\"\n\
    [[portal.login]]\nfill = { selector = \"#pw\", value = \"{password}\" }\n\n\
    # The browser stays as it is\n[browser]\nchromium = \"chromium\"\n";

/// The config check's line of `reporter doctor`.
#[track_caller]
fn assert_config_loads(sandbox: &Sandbox) {
    let doctor = sandbox.run(&["doctor"]);
    let line = doctor
        .stdout
        .lines()
        .find(|l| l.contains("config: "))
        .unwrap_or_else(|| panic!("no config check: {}", doctor.stdout));
    assert!(line.starts_with("ok   config: "), "{line}");
}

#[track_caller]
fn assert_no_password(password: &str, texts: &[(&str, &str)]) {
    for (name, text) in texts {
        assert!(!text.contains(password), "the password appears in {name}");
    }
}

#[test]
fn the_sample_recording_is_printed_as_flows_with_placeholders_and_stable_locators() {
    let mut sandbox = Sandbox::new();
    sandbox.config(SAMPLE_CONFIG);
    let run = sandbox
        .run(&[
            "portal",
            "import",
            &fixture("sample_portal.side"),
            "--reported-if",
            "#already-reported",
        ])
        .ok();
    for expected in [
        "goto = \"/login\"",
        "fill = { selector = \"id=login\", value = \"{login}\" }",
        "fill = { selector = \"id=password\", value = \"{password}\" }",
        "click = \"id=login-submit\"",
        "download = \"id=export\"",
        "goto = \"/orders/{order}\"",
        "reported_if = \"#already-reported\"",
        "select = { selector = \"id=reason\", value = \"{reason}\" }",
        "fill = { selector = \"id=comment\", value = \"{comment}\" }",
        "submit = \"id=report-submit\"",
        "confirm = \"id=confirmation\"",
        "# also recorded: name=login | css=#login | xpath=//input[@id='login']",
    ] {
        assert!(
            run.stdout.contains(expected),
            "no {expected:?} in\n{}",
            run.stdout
        );
    }
    for said in [
        "note: portal.login: commands 1-7 of test \"report one order\"",
        "note: portal.export: commands 8-9 of test \"report one order\"",
        "note: portal.report: commands 10-17 of test \"report one order\"",
        "note: command 11 of test \"report one order\" `pause` left out",
        "note: the password typed at command 5 of test \"report one order\" was replaced by {password}; it is written nowhere",
    ] {
        assert!(run.stderr.contains(said), "no {said:?} in\n{}", run.stderr);
    }
    assert_no_password(
        SAMPLE_PASSWORD,
        &[("stdout", &run.stdout), ("stderr", &run.stderr)],
    );
}

#[test]
fn flows_written_into_a_config_keep_its_comments_replace_its_old_flows_and_pass_the_check() {
    let mut sandbox = Sandbox::new();
    let path = sandbox.config(SAMPLE_CONFIG);
    let write = |sandbox: &Sandbox| -> Run {
        let mut command = sandbox.command(&[
            "portal",
            "import",
            &fixture("sample_portal.side"),
            "--reported-if",
            "#already-reported",
            "--write",
        ]);
        command.env("RUST_LOG", "trace");
        crate::support::to_run(command.output().unwrap()).ok()
    };
    let run = write(&sandbox);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("Wrote portal.login, portal.export, portal.report into"),
        "{}",
        run.stderr
    );
    let written = std::fs::read_to_string(&path).unwrap();
    for kept in [
        "# Operators' notes: keep me\n",
        "base_url = \"http://localhost:8080\" # the sample portal\n",
        "# The browser stays as it is\n[browser]\nchromium = \"chromium\"\n",
    ] {
        assert!(written.contains(kept), "lost {kept:?}:\n{written}");
    }
    assert!(!written.contains("/old-login"), "{written}");
    assert_eq!(written.matches("goto = \"/login\"").count(), 1, "{written}");
    assert_config_loads(&sandbox);
    // Importing again changes nothing.
    let again = write(&sandbox);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), written);
    assert_no_password(
        SAMPLE_PASSWORD,
        &[
            ("the config", &written),
            ("stderr", &run.stderr),
            ("stderr", &again.stderr),
        ],
    );
}

#[test]
fn writing_a_report_flow_without_its_already_reported_marker_is_refused_and_changes_nothing() {
    let mut sandbox = Sandbox::new();
    let path = sandbox.config(SAMPLE_CONFIG);
    let run = sandbox.run(&[
        "portal",
        "import",
        &fixture("sample_portal.side"),
        "--write",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.ends_with(
            "error: the report flow needs --reported-if SELECTOR, the element an order's page shows once it has a report (a recording cannot show it); the config is unchanged\n"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), SAMPLE_CONFIG);
    // Printed, the flow holds a marked placeholder and the check is said to refuse it.
    let printed = sandbox
        .run(&["portal", "import", &fixture("sample_portal.side")])
        .ok();
    assert!(
        printed
            .stdout
            .contains("# TODO: the element an order's page shows once it has a report")
    );
    assert!(
        printed
            .stderr
            .contains("warning: the config check refuses this portal.report"),
        "{}",
        printed.stderr
    );
}

#[test]
fn the_claims_recording_of_three_tests_becomes_its_flows_under_the_export_table() {
    let mut sandbox = Sandbox::new();
    let config = "[portal]\nkind = \"web\"\nbase_url = \"http://claims.test\"\n\
        report_statuses = [\"Claim open\"]\nreport_reason = \"missing\"\nreport_comment = \"Filed by reporter\"\n\n\
        [portal.export]\ndelimiter = \";\"\n[portal.export.columns]\norder_id = \"Reference\"\nstatus = \"order state\"\n";
    let path = sandbox.config(config);
    let run = sandbox
        .run(&[
            "portal",
            "import",
            &fixture("claims_portal.side"),
            "--reported-if",
            ".badge-claimed",
            "--write",
        ])
        .ok();
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.starts_with(config), "{written}");
    for expected in [
        "click_if_present = \".consent-accept\"",
        "fill = { selector = \"name=email\", value = \"{login}\" }",
        "fill = { selector = \"name=passwd\", value = \"{password}\" }",
        "[[portal.export.steps]]",
        "goto = \"/app/orders/{order}\"",
        "fill = { selector = \"name=details\", value = \"{comment}\" }",
        "check = \"name=attest\"",
        "submit = \".btn-primary\"",
        "confirm = \".flash-success\"",
    ] {
        assert!(written.contains(expected), "no {expected:?} in\n{written}");
    }
    assert!(
        run.stderr.contains(
            "note: the order id `SO/2026-00017#B` seen in the order page's URL became {order}"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("`mouseOver` left out"),
        "{}",
        run.stderr
    );
    assert_config_loads(&sandbox);
    assert_no_password(
        CLAIMS_PASSWORD,
        &[("the config", &written), ("stderr", &run.stderr)],
    );
    assert!(!written.contains("w&rd"), "{written}");
}

#[test]
fn a_recording_with_unsupported_commands_names_each_and_is_refused_unless_dropping_is_allowed() {
    let sandbox = Sandbox::new();
    let side = sandbox.path("odd.side");
    std::fs::write(
        &side,
        r#"{"id":"0b0e","version":"2.0","name":"odd","url":"http://portal.test","tests":[
          {"id":"1a","name":"sign in","commands":[
            {"id":"c1","comment":"","command":"open","target":"/login","targets":[],"value":""},
            {"id":"c2","comment":"","command":"type","target":"id=login","targets":[["id=login","id"],["css=#login","css:finder"]],"value":"alice"},
            {"id":"c3","comment":"","command":"type","target":"id=password","targets":[["id=password","id"],["css=#password","css:finder"]],"value":"hunter2-secret"},
            {"id":"c4","comment":"","command":"doubleClick","target":"id=login-submit","targets":[["id=login-submit","id"]],"value":""},
            {"id":"c5","comment":"","command":"selectFrame","target":"index=0","targets":[],"value":""},
            {"id":"c6","comment":"","command":"click","target":"id=login-submit","targets":[["id=login-submit","id"]],"value":""}
          ]}],"suites":[],"urls":["http://portal.test/"],"plugins":[]}"#,
    )
    .unwrap();
    let side = side.display().to_string();
    let run = sandbox.run(&["portal", "import", &side, "--flow", "login"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains(
            "dropped: command 4 of test \"sign in\" `doubleClick` has no step\n\
             dropped: command 5 of test \"sign in\" `selectFrame` has no step\n\
             error: 2 recorded commands have no step (named above); record them another way, or pass --allow-dropped to leave them out\n"
        ),
        "{}",
        run.stderr
    );
    let allowed = sandbox
        .run(&[
            "portal",
            "import",
            &side,
            "--flow",
            "login",
            "--allow-dropped",
        ])
        .ok();
    assert!(
        allowed.stdout.contains("click = \"id=login-submit\""),
        "{}",
        allowed.stdout
    );
    assert_no_password(
        "hunter2-secret",
        &[
            ("stdout", &run.stdout),
            ("stderr", &run.stderr),
            ("stdout", &allowed.stdout),
            ("stderr", &allowed.stderr),
        ],
    );
}
