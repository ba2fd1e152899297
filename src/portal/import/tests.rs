use std::path::Path;

use super::*;
use crate::config::{Config, PortalConfig};
use crate::flow::{Choice, LocatorKind, Template};

const SAMPLE: &str = include_str!("../../../tests/fixtures/sample_portal.side");
const CLAIMS: &str = include_str!("../../../tests/fixtures/claims_portal.side");
const CLAIMS_PASSWORD: &str = "p a\"ss'w&rd%20#<b>:1";

fn options(reason: &str, comment: &str, reported_if: &str) -> Options {
    Options {
        reason: Some(reason.into()),
        comment: Some(comment.into()),
        reported_if: Some(Locator::parse(reported_if).unwrap()),
        ..Options::default()
    }
}

fn import_text(side: &str, options: &Options) -> Import {
    import(&Project::parse(side, "test.side").unwrap(), options).unwrap()
}

/// The flows through the config loader, as `reporter doctor` reads them.
fn load(flows: &Import, export: ExportForm, portal: &str) -> Config {
    let text = format!(
        "[portal]\nkind = \"web\"\nbase_url = \"http://portal.test\"\n{portal}\n{}",
        flows_toml(&flows.flows, export)
    );
    let mut config = Config::default();
    config
        .apply_file(&text, Path::new("imported.toml"))
        .unwrap_or_else(|err| panic!("{err:#}\n{text}"));
    config
}

fn steps(flow: &ImportedFlow) -> Vec<Step> {
    flow.steps.iter().filter_map(|s| s.step.clone()).collect()
}

#[test]
fn a_recording_of_the_sample_portal_becomes_flows_the_config_loader_accepts() {
    let imported = import_text(
        SAMPLE,
        &options(
            "not_received",
            "Reported automatically by reporter",
            "#already-reported",
        ),
    );
    assert!(imported.dropped.is_empty(), "{:?}", imported.dropped);
    let config = load(&imported, ExportForm::Array, "");
    let PortalConfig::Web(web) = config.portal else {
        panic!("not a web portal")
    };
    assert_eq!(web.login.steps[0], Step::Goto(Template("/login".into())));
    assert_eq!(
        web.export.steps,
        [
            Step::Goto(Template("/orders".into())),
            Step::Download(Locator::parse("id=export").unwrap()),
        ]
    );
    let report = &web.report.steps;
    assert_eq!(report[0], Step::Goto(Template("/orders/{order}".into())));
    assert_eq!(
        report[1],
        Step::ReportedIf(Locator::parse("#already-reported").unwrap())
    );
    assert!(report.contains(&Step::Select {
        target: Locator::parse("id=reason").unwrap(),
        choice: Choice::Value(Template("{reason}".into())),
    }));
    assert!(report.contains(&Step::Fill {
        target: Locator::parse("id=comment").unwrap(),
        value: Template("{comment}".into()),
        optional: false,
    }));
    assert!(matches!(report.last(), Some(Step::Confirm { .. })));
    assert!(
        imported
            .notes
            .iter()
            .any(|n| n.contains("command 11") && n.contains("`pause` left out")),
        "{:?}",
        imported.notes
    );
}

#[test]
fn the_claims_recording_is_split_into_its_three_tests_with_stable_locators() {
    let imported = import_text(
        CLAIMS,
        &options("missing", "Filed by reporter", ".badge-claimed"),
    );
    load(
        &imported,
        ExportForm::Table,
        "[portal.export]\ndelimiter = \";\"",
    );
    let login = steps(imported.flow(FlowName::Login).unwrap());
    assert_eq!(
        login[1],
        Step::ClickIfPresent(Locator::parse(".consent-accept").unwrap())
    );
    assert!(login.contains(&Step::Fill {
        target: Locator::parse("name=email").unwrap(),
        value: Template("{login}".into()),
        optional: false,
    }));
    // Enter in the password field: its form's submit button.
    let Step::Click(enter) = &login[login.len() - 2] else {
        panic!("{login:?}")
    };
    assert_eq!(enter.kind, LocatorKind::XPath);
    assert!(
        enter
            .value
            .starts_with("//*[@name='passwd']/ancestor::form[1]")
    );
    let report = steps(imported.flow(FlowName::Report).unwrap());
    assert_eq!(
        report[0],
        Step::Goto(Template("/app/orders/{order}".into()))
    );
    // The positional CSS the IDE chose gives way to XPath by attributes.
    assert_eq!(
        report[2],
        Step::Click(
            Locator::parse("xpath=//input[@name='claim_reason' and @value='missing']").unwrap()
        )
    );
    let export = imported.flow(FlowName::Export).unwrap();
    assert_eq!(export.source, "commands 1-2 of test \"export\"");
}

#[test]
fn the_recorded_password_appears_nowhere_in_the_output_or_the_notes() {
    for flow in [None, Some(FlowName::Login)] {
        let imported = import_text(
            CLAIMS,
            &Options {
                flow,
                ..Options::default()
            },
        );
        let toml = flows_toml(&imported.flows, ExportForm::Array);
        let escaped = toml::Value::String(CLAIMS_PASSWORD.into()).to_string();
        for text in [&toml]
            .into_iter()
            .chain(&imported.notes)
            .chain(&imported.dropped)
        {
            assert!(!text.contains(CLAIMS_PASSWORD), "{text}");
            assert!(!text.contains(&escaped), "{text}");
            assert!(!text.contains("w&rd"), "{text}");
        }
        assert!(toml.contains("value = \"{password}\""), "{toml}");
        assert!(
            imported
                .notes
                .iter()
                .any(|n| n.contains("replaced by {password}"))
        );
    }
}

