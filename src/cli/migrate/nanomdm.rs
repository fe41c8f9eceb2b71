//! `annal migrate from-nanomdm`: read a NanoMDM deployment, replay it into Annal's log as
//! imported events, report what was done (or, with --dry-run, what would be).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use annal::store::StoreUrl;
use annal::transfer::nanomdm::{self, Counts, Source};
use anyhow::Context;
use chrono::Utc;
use serde_json::json;

/// Import a NanoMDM deployment: its devices keep working against Annal without enrolling again.
///
/// Reads NanoMDM's PostgreSQL or MySQL database (read-only, in one snapshot) or its file store
/// (stop NanoMDM first) and writes, into Annal's log, what its devices and admins did there,
/// replayed through Annal's own device path and marked as imported (actor `import:nanomdm …`,
/// identity proof `nanomdm-import`):
///
/// - each enabled device channel: its last Authenticate and TokenUpdate (push token, topic;
///   PushMagic and UnlockToken sealed with the data key), its escrowed BootstrapToken;
/// - each enabled user channel: its last TokenUpdate, under its device channel;
/// - each channel's queue in NanoMDM's order: commands waiting (or answered NotNow) stay
///   queued; answered ones are recorded with the device's answer; ones NanoMDM had cleared
///   are cancelled;
/// - each device's identity certificate, by the SHA-256 NanoMDM associated with it: claimed by
///   its enrollment, and trusted by Annal for exactly that certificate (never NanoMDM's CA).
///   Devices prove it with Mdm-Signature or as their TLS client certificate, as with NanoMDM.
///
/// Every row is read and checked before anything is written; then everything is written in one
/// atomic batch. An enrollment the log already holds is refused (or skipped with
/// --skip-existing). Start (or restart) `annal serve` afterwards: it loads the imported
/// identities when it starts. Install the push certificate with `annal push-cert install`.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct FromNanoMdmArgs {
    /// NanoMDM's database: `postgres://user@host/nanomdm` (add
    /// `?options=-c%20search_path%3D<schema>` for a schema other than public) or
    /// `mysql://user:password@host:3306/nanomdm`, or its file store: `file:/var/db/nanomdm`.
    #[arg(long, value_name = "URL")]
    pub source: String,
    /// Annal's store to import into (default: --store, or the configured store, or
    /// <data-dir>/annal.db). It may already hold other devices.
    #[arg(long, value_name = "STORE")]
    pub to: Option<StoreUrl>,
    /// The data key that seals the imported secrets (default: <data-dir>/secrets.key, made
    /// for an empty log). Use the server's.
    #[arg(long, value_name = "PATH")]
    pub data_key_file: Option<PathBuf>,
    /// Read, check and count everything; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Leave out enrollments the log already holds (and say so) instead of refusing.
    #[arg(long)]
    pub skip_existing: bool,
    /// Print the report as JSON on stdout (no progress bars).
    #[arg(long)]
    pub json: bool,
}

