//! Scheduled ticks across processes: the lease rows that make each tick run once when
//! several `serve` / `worker` processes share a database, and recover from a crashed
//! holder.

use chrono::{Duration, DurationRound, Utc};

use crate::helpers::on_each_database;

#[tokio::test]
async fn each_tick_runs_once_and_a_crashed_holder_loses_its_lease() {
    on_each_database(|app| async move {
        use jobs::leases::{LEASE, acquire, release};
        // Bind the whole app: the block would otherwise capture only `app.db` and drop
        // the rest — the temporary SQLite directory with it.
        let app = app;
        let db = &app.db;
        let tick = Utc::now().duration_trunc(Duration::hours(1)).unwrap();
        let at = |offset: Duration| tick + offset;

        // Two processes see the same tick: one runs it.
        assert!(
            acquire(db, "segments", "a", tick, at(Duration::milliseconds(5)))
                .await
                .unwrap()
        );
        assert!(
            !acquire(db, "segments", "b", tick, at(Duration::milliseconds(900)))
                .await
                .unwrap()
        );
        release(db, "segments", "a", tick, at(Duration::seconds(3)))
            .await
            .unwrap();
        assert!(
            !acquire(db, "segments", "b", tick, at(Duration::seconds(4)))
                .await
                .unwrap(),
            "a finished tick does not run again"
        );
        // Other jobs have leases of their own.
        assert!(
            acquire(db, "lifecycle", "b", tick, at(Duration::seconds(1)))
                .await
                .unwrap()
        );

        // The next tick: b takes it and crashes (never releases).
        let next = tick + Duration::hours(1);
        assert!(acquire(db, "segments", "b", next, next).await.unwrap());
        let later = next + Duration::minutes(10);
        assert!(
            !acquire(db, "segments", "a", later, later).await.unwrap(),
            "the crashed run's lease is live"
        );
        let expired = next + LEASE + Duration::minutes(1);
        assert!(
            acquire(db, "segments", "a", expired, expired)
                .await
                .unwrap(),
            "an expired lease is lost"
        );

        // Many processes racing for one tick: exactly one wins.
        let race = expired + Duration::hours(1);
        let attempts = (0..8).map(|i| {
            let db = db.clone();
            async move {
                acquire(&db, "value-scores", &format!("p{i}"), race, race)
                    .await
                    .unwrap()
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
