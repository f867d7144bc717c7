//! Scheduled ticks across processes: the lease rows that make each tick run once when
//! several `serve` / `worker` processes share a database, and recover from a crashed
//! holder.

use chrono::{Duration, DurationRound, Utc};

use crate::helpers::on_each_database;

#[tokio::test]
async fn each_tick_runs_once_and_a_crashed_holder_loses_its_lease() {
    on_each_database(|app| async move {
        use jobs::{JobName, leases::Lease};
        // Bind the whole app: the block would otherwise capture only `app.db` and drop
        // the rest — the temporary SQLite directory with it.
        let app = app;
        let db = &app.db;
        let lease = Duration::minutes(2);
        let tick = Utc::now().duration_trunc(Duration::hours(1)).unwrap();
        let at = |offset: Duration| tick + offset;
        let acquire = |job: JobName, holder: &'static str, tick, now| async move {
            Lease::acquire(db, job, holder, tick, now, lease)
                .await
                .unwrap()
        };

        // Two processes see the same tick: one runs it.
        let held = acquire(JobName::Segments, "a", tick, at(Duration::milliseconds(5)))
            .await
            .expect("the first process takes the tick");
        assert!(
            acquire(
                JobName::Segments,
                "b",
                tick,
                at(Duration::milliseconds(900))
            )
            .await
            .is_none()
        );
        held.release(db, at(Duration::seconds(3))).await.unwrap();
        assert!(
            acquire(JobName::Segments, "b", tick, at(Duration::seconds(4)))
                .await
                .is_none(),
            "a finished tick does not run again"
        );
        // Other jobs have leases of their own.
        assert!(
            acquire(JobName::Lifecycle, "b", tick, at(Duration::seconds(1)))
                .await
                .is_some()
        );

        // A long run renews its lease with its heartbeat: the next tick, long after the
        // lease would have lapsed unrenewed, does not overlap it.
        let next = tick + Duration::hours(1);
        let long = acquire(JobName::Segments, "b", next, next).await.unwrap();
        for beat in 1..=8 {
            let now = next + Duration::seconds(30 * beat);
            assert!(long.renew(db, now, lease).await.unwrap(), "beat {beat}");
        }
        let overlapping = next + Duration::minutes(5);
        assert!(
            acquire(JobName::Segments, "a", overlapping, overlapping)
                .await
                .is_none(),
            "a live run's renewed lease is not taken"
        );

        // Then b dies: its renewals stop (the last at +4 min), and once the lease has
        // lapsed the first tick after it is a's.
        let within = next + Duration::minutes(4) + lease - Duration::seconds(1);
        assert!(
            acquire(JobName::Segments, "a", within, within)
                .await
                .is_none(),
            "the dead holder's lease is live until it lapses"
        );
        let lapsed = next + Duration::minutes(4) + lease;
        let taken = acquire(JobName::Segments, "a", lapsed, lapsed)
            .await
            .expect("a lapsed lease is lost");
        // The dead holder, were it only slow, learns it lost the lease.
        assert!(!long.renew(db, lapsed, lease).await.unwrap());
        assert!(taken.renew(db, lapsed, lease).await.unwrap());
        taken.release(db, lapsed).await.unwrap();

        // Many processes racing for one tick: exactly one wins.
        let race = lapsed + Duration::hours(1);
        let attempts = (0..8).map(|i| {
            let db = db.clone();
            async move {
                Lease::acquire(
                    &db,
                    JobName::ValueScores,
                    &format!("p{i}"),
                    race,
                    race,
                    lease,
                )
                .await
                .unwrap()
                .is_some()
            }
        });
        let winners = futures::future::join_all(attempts)
            .await
            .into_iter()
            .filter(|won| *won)
            .count();
        assert_eq!(winners, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_workers_on_one_database_run_each_tick_once() {
    on_each_database(|app| async move {
        // Two real `clientele worker` processes, `segments` every 2 seconds. (The whole
        // app is bound so that its temporary database outlives the block.)
        let app = app;
        let start = || {
            std::process::Command::new(env!("CARGO_BIN_EXE_clientele"))
                .arg("worker")
                .env("DATABASE_URL", &app.database_url)
                .env("SEGMENTS_SCHEDULE", "*/2 * * * * *")
                .env("CLIENTELE_CONFIG", "/nonexistent/clientele.toml")
                .env("RUST_LOG", "warn")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        };
        let workers = [start(), start()];
        tokio::time::sleep(std::time::Duration::from_secs(9)).await;
        for worker in &workers {
            std::process::Command::new("kill")
                .args(["-TERM", &worker.id().to_string()])
                .status()
                .unwrap();
        }
        for worker in workers {
            tokio::task::block_in_place(|| worker.wait_with_output()).unwrap();
        }
        use entity::job_run;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        let runs: Vec<chrono::DateTime<Utc>> = job_run::Entity::find()
            .filter(job_run::Column::Name.eq("segments"))
            .order_by_asc(job_run::Column::StartedAt)
            .all(&app.db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.started_at)
            .collect();
        assert!(runs.len() >= 2, "the workers ran the job: {runs:?}");
        // One run per 2-second tick: no two runs share a tick.
        let ticks: std::collections::BTreeSet<i64> =
            runs.iter().map(|at| at.timestamp() / 2).collect();
        assert_eq!(ticks.len(), runs.len(), "a tick ran twice: {runs:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_changed_through_the_api_reaches_a_running_scheduler() {
    on_each_database(|app| async move {
        use serde_json::json;
        let update = "mutation($name: String!, $schedule: String!, $zone: String) { updateJobSchedule(name: $name, schedule: $schedule, timeZone: $zone) { name schedule timeZone nextRunAt } }";
        let refused = |body: serde_json::Value, field: &str| {
            assert_eq!(crate::helpers::error_code(&body), "BAD_USER_INPUT", "{body}");
            assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
        };
        refused(app.admin(update, json!({ "name": "segments", "schedule": "0 2 * * *" })).await, "schedule");
        refused(app.admin(update, json!({ "name": "segments", "schedule": "0 0 2 * * *", "zone": "Mars/Base" })).await, "timeZone");
        refused(app.admin(update, json!({ "name": "nope", "schedule": "0 0 2 * * *" })).await, "name");
        let runner = app.key_with(&["jobs:run"]).await;
        let denied = app.graphql(&runner, update, json!({ "name": "segments", "schedule": "0 0 2 * * *" })).await;
        assert_eq!(crate::helpers::error_code(&denied), "FORBIDDEN");

        // A scheduler running `segments` every second…
        let settings = jobs::SchedulerSettings {
            segments: "* * * * * *".into(),
            reload_every: std::time::Duration::from_millis(500),
            ..Default::default()
        };
        let segment_runs = || async {
            use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
            entity::job_run::Entity::find()
                .filter(entity::job_run::Column::Name.eq("segments"))
                .count(&app.db)
                .await
                .unwrap()
        };
        let scheduler = jobs::Scheduler::start(app.job_context(), &settings).await.unwrap();
        let mut waited = 0;
        while segment_runs().await == 0 && waited < 50 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            waited += 1;
        }
        assert!(segment_runs().await >= 1, "the scheduler runs the configured schedule");
        // …is told to run it daily at 09:00 Shanghai time (01:00 UTC).
        let changed = app
            .admin_ok(update, json!({ "name": "segments", "schedule": "0 0 9 * * *", "zone": "Asia/Shanghai" }))
            .await;
        assert_eq!(changed["updateJobSchedule"]["schedule"], "0 0 9 * * *");
        assert_eq!(changed["updateJobSchedule"]["timeZone"], "Asia/Shanghai");
        let next = changed["updateJobSchedule"]["nextRunAt"].as_str().unwrap();
        assert!(next.ends_with("T01:00:00+00:00"), "{next}");
        let listed = app.admin_ok("{ jobs { name schedule timeZone } }", json!({})).await;
        let segments = listed["jobs"].as_array().unwrap().iter().find(|j| j["name"] == "segments").unwrap().clone();
        assert_eq!(segments, json!({ "name": "segments", "schedule": "0 0 9 * * *", "timeZone": "Asia/Shanghai" }));
        // Once the scheduler has reloaded, the every-second job is gone.
        tokio::time::sleep(std::time::Duration::from_millis(2000)).await;
        let settled = segment_runs().await;
        tokio::time::sleep(std::time::Duration::from_millis(3000)).await;
        scheduler.shutdown().await.unwrap();
        assert_eq!(segment_runs().await, settled, "the old schedule no longer fires");
    })
    .await;
}

/// A worker killed mid-run (SIGKILL: nothing recorded its end) leaves its run `RUNNING`
/// only until its heartbeat expires; then any scheduler closes it as `ABANDONED`, and
/// `jobRuns` says so. Runs that are alive or that ended are left alone.
#[tokio::test]
async fn a_killed_workers_run_is_closed_as_abandoned_once_its_heartbeat_expires() {
    on_each_database(|app| async move {
        use jobs::{
            JobName, JobParams,
            runs::{HEARTBEAT_LEASE, begin, close_abandoned, run},
        };
        let app = app;
        let context = app.job_context();
        // The killed worker: it began a run and died before recording its end.
        let killed = begin(&context, JobName::Segments, &JobParams::default())
            .await
            .unwrap();
        // Another run that ended normally.
        let ended = run(&context, JobName::Segments, JobParams::default())
            .await
            .unwrap();
        let started = Utc::now();

        // Within its heartbeat the run may still be going: left alone.
        assert_eq!(close_abandoned(&app.db, started).await.unwrap(), 0);
        let runs = "{ jobRuns(name: \"segments\") { nodes { id status finishedAt error } } }";
        let status = |nodes: &serde_json::Value, id: i64| {
            nodes["jobRuns"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|n| n["id"].as_str() == Some(id.to_string().as_str()))
                .unwrap_or_else(|| panic!("run {id} listed"))
                .clone()
        };
        let listed = app.admin_ok(runs, serde_json::json!({})).await;
        assert_eq!(status(&listed, killed.id)["status"], "RUNNING");

        // Once the heartbeat has expired, the run is closed, once.
        let later = started + HEARTBEAT_LEASE + Duration::seconds(1);
        assert_eq!(close_abandoned(&app.db, later).await.unwrap(), 1);
        assert_eq!(close_abandoned(&app.db, later).await.unwrap(), 0);
        let listed = app.admin_ok(runs, serde_json::json!({})).await;
        let abandoned = status(&listed, killed.id);
        assert_eq!(abandoned["status"], "ABANDONED", "{abandoned}");
        assert!(abandoned["finishedAt"].is_string(), "{abandoned}");
        assert!(
            abandoned["error"].as_str().unwrap().contains("heartbeat"),
            "{abandoned}"
        );
        assert_eq!(status(&listed, ended.id)["status"], "SUCCEEDED");
    })
    .await;
}

/// A worker killed while it runs a job holds that job only until its tick lease lapses:
/// the lease is renewed by the run's heartbeat, which dies with the process, so another
/// worker runs the job at the first tick after — seconds later here (a 3-second lease,
/// renewed every second), two minutes by default. While the run was alive, the renewed
/// lease kept the next ticks off it however long it took.
///
/// PostgreSQL only: the run is held mid-way by a lock on the table it reads first, which
/// on SQLite (one writer) would stop the lease renewals too.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_holders_job_runs_on_another_worker_once_its_lease_lapses() {
    use entity::job_run::{self, JobStatus};
    use sea_orm::{
        ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
    };

    let Some(url) = crate::helpers::postgres_for("scheduler::a_killed_holders_job_runs_…") else {
        return;
    };
    let app = crate::helpers::spawn_app(crate::helpers::Backend::Postgres(url)).await;
    let segment_runs = || async {
        job_run::Entity::find()
            .filter(job_run::Column::Name.eq("segments"))
            .order_by_asc(job_run::Column::StartedAt)
            .all(&app.db)
            .await
            .unwrap()
    };
    let lease = || async {
        let row = app
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                app.db.get_database_backend(),
                "SELECT holder, tick_at, expires_at FROM job_leases WHERE name = 'segments'",
            ))
            .await
            .unwrap()
            .expect("the segments lease row");
        let holder: String = row.try_get("", "holder").unwrap();
        let pid: u32 = holder.rsplit(':').nth(1).unwrap().parse().unwrap();
        let tick: chrono::DateTime<Utc> = row.try_get("", "tick_at").unwrap();
        let expires: chrono::DateTime<Utc> = row.try_get("", "expires_at").unwrap();
        (pid, tick, expires)
    };

    // The `segments` job's first statement waits on this lock: a run that lasts.
    let blocker = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let lock = blocker.begin().await.unwrap();
    lock.execute_unprepared("LOCK TABLE segments IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let fleet = crate::processes::Fleet::new(
        &app.database_url,
        "",
        &[
            ("SEGMENTS_SCHEDULE", "* * * * * *"),
            ("SCHEDULER_HEARTBEAT_SECONDS", "1"),
            ("SCHEDULER_LEASE_SECONDS", "3"),
        ],
    );
    let mut workers = [fleet.worker("worker-1"), fleet.worker("worker-2")];
    let mut waited = 0;
    while segment_runs().await.is_empty() {
        assert!(waited < 300, "no segments run started");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    let (pid, tick, first_expiry) = lease().await;
    let holder = workers
        .iter()
        .position(|w| w.pid() == pid)
        .expect("a worker holds the lease");

    // Twice the lease's length later the run is still going, alone: its lease was renewed.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let runs = segment_runs().await;
    assert_eq!(runs.len(), 1, "a live run is not overlapped: {runs:?}");
    assert_eq!(runs[0].status, JobStatus::Running);
    let (same_pid, same_tick, renewed) = lease().await;
    assert_eq!((same_pid, same_tick), (pid, tick));
    assert!(
        renewed > first_expiry + Duration::seconds(4),
        "{renewed} vs {first_expiry}"
    );

    workers[holder].kill();
    let killed_at = workers[holder].killed_at.unwrap();
    lock.rollback().await.unwrap();

    // The other worker runs the job at a tick after the lease lapsed, within seconds.
    let mut waited = 0;
    let taken_over = loop {
        let runs = segment_runs().await;
        if let Some(run) = runs
            .iter()
            .find(|r| r.id != runs[0].id && r.status == JobStatus::Succeeded)
        {
            break run.clone();
        }
        assert!(waited < 150, "no other worker took the job over: {runs:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    };
    assert!(taken_over.started_at > killed_at, "{taken_over:?}");
    assert!(
        taken_over.started_at < killed_at + Duration::seconds(8),
        "taken over within the lease and a tick: {taken_over:?} (killed at {killed_at})"
    );
    let (new_pid, new_tick, _) = lease().await;
    assert_eq!(new_pid, workers[1 - holder].pid());
    assert!(new_tick > tick);

    // The killed run is closed as ABANDONED; no tick ran twice.
    let mut waited = 0;
    loop {
        let runs = segment_runs().await;
        if runs[0].status == JobStatus::Abandoned {
            let ticks: std::collections::BTreeSet<i64> =
                runs.iter().map(|r| r.started_at.timestamp()).collect();
            assert_eq!(ticks.len(), runs.len(), "a tick ran twice: {runs:?}");
            break;
        }
        assert!(waited < 150, "the killed run stays {:?}", runs[0].status);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
}
