//! Faults the workers must hold under: a Redis that forgets its holders, and
//! jobs whose worker keeps dying under them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::support::cluster::{Cluster, Setup};
use crate::support::wait_for;

/// Samples the jobs running at once from the database every 50 ms, from its
/// own connection, until told to stop; returns the samples.
fn sample_running(cluster: &Cluster, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<i64>> {
    let db = cluster.sandbox.db.clone();
    std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(db).expect("open database");
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        let mut samples = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let running: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM jobs WHERE status = 'running'",
                    [],
                    |r| r.get(0),
                )
                .expect("count running jobs");
            samples.push(running);
            std::thread::sleep(Duration::from_millis(50));
        }
        samples
    })
}

#[test]
fn the_browser_limit_holds_across_redis_restarting_empty_after_outages_of_a_fifth_half_and_one_and_a_half_seconds()
 {
    let mut cluster = Cluster::start(Setup {
        max_active_browsers: 2,
        lease_ttl: 2.0,
        report_ms: 10,
        pending_orders: Some(300),
        ..Setup::default()
    });
    let run = cluster.run_with_users(10, &[("alice", 0), ("bob", 0), ("carol", 0), ("dave", 0)]);
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_running(&cluster, stop.clone());
    let workers: Vec<u32> = ["w1", "w2"]
        .iter()
        .map(|id| cluster.spawn_worker(id, &["--concurrency", "2", "--until-idle"]))
        .collect();
    let reported = |cluster: &Cluster| {
        cluster.count("SELECT COUNT(*) FROM run_orders WHERE status = 'reported'")
    };
    for outage in [200, 500, 1500] {
        let before = reported(&cluster);
        wait_for(
            &format!("reports to go on before the {outage} ms outage"),
            Duration::from_secs(60),
            || {
                let running = cluster.count("SELECT COUNT(*) FROM jobs WHERE status = 'running'");
                (running == 2 && reported(&cluster) >= before + 60).then_some(())
            },
        );
        cluster.redis.restart_after(Duration::from_millis(outage));
        wait_for(
            "status to show that no permit is granted for now",
            Duration::from_secs(10),
            || (cluster.status()["permits"]["held_back_s"].as_f64() > Some(0.0)).then_some(()),
        );
    }
    for (pid, id) in workers.into_iter().zip(["w1", "w2"]) {
        assert_eq!(
            cluster.wait_worker(pid, Duration::from_secs(120)),
            0,
            "{}",
            cluster.worker_log(id)
        );
    }
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.join().expect("sampler");
    let most = samples.iter().copied().max().unwrap_or(0);
    assert!(samples.len() > 40, "too few samples ({})", samples.len());
    assert!(
        most <= 2,
        "{most} jobs ran at once under a limit of 2 ({} of {} samples over 2)",
        samples.iter().filter(|n| **n > 2).count(),
        samples.len()
    );
    assert_eq!(cluster.progress(run)["status"], "done");
    cluster.assert_each_order_reported_once_or_failed();
    assert_eq!(
        cluster.reports().len(),
        1200,
        "every pending order reported"
    );
}

