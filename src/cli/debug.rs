//! Hidden helpers for tests that need appenders in other processes, and a stand-alone mock APNs
//! for rehearsing the push runbooks on a machine that cannot reach Apple.

use std::io::Write;
use std::process::ExitCode;

use annal::store::ExpectedVersion;
use annal::testkit::bench::store::sample_event;

#[derive(Debug, clap::Subcommand)]
pub enum DebugCommand {
    /// Append from several tasks and print `committed <event id> <position>` for every event
    /// the store acknowledged, flushed before the next append: a line on stdout means the event
    /// was reported durable.
    AppendLoop {
        #[arg(long, default_value_t = 8)]
        writers: usize,
        /// Appends per writer; 0 appends until killed.
        #[arg(long, default_value_t = 0)]
        appends: u64,
        #[arg(long, default_value_t = 1)]
        batch: u64,
        /// Prefix of the stream names (one stream per writer).
        #[arg(long, default_value = "loop")]
        stream_prefix: String,
    },
    /// Run the local HTTP/2 TLS mock of APNs until interrupted: prints its URL, writes its CA
    /// to <dir>/mock-ca.pem (for `serve --apns-ca-file`), answers every push with 200.
    MockApns {
        #[arg(long)]
        dir: std::path::PathBuf,
    },
}

pub async fn run(global: &super::Global, cmd: DebugCommand) -> anyhow::Result<ExitCode> {
    let (writers, appends, batch, stream_prefix) = match cmd {
        DebugCommand::AppendLoop {
            writers,
            appends,
            batch,
            stream_prefix,
        } => (writers, appends, batch, stream_prefix),
        DebugCommand::MockApns { dir } => return mock_apns(&dir).await,
    };
    let store = global.open_or_create_store().await?;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let stream = format!("{stream_prefix}-{w}");
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while appends == 0 || i < appends {
                let events: Vec<_> = (0..batch).map(|k| sample_event(i * batch + k)).collect();
                let ids: Vec<_> = events.iter().map(|e| e.event_id).collect();
                let result = store.append(&stream, ExpectedVersion::Any, events).await?;
                let mut out = std::io::stdout().lock();
                for (k, id) in ids.iter().enumerate() {
                    writeln!(out, "committed {id} {}", result.first_position + k as u64)?;
                }
                out.flush()?;
                i += 1;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(ExitCode::SUCCESS)
}

async fn mock_apns(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let mock = annal::testkit::apns_mock::MockApns::start(&dir.join("mock-ca"), false).await?;
    let ca = dir.join("mock-ca.pem");
    std::fs::write(&ca, &mock.ca_pem)?;
    println!("mock APNs at {} (CA: {})", mock.base_url(), ca.display());
    tokio::signal::ctrl_c().await?;
    println!("{} pushes answered", mock.count());
    Ok(ExitCode::SUCCESS)
}
