//! The HTTP server: device endpoints (check-in and command channel), enrollment, the admin API,
//! health.

pub mod admin;
pub mod console;
pub mod device;
pub mod enroll;
mod health;
pub mod limits;
pub mod listener;
pub mod refusal;
pub mod scep;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, put};
use axum::Router;

use crate::secrets::DataKey;
use crate::service::enrollments::Enrollments;
use crate::store::EventStore;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn EventStore>,
    pub enrollments: Arc<Enrollments>,
    pub device_auth: Arc<device::identity::DeviceAuth>,
    pub data_key: Arc<DataKey>,
    pub admin: Arc<admin::AdminAuth>,
    pub scep: Arc<crate::service::scep::ScepService>,
    pub projector: Arc<crate::readmodel::projector::Projector>,
    /// Enrollment profiles (`GET /enroll`, the OTA profile service).
    pub enroll: Arc<enroll::EnrollConfig>,
    /// Turns true when the server starts shutting down.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    pub push: Arc<crate::push::PushService>,
    /// Renders /metrics (None: metrics are not recorded in this process).
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Certificate expiry and the readiness threshold, for /metrics and /readyz.
    pub observer: Arc<crate::observe::Observer>,
    /// Device groups and admin tags.
    pub groups: Arc<crate::service::groups::Groups>,
    /// Declarative Device Management: the declaration catalog and device sets.
    pub declarations: Arc<crate::service::declarations::Declarations>,
}

impl AppState {
    /// The read models, through their one query facade.
    pub fn queries(&self) -> crate::readmodel::Queries<'_> {
        crate::readmodel::Queries::new(&self.projector, self.store.as_ref())
    }

    /// The commands use case over this server's enrollments, data key and push worker.
    pub fn commands(&self) -> crate::service::commands::Commands<'_> {
        crate::service::commands::Commands::new(&self.enrollments, &self.data_key, &self.push)
            .with_targeting(&self.groups, Box::new(self.queries()))
    }
}

/// The gauges read the log, the read models and the certificates, not the whole state.
impl<'a> From<&'a AppState> for crate::observe::gauges::Sources<'a> {
    fn from(app: &'a AppState) -> Self {
        Self {
            store: app.store.as_ref(),
            queries: app.queries(),
            observer: &app.observer,
            push: &app.push,
        }
    }
}

/// What a 503 for an unavailable event store asks a client to wait before trying again
/// (`Retry-After`, seconds): long enough not to hammer a store that is restarting, short
/// enough that a device's next attempt finds it back soon after it is.
pub const RETRY_AFTER_SECONDS: &str = "5";

/// Every 503 (device, SCEP, enrollment and admin answers alike) tells the client when to try
/// again; one layer, so no handler can forget it.
async fn retry_after(mut response: axum::response::Response) -> axum::response::Response {
    if response.status() == axum::http::StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .entry(axum::http::header::RETRY_AFTER)
            .or_insert(axum::http::HeaderValue::from_static(RETRY_AFTER_SECONDS));
    }
    response
}

/// Default body limit: real InstalledApplicationList and CertificateList answers run to
/// several MiB.
pub const DEFAULT_MAX_BODY: usize = 64 << 20;

/// A PKIMessage is a few KiB (a CSR, two certificates); 1 MiB leaves room and no more.
pub const SCEP_MAX_BODY: usize = 1 << 20;

/// Every route. Device requests read their own bodies, bounded by `sizes` according to the
/// identity their headers prove; every request body is bounded in time by `pace`.
pub fn router(state: AppState, sizes: limits::BodySizes, pace: limits::BodyPace) -> Router {
    let max_body = sizes.identified;
    let device = put(device::handle).layer(axum::Extension(sizes));
    Router::new()
        .route("/", get(console::root))
        .route("/healthz", get(health::healthz))
        .route("/version", get(health::version))
        .route("/readyz", get(health::readyz))
        .route("/mdm", device.clone())
        .route("/checkin", device.clone())
        .route("/connect", device)
        .route("/ddm/data/{sha256}", get(device::ddm_data::fetch))
        .route(
            "/scep",
            get(scep::get)
                .post(scep::post)
                .layer(DefaultBodyLimit::max(SCEP_MAX_BODY)),
        )
        .route(
            "/enroll",
            get(enroll::profile)
                .post(enroll::ade::machine_info)
                .layer(DefaultBodyLimit::max(enroll::ade::MAX_BODY)),
        )
        .route(
            "/enroll/ota",
            get(enroll::ota::profile_service)
                .post(enroll::ota::attributes)
                .layer(DefaultBodyLimit::max(enroll::ota::MAX_BODY)),
        )
        .merge(admin::routes(max_body))
        .merge(console::routes())
        // Inside the pace layer: a refused body is drained under the same time bounds.
        .layer(axum::middleware::from_fn(refusal::drain_refused))
        .layer(axum::middleware::from_fn_with_state(pace, limits::timed_bodies))
        .layer(axum::middleware::map_response(retry_after))
        .layer(axum::middleware::from_fn(crate::observe::http::track))
        .with_state(state)
}