#[test]
fn commands_without_a_step_are_named_with_their_test_and_position() {
    let side = r#"{"id":"p","version":"2.0","name":"odd","url":"http://portal.test","tests":[
      {"id":"t","name":"odd one","commands":[
        {"id":"1","comment":"","command":"open","target":"/login","targets":[],"value":""},
        {"id":"2","comment":"","command":"doubleClick","target":"id=x","targets":[["id=x","id"]],"value":""},
        {"id":"3","comment":"","command":"storeText","target":"id=y","targets":[["id=y","id"]],"value":"secret-ish"},
        {"id":"4","comment":"","command":"runScript","target":"window.scrollTo(0,0)","targets":[],"value":""},
        {"id":"5","comment":"","command":"sendKeys","target":"id=q","targets":[["id=q","id"]],"value":"${KEY_TAB}"},
        {"id":"6","comment":"","command":"click","target":"id=go","targets":[["id=go","id"]],"value":""}
      ]}],"suites":[],"urls":[],"plugins":[]}"#;
    let imported = import_text(
        side,
        &Options {
            flow: Some(FlowName::Export),
            ..Options::default()
        },
    );
    assert_eq!(
        imported.dropped,
        [
            "command 2 of test \"odd one\" `doubleClick` has no step",
            "command 3 of test \"odd one\" `storeText` has no step",
            "command 4 of test \"odd one\" `runScript` left out: flows run no scripts; if the page needs it, the flow will not work as recorded",
            "command 5 of test \"odd one\" `sendKeys` presses ${KEY_TAB}, which no step does; only ${KEY_ENTER} (the form's submit) is read",
        ]
    );
    let export = steps(imported.flow(FlowName::Export).unwrap());
    assert_eq!(
        export,
        [
            Step::Goto(Template("/login".into())),
            Step::Download(Locator::parse("id=go").unwrap())
        ]
    );
}

#[test]
fn without_the_probe_the_report_flow_says_what_is_missing_and_the_check_refuses_it() {
    let imported = import_text(SAMPLE, &Options::default());
    let report = imported.flow(FlowName::Report).unwrap();
    let err = report.check().unwrap_err();
    assert!(err.contains("reported_if"), "{err}");
    let toml = flows_toml(&imported.flows, ExportForm::Array);
    assert!(toml.contains("# TODO: the element an order's page shows once it has a report"));
    // Without the config's reason and comment, the recorded ones stay.
    assert!(toml.contains("value = \"not_received\""), "{toml}");
}

#[test]
fn a_login_without_a_field_named_as_a_password_takes_the_value_typed_before_the_send() {
    let side = r#"{"id":"p","version":"2.0","name":"plain","url":"http://portal.test","tests":[
      {"id":"t","name":"sign in","commands":[
        {"id":"1","comment":"","command":"open","target":"/signin","targets":[],"value":""},
        {"id":"2","comment":"","command":"type","target":"id=user","targets":[["id=user","id"]],"value":"ana"},
        {"id":"3","comment":"","command":"type","target":"id=secret-box","targets":[["id=secret-box","id"]],"value":"zebra-42-horse"},
        {"id":"4","comment":"","command":"click","target":"id=go","targets":[["id=go","id"]],"value":""}
      ]}],"suites":[],"urls":[],"plugins":[]}"#;
    let imported = import_text(
        side,
        &Options {
            flow: Some(FlowName::Login),
            ..Options::default()
        },
    );
    let toml = flows_toml(&imported.flows, ExportForm::Array);
    assert!(!toml.contains("zebra-42-horse"), "{toml}");
    assert!(
        toml.contains("fill = { selector = \"id=secret-box\", value = \"{password}\" }"),
        "{toml}"
    );
    assert!(
        toml.contains("fill = { selector = \"id=user\", value = \"{login}\" }"),
        "{toml}"
    );
    imported.flow(FlowName::Login).unwrap().check().unwrap();
}

#[test]
fn a_click_into_a_field_before_typing_into_it_and_a_click_on_the_page_are_dropped_with_a_note() {
    let imported = import_text(
        SAMPLE,
        &options(
            "not_received",
            "Reported automatically by reporter",
            "#already-reported",
        ),
    );
    let login = imported
        .flows
        .iter()
        .find(|f| f.name == FlowName::Login)
        .unwrap();
    let field = Locator::parse("id=login").unwrap();
    assert!(
        !steps(login).contains(&Step::Click(field)),
        "{:?}",
        steps(login)
    );
    assert!(
        imported.notes.iter().any(|n| n.ends_with(
            "`click` on `id=login`: dropped, the field is worked by the command after it"
        )),
        "{:?}",
        imported.notes
    );

    // The recording with a click on the page's body instead of its resize.
    let resize = "\"command\": \"setWindowSize\",\n          \"target\": \"1280x800\",";
    assert!(SAMPLE.contains(resize));
    let side = SAMPLE.replacen(
        resize,
        "\"command\": \"click\",\n          \"target\": \"css=body\",",
        1,
    );
    let imported = import_text(
        &side,
        &options(
            "not_received",
            "Reported automatically",
            "#already-reported",
        ),
    );
    assert!(
        imported
            .notes
            .iter()
            .any(|n| n.ends_with("`click` on `css=body`: dropped, a click on the page itself")),
        "{:?}",
        imported.notes
    );
}