pub async fn run(global: &crate::cli::Global, args: FromNanoMdmArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let source: Source = args.source.parse()?;
    let to = match &args.to {
        Some(url) => url.clone(),
        None => global.store_url()?,
    };
    let spinner = crate::cli::progress::items_bar(0, "reading NanoMDM", "rows", args.json);
    let snapshot = nanomdm::read(&source).await?;
    spinner.finish_and_clear();
    // A wrong directory or database name reads as an empty NanoMDM: say so rather than import nothing.
    anyhow::ensure!(
        !snapshot.devices.is_empty(),
        "no NanoMDM devices found in {source}: is --source NanoMDM's store? nothing was imported"
    );
    let rows = snapshot.rows();
    let target = annal::store::open(&to)
        .await
        .with_context(|| format!("opening the target {to}"))?;
    let head = target.head().await?;
    let data_key = crate::cli::data_key::load(global, args.data_key_file.clone(), head.position)?;
    let plan = nanomdm::plan(&snapshot, &data_key, Utc::now())?;
    let bar = crate::cli::progress::items_bar(
        plan.channels.len() as u64,
        "checking the target",
        "enrollments",
        args.json,
    );
    let existing = nanomdm::existing(&plan, target.as_ref(), |n| bar.set_position(n)).await;
    bar.finish_and_clear();
    let existing = existing?;
    if !existing.is_empty() && !args.skip_existing {
        anyhow::bail!(
            "{} of NanoMDM's enrollments are already in {to} (first: {}): nothing was imported; \
             pass --skip-existing to import only the others",
            existing.len(),
            existing[0]
        );
    }
    let plan = nanomdm::without(plan, &existing);
    let report = Report::of(&plan, &existing, rows);
    if args.dry_run {
        report.print(args.json, None, &source, &to, started)?;
        return Ok(ExitCode::SUCCESS);
    }
    let actor = format!("{} by {}", nanomdm::ACTOR, crate::cli::actor::local_actor());
    // One atomic batch: a spinner, since there is nothing to count until it is committed.
    let bar = crate::cli::progress::items_bar(0, &format!("writing {} events", report.events), "", args.json);
    let written = nanomdm::write(&plan, target.as_ref(), &actor, Utc::now()).await;
    bar.finish_and_clear();
    let written = written?;
    report.print(args.json, Some(written), &source, &to, started)?;
    if !args.json && written.events > 0 {
        eprintln!(
            "Start (or restart) `annal serve` on this store: it trusts the imported identities from when it starts."
        );
        if !snapshot.push_topics.is_empty() {
            eprintln!(
                "NanoMDM's push certificate topic: {}; install that certificate with `annal push-cert install`.",
                snapshot.push_topics.join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What the import does, counted from the plan.
struct Report {
    rows: usize,
    devices: u64,
    users: u64,
    commands: Counts,
    events: u64,
    existing: Vec<String>,
    skipped: Vec<nanomdm::Skipped>,
}

impl Report {
    fn of(plan: &nanomdm::Plan, existing: &[String], rows: usize) -> Self {
        let mut commands = Counts::default();
        let (mut devices, mut users, mut events) = (0, 0, 0);
        for channel in &plan.channels {
            commands.add(channel.commands);
            let own: usize = channel.decisions.iter().map(Vec::len).sum();
            events += own as u64;
            if channel.parent.is_some() {
                users += 1;
            } else {
                devices += 1;
                // The identity's claim and its import record.
                events += 2;
            }
        }
        Self {
            rows,
            devices,
            users,
            commands,
            events,
            existing: existing.to_vec(),
            skipped: plan.skipped.clone(),
        }
    }

    fn print(
        &self,
        json: bool,
        written: Option<nanomdm::Written>,
        source: &Source,
        to: &StoreUrl,
        started: Instant,
    ) -> anyhow::Result<()> {
        let seconds = started.elapsed().as_secs_f64();
        let per_second = if seconds > 0.0 { self.rows as f64 / seconds } else { 0.0 };
        if json {
            let v = json!({
                "source": source.to_string(),
                "target": to.to_string(),
                "dry_run": written.is_none(),
                "rows_read": self.rows,
                "device_channels": self.devices,
                "user_channels": self.users,
                "commands": self.commands,
                "events": written.map_or(self.events, |w| w.events),
                "head": written.map(|w| format!("{}:{}", w.head.position, hex::encode(w.head.hash))),
                "already_in_log": self.existing,
                "skipped": self.skipped,
                "seconds": seconds,
                "rows_per_second": per_second,
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
            return Ok(());
        }
        let verb = if written.is_some() {
            "imported"
        } else {
            "would import (dry run)"
        };
        println!("{verb} from NanoMDM {source} into {to}:");
        println!("  device channels:  {}", self.devices);
        println!("  user channels:    {}", self.users);
        println!(
            "  commands:         {} queued, {} answered, {} cleared (cancelled)",
            self.commands.pending, self.commands.answered, self.commands.cleared
        );
        match written {
            Some(w) => println!(
                "  events written:   {} (head {}:{})",
                w.events,
                w.head.position,
                hex::encode(w.head.hash)
            ),
            None => println!("  events to write:  {}", self.events),
        }
        println!(
            "  rows read:        {} in {seconds:.2}s ({per_second:.0} rows/s)",
            self.rows
        );
        if !self.existing.is_empty() {
            println!("  already in the log, left out: {}", self.existing.join(", "));
        }
        for s in &self.skipped {
            println!("  not imported: {} {}: {}", s.table, s.id, s.reason);
        }
        Ok(())
    }
}