#[test]
fn a_job_whose_worker_dies_under_it_three_times_ends_failed_with_its_orders() {
    let mut cluster = Cluster::start(Setup {
        lease_ttl: 1.0,
        report_ms: 50,
        pending_orders: Some(100),
        ..Setup::default()
    });
    let run = cluster.run_with_users(10, &[("alice", 0)]);
    for round in 1..=3 {
        let id = format!("doomed{round}");
        let before = cluster.count("SELECT COUNT(*) FROM run_orders WHERE status = 'reported'");
        let pid = cluster.spawn_worker(&id, &["--concurrency", "1"]);
        wait_for(
            &format!("worker {id} to report inside the range"),
            Duration::from_secs(30),
            || {
                let working = cluster.count(&format!(
                    "SELECT COUNT(*) FROM jobs WHERE kind = 'report' AND status = 'running' AND lease_owner = '{id}'"
                )) == 1;
                let reported =
                    cluster.count("SELECT COUNT(*) FROM run_orders WHERE status = 'reported'");
                (working && reported >= before + 3).then_some(())
            },
        );
        cluster.signal(pid, "KILL");
        cluster.wait_worker(pid, Duration::from_secs(5));
    }
    let last = cluster.spawn_worker("last", &["--concurrency", "1", "--until-idle"]);
    assert_eq!(
        cluster.wait_worker(last, Duration::from_secs(60)),
        0,
        "{}",
        cluster.worker_log("last")
    );
    let reason = "its worker stopped renewing its lease 3 times";
    let (status, error): (String, String) = cluster
        .sandbox
        .conn()
        .query_row(
            "SELECT status, last_error FROM jobs WHERE kind = 'report'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((status.as_str(), error.as_str()), ("failed", reason));
    let failed = cluster.count(&format!(
        "SELECT COUNT(*) FROM run_orders WHERE status = 'failed' AND error = '{reason}'"
    ));
    let reported = cluster.count("SELECT COUNT(*) FROM run_orders WHERE status = 'reported'");
    assert!(failed > 0, "no order recorded failed");
    assert_eq!(failed + reported, 100, "every order reported or failed");
    assert_eq!(cluster.progress(run)["status"], "failed");
    // Nothing submitted twice, every order recorded reported reached the
    // portal once; the one order a worker may have submitted just before its
    // last death, unrecorded, is recorded failed like the rest.
    let counts = cluster.report_counts();
    assert!(
        counts.values().all(|n| *n == 1),
        "an order was submitted twice"
    );
    let in_portal_but_failed = cluster
        .sandbox
        .conn()
        .prepare("SELECT order_ref, status FROM run_orders")
        .unwrap()
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .filter(|(order, status)| {
            let sent = counts.contains_key(&("alice".to_string(), order.clone()));
            assert!(
                status != "reported" || sent,
                "{order} recorded reported, never sent"
            );
            status == "failed" && sent
        })
        .count();
    assert!(
        in_portal_but_failed <= 1,
        "{in_portal_but_failed} failed orders reached the portal"
    );
}

#[test]
fn a_worker_alone_on_an_empty_redis_claims_at_once_but_one_started_beside_a_live_worker_waits_out_the_epoch()
 {
    // A lease long enough that waiting it out cannot pass for starting at once.
    let mut cluster = Cluster::start(Setup {
        lease_ttl: 10.0,
        report_ms: 50,
        pending_orders: Some(400),
        ..Setup::default()
    });
    cluster.run_with_users(10, &[("alice", 0), ("bob", 0)]);
    let running =
        |cluster: &Cluster| cluster.count("SELECT COUNT(*) FROM jobs WHERE status = 'running'");
    cluster.spawn_worker("w1", &["--concurrency", "2"]);
    wait_for(
        "the only worker, on a Redis that never held a permit, to claim a job within 2 s (not one lease of 10 s)",
        Duration::from_secs(2),
        || (running(&cluster) > 0).then_some(()),
    );

    // Redis forgets everything while w1 works: w1's permits are gone, but
    // its browsers may still be open until its own clock stops them.
    let _: () = redis::cmd("FLUSHALL")
        .query(&mut cluster.redis.connection())
        .unwrap();
    cluster.spawn_worker("w2", &["--concurrency", "2"]);
    wait_for(
        "grants to be held back for the lease after the flush",
        Duration::from_secs(8),
        || {
            (cluster.status()["permits"]["held_back_s"]
                .as_f64()
                .unwrap_or(0.0)
                > 3.0)
                .then_some(())
        },
    );
    // Once w1 has stopped under its lost permits, no job runs until the epoch.
    wait_for("w1 to hand back its jobs", Duration::from_secs(8), || {
        (running(&cluster) == 0).then_some(())
    });
    let held_back = cluster.status()["permits"]["held_back_s"].as_f64().unwrap();
    let watch_until =
        std::time::Instant::now() + Duration::from_secs_f64((held_back - 1.0).max(0.5));
    while std::time::Instant::now() < watch_until {
        assert_eq!(
            running(&cluster),
            0,
            "a job was claimed while grants were held back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
