//! The process's Prometheus recorder. A process has one recorder; a second server built in the
//! same process (tests) renders the same metrics rather than failing to install its own.

use std::sync::Mutex;

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

pub fn install() -> Result<PrometheusHandle, BuildError> {
    let mut slot = HANDLE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(handle) = slot.as_ref() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_duration_seconds".into()),
            crate::observe::LATENCY_BUCKETS,
        )?
        .install_recorder()?;
    *slot = Some(handle.clone());
    Ok(handle)
}
