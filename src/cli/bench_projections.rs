//! `annal bench projections`: rebuild speed of the read models from a generated fleet log in a
//! fresh store of each backend.

use std::process::ExitCode;
use std::sync::Arc;

use annal::readmodel::{PostgresReadModels, ReadModelDb, SqliteReadModels};
use annal::store::{url_with_new_schema, EventStore, PostgresStore, SqliteStore};
use annal::testkit::bench::projections::{measure, RebuildRow};
use annal_projections::synthetic::FleetSpec;
use anyhow::Context;
use indicatif::MultiProgress;
use serde::Serialize;

use super::bench::{bar, Backend, Cleanup, Targets};

#[derive(Debug, clap::Args)]
pub struct ProjectionsBenchArgs {
    #[command(flatten)]
    pub target: Targets,
    /// Devices in the generated fleet.
    #[arg(long, default_value_t = 10_000)]
    pub devices: u64,
    /// Rounds of activity (each device does one thing per round).
    #[arg(long, default_value_t = 20)]
    pub rounds: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Row {
    backend: Backend,
    #[serde(flatten)]
    row: RebuildRow,
}

pub async fn run(global: &super::Global, args: ProjectionsBenchArgs) -> anyhow::Result<ExitCode> {
    let bars = MultiProgress::new();
    if args.json {
        bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let spec = FleetSpec {
        devices: args.devices,
        rounds: args.rounds,
        seed: 7,
    };
    let mut rows = Vec::new();
    for backend in &args.target.backends {
        let run_id = uuid::Uuid::now_v7().simple().to_string();
        let (store, db, cleanup): (Arc<dyn EventStore>, Arc<dyn ReadModelDb>, Cleanup) = match backend {
            Backend::Sqlite => {
                let dir = global.data_dir.join(format!("bench-{run_id}"));
                let store = SqliteStore::open(dir.join("bench.db"))?;
                let db = SqliteReadModels::open(&dir.join("bench.readmodels.db"))?;
                (Arc::new(store), Arc::new(db), Cleanup::Dir(dir))
            }
            Backend::Postgres => {
                let schema = format!("annal_bench_{run_id}");
                let url = url_with_new_schema(&args.target.postgres_url, &schema)
                    .await
                    .context("connecting to PostgreSQL (set --postgres-url)")?;
                let store = PostgresStore::connect(&url).await?;
                let db = PostgresReadModels::connect(&url).await?;
                (Arc::new(store), Arc::new(db), Cleanup::Schema(schema))
            }
        };
        let load_bar = bar(&bars, 0, &format!("{backend:?} loading the fleet log"));
        let fold_bar = bar(&bars, 0, &format!("{backend:?} rebuilding"));
        let load_progress = {
            let b = load_bar.clone();
            Arc::new(move |n| b.set_position(n)) as Arc<dyn Fn(u64) + Send + Sync>
        };
        let row = measure(store.clone(), db.as_ref(), &spec, load_progress, |n| {
            fold_bar.set_position(n)
        })
        .await?;
        load_bar.finish_and_clear();
        fold_bar.finish_and_clear();
        rows.push(Row { backend: *backend, row });
        drop((store, db));
        cleanup.run(&args.target.postgres_url).await;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!("| backend | devices | events | read+fold s | events/s | fold only events/s | documents | write s |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        for r in &rows {
            let x = &r.row;
            println!(
                "| {:?} | {} | {} | {:.2} | {:.0} | {:.0} | {} | {:.2} |",
                r.backend,
                x.devices,
                x.events,
                x.rebuild.read_and_fold_seconds,
                x.events_per_sec,
                x.fold_events_per_sec,
                x.rebuild.documents,
                x.rebuild.write_seconds
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
