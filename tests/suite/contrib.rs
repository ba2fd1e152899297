//! What operators import: the Grafana dashboard and the Prometheus alert rules
//! under `contrib/`, checked with promtool (Debian's `prometheus` package) and
//! against the metrics `reporter metrics` really writes.

use std::collections::BTreeSet;
use std::fs;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::cluster::{Cluster, Setup};
use crate::support::on_path;
use crate::support::prometheus::parse;

const RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/contrib/prometheus/reporter-alerts.yml"
);
const RULE_TESTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/contrib/prometheus/reporter-alerts.test.yml"
);
const DASHBOARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/grafana/reporter.json");

#[track_caller]
fn promtool(args: &[&str]) -> String {
    assert!(
        on_path("promtool"),
        "`promtool` is not installed; run scripts/test (it installs it) or `apt-get install prometheus`"
    );
    let output = Command::new("promtool")
        .args(args)
        .output()
        .expect("run promtool");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?} failed:\n{said}");
    said
}

/// Every `reporter_...` name in a text.
fn metric_names(text: &str) -> BTreeSet<String> {
    text.match_indices("reporter_")
        .map(|(at, _)| {
            text[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect::<String>()
        })
        .collect()
}

fn dashboard() -> Value {
    serde_json::from_str(&fs::read_to_string(DASHBOARD).unwrap()).expect("the dashboard is JSON")
}

/// Every query of the dashboard, with its panel's title.
fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|panel| {
            let title = panel["title"].as_str().unwrap().to_string();
            panel["targets"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |t| (title.clone(), t["expr"].as_str().unwrap().to_string()))
        })
        .collect()
}

/// The alert names in the rules file, or in the unit tests' `alertname:` lines.
fn alert_names(text: &str, key: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(key))
        .map(|name| name.trim().to_string())
        .collect()
}

#[test]
fn the_alert_rules_pass_promtool_and_each_alert_has_unit_tests() {
    let checked = promtool(&["check", "rules", RULES]);
    assert!(checked.contains("SUCCESS: 8 rules found"), "{checked}");
    let tested = promtool(&["test", "rules", RULE_TESTS]);
    assert!(tested.contains("SUCCESS"), "{tested}");

    let rules = fs::read_to_string(RULES).unwrap();
    let alerts = alert_names(&rules, "- alert:");
    let tests = alert_names(&fs::read_to_string(RULE_TESTS).unwrap(), "alertname:");
    assert_eq!(alerts, tests, "alerts and the alerts with unit tests");
    for wanted in [
        "ReporterWorkerNotHeartbeating",
        "ReporterRunHasFailedOrders",
        "ReporterRunUnfinishedAtNextHour",
        "ReporterRedisDown",
        "ReporterPermitsHeldWithoutLiveWorker",
        "ReporterDatabaseWritesFailing",
        "ReporterDatabaseDiskAlmostFull",
    ] {
        assert!(alerts.contains(wanted), "{wanted} in {alerts:?}");
    }
}

#[test]
fn every_dashboard_query_is_promql_that_promtool_accepts_on_the_imported_datasource() {
    let dashboard = dashboard();
    assert_eq!(dashboard["uid"], "reporter-overview");
    assert_eq!(dashboard["__inputs"][0]["name"], "DS_PROMETHEUS");
    let mut ids = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "unique panel ids"
        );
        assert_eq!(
            panel["datasource"]["uid"], "${DS_PROMETHEUS}",
            "{}: the datasource chosen at import",
            panel["title"]
        );
    }
    // Each query as a recording rule, with the host variable set to "all".
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (n, (_, expr)) in dashboard_queries(&dashboard).iter().enumerate() {
        let expr = expr.replace("$instance", ".*");
        rules.push_str(&format!(
            "      - record: dashboard:query{n}\n        expr: {}\n",
            serde_json::to_string(&expr).unwrap()
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard-queries.yml");
    fs::write(&file, &rules).unwrap();
    promtool(&["check", "rules", file.to_str().unwrap()]);
}

#[test]
fn the_dashboard_shows_what_an_operator_asked_for() {
    let queries = dashboard_queries(&dashboard());
    let shown = |metric: &str| -> Vec<&str> {
        queries
            .iter()
            .filter(|(_, expr)| metric_names(expr).contains(metric))
            .map(|(title, _)| title.as_str())
            .collect()
    };
    for (metric, title) in [
        (
            "reporter_browser_permits_held",
            "Browsers in use against the limit",
        ),
        (
            "reporter_browser_permits_limit",
            "Browsers in use against the limit",
        ),
        ("reporter_jobs", "Jobs by state"),
        (
            "reporter_run_orders_reported",
            "Orders reported and failed per run",
        ),
        (
            "reporter_run_orders_failed",
            "Orders reported and failed per run",
        ),
        ("reporter_last_run_duration_seconds", "Last run's duration"),
        (
            "reporter_worker_last_seen_timestamp_seconds",
            "Workers' last heartbeat",
        ),
    ] {
        assert!(
            shown(metric).contains(&title),
            "{metric} in panel {title:?}: shown in {:?}",
            shown(metric)
        );
    }
}

#[test]
fn the_dashboard_and_the_alert_rules_use_only_metrics_that_reporter_metrics_writes() {
    // A finished run, then an unfinished one: every family is on the page.
    let mut cluster = Cluster::start(Setup {
        pending_orders: Some(10),
        ..Setup::default()
    });
    cluster.run_with_users(10, &[("alice", 0)]);
    let worker = cluster.spawn_worker("w", &["--until-idle"]);
    assert_eq!(cluster.wait_worker(worker, Duration::from_secs(60)), 0);
    cluster.run_with_users(11, &[("bob", 0)]);
    let page = parse(&cluster.sandbox.run(&["metrics"]).ok().stdout);
    let written: BTreeSet<String> = page.types.keys().cloned().collect();

    let mut used = metric_names(&fs::read_to_string(RULES).unwrap());
    for (_, expr) in dashboard_queries(&dashboard()) {
        used.extend(metric_names(&expr));
    }
    let unknown: Vec<&String> = used.difference(&written).collect();
    assert!(
        unknown.is_empty(),
        "not written by `reporter metrics`: {unknown:?}; written: {written:?}"
    );
    let unused: Vec<&String> = written.difference(&used).collect();
    assert!(
        unused.is_empty(),
        "metrics neither shown nor alerted on: {unused:?}"
    );
}
