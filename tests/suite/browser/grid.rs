//! Through a real Selenium Grid 4: a hub and two nodes on loopback, one node
//! in a mount namespace of its own with a tmpfs over the worker's `TMPDIR`,
//! so that anything the worker expected to find on a shared disk (a
//! downloaded export) is missing there, as on another host.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use super::{PASSWORDS, assert_secrets_kept};
use crate::support::grid::{Grid, NodeSpec};
use crate::support::wait_for;
use crate::support::web::{WebCluster, WebSetup, files_under};

/// A Grid takes a core for half a minute to start: one test at a time.
static ONE_GRID: Mutex<()> = Mutex::new(());

/// Starts a Grid with a private-`/tmp` node of `private_slots` and a plain
/// node of `plain_slots`, and points the cluster's workers at it.
fn grid_for(cluster: &mut WebCluster, private_slots: u32, plain_slots: u32) -> Grid {
    let tmp = cluster.sandbox.path("tmp");
    let grid = Grid::start(
        cluster.sandbox.dir.path(),
        &[
            NodeSpec {
                slots: private_slots,
                private_dir: Some(&tmp),
            },
            NodeSpec {
                slots: plain_slots,
                private_dir: None,
            },
        ],
        // The Grid gives up on a queued request before the worker does.
        100,
    );
    let mut config = std::fs::OpenOptions::new()
        .append(true)
        .open(cluster.sandbox.path("reporter.toml"))
        .unwrap();
    write!(
        config,
        "\n[browser]\nwebdriver_url = \"{}\"\nsession_timeout = 120\n\
         [browser.capabilities]\n\"se:name\" = \"reporter test\"\n",
        grid.url
    )
    .unwrap();
    grid
}

#[test]
fn three_users_through_a_grid_with_fewer_slots_than_browsers_are_reported_once_and_doctor_warns() {
    let _one = ONE_GRID.lock().unwrap_or_else(|p| p.into_inner());
    let mut cluster = WebCluster::start(WebSetup {
        users: &PASSWORDS,
        // A few pages answer HTTP 500: those steps fail and leave evidence.
        portal_flags: &[
            "--orders-per-user",
            "30",
            "--error-rate",
            "0.02",
            "--seed",
            "11",
        ],
        max_active_browsers: 4,
        range_size: 15,
        lease_ttl: 5.0,
        page_timeout: 20.0,
        retries: 5,
    });
    let grid = grid_for(&mut cluster, 2, 1);
    let run = cluster.run_for_users(9);

    let doctor = cluster.sandbox.run(&["doctor"]);
    assert_eq!(doctor.code, 0, "{}{}", doctor.stdout, doctor.stderr);
    let line = doctor
        .stdout
        .lines()
        .find(|l| l.contains("webdriver:"))
        .unwrap_or_else(|| panic!("no webdriver check: {}", doctor.stdout));
    assert!(
        line.starts_with("WARN webdriver: the Selenium Grid at ")
            && line.contains(
                "is ready: 3 of 3 `chrome` slots free on 2 of 2 nodes, fewer than max_active_browsers (4)"
            ),
        "{line}"
    );

    let worker = cluster.spawn_worker("w", &["--until-idle", "--concurrency", "4"]);
    let (mut most_browsers, mut most_private) = (0, 0);
    let code = wait_for(
        "the worker to drain the run",
        Duration::from_secs(900),
        || {
            most_browsers = most_browsers.max(cluster.browsers().len());
            most_private = most_private.max(grid.sessions_per_node()[0]);
            cluster.exited(worker)
        },
    );
    assert_eq!(code, 0, "{}", cluster.worker_log("w"));
    assert!(
        most_browsers <= 3,
        "{most_browsers} Chromiums at once on a Grid of 3 slots"
    );
    assert!(
        most_private >= 1,
        "the node with a private /tmp never ran a session"
    );
    cluster.assert_every_order_reported_once(90);
    let progress = cluster.progress(run);
    assert_eq!(progress["status"], "done", "{progress}");

    // Failed steps left their evidence with the worker, wherever the browser ran.
    let artifacts = files_under(&cluster.sandbox.path("artifacts"));
    if cluster.portal.stats()["server_errors"].as_u64().unwrap() > 0 {
        assert!(
            artifacts
                .iter()
                .any(|p| p.extension().is_some_and(|x| x == "png")),
            "no screenshot among {artifacts:?}"
        );
    }
    assert_secrets_kept(&cluster, &["w"], &artifacts);
}

#[test]
fn a_grid_node_killed_mid_range_fails_its_step_and_the_range_resumes_on_the_other_node() {
    let _one = ONE_GRID.lock().unwrap_or_else(|p| p.into_inner());
    let mut cluster = WebCluster::start(WebSetup {
        users: &PASSWORDS[..2],
        portal_flags: &["--orders-per-user", "60"],
        max_active_browsers: 2,
        range_size: 30,
        lease_ttl: 5.0,
        page_timeout: 20.0,
        retries: 5,
    });
    let mut grid = grid_for(&mut cluster, 2, 2);
    let run = cluster.run_for_users(9);
    let worker = cluster.spawn_worker("w", &["--until-idle", "--concurrency", "2"]);
    let doomed = wait_for(
        "10 reports and a node running a session",
        Duration::from_secs(600),
        || {
            if reported(&cluster) < 10 {
                return None;
            }
            let sessions = grid.sessions_per_node();
            let busiest = (0..sessions.len()).max_by_key(|n| sessions[*n])?;
            (sessions[busiest] > 0).then_some(busiest)
        },
    );
    grid.kill_node(doomed);
    let reported_before = reported(&cluster);
    assert!(reported_before < 120, "the run finished before the kill");

    let alive = 1 - doomed;
    let mut most_on_alive = 0;
    let code = wait_for(
        "the worker to drain the run",
        Duration::from_secs(900),
        || {
            most_on_alive = most_on_alive.max(grid.sessions_per_node()[alive]);
            cluster.exited(worker)
        },
    );
    let log = cluster.worker_log("w");
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("job failed; retrying"),
        "the lost browser did not fail its job attempt: {log}"
    );
    assert!(
        most_on_alive >= 1,
        "no session ran on node {} after node {} died",
        alive + 1,
        doomed + 1
    );
    cluster.assert_every_order_reported_once(120);
    let progress = cluster.progress(run);
    assert_eq!(progress["status"], "done", "{progress}");
}

/// Orders the workers have recorded reported (read from the database, not
/// the portal, which a loaded machine may keep waiting).
fn reported(cluster: &WebCluster) -> i64 {
    cluster
        .sandbox
        .conn()
        .query_row(
            "SELECT count(*) FROM run_orders WHERE status = 'reported'",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0)
}
