//! Structured logs on stderr: human text by default, JSON lines for log pipelines.

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn init(global: &super::Global) {
    let filter = EnvFilter::try_from_env("ANNAL_LOG").unwrap_or_else(|_| EnvFilter::new("info,tokio_postgres=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match global.log_format {
        Format::Text => builder.init(),
        Format::Json => builder.json().init(),
    }
}
