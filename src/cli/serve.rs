//! `annal serve`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use annal::http::admin::AdminAuth;
use annal::http::device::identity::DeviceAuth;
use annal::http::enroll::EnrollConfig;
use annal::http::listener::{CappedAddr, CappedListener};
use annal::http::{router, AppState, DEFAULT_MAX_BODY};
use annal::observe::Observer;
use annal::pki::apple::AppleDeviceCa;
use annal::pki::profile::{check_base_url, check_topic};
use annal::pki::{Ca, TrustAnchors};
use annal::push::PushService;
use annal::service::api_keys::ApiKeys;
use annal::service::enrollments::Enrollments;
use annal::service::projector::Projector;
use annal::service::scep::ScepService;
use anyhow::Context;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReenrollmentArg {
    Guarded,
    Allow,
}

impl ReenrollmentArg {
    fn policy(self) -> annal::domain::enrollment::Reenrollment {
        match self {
            Self::Guarded => annal::domain::enrollment::Reenrollment::Guarded,
            Self::Allow => annal::domain::enrollment::Reenrollment::Allow,
        }
    }
}

/// How long in-flight requests get to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ANNAL_LISTEN", default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Serve plain HTTP, for a TLS-terminating proxy in front. Client certificates end at the
    /// proxy, so devices must then sign their requests (Mdm-Signature).
    #[arg(long, env = "ANNAL_BEHIND_PROXY")]
    pub behind_proxy: bool,
    /// Server certificate chain (PEM). Default: issued by Annal's CA into <data-dir>/tls/.
    #[arg(long, env = "ANNAL_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long, env = "ANNAL_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Names for the default server certificate.
    #[arg(
        long = "hostname",
        env = "ANNAL_HOSTNAMES",
        value_delimiter = ',',
        default_value = "localhost,127.0.0.1"
    )]
    pub hostnames: Vec<String>,
    /// Another CA whose certificates are accepted as device identities (PEM).
    #[arg(long, env = "ANNAL_EXTERNAL_CA")]
    pub external_ca: Option<PathBuf>,
    /// A device CA accepted besides Apple iPhone Device CA for the device-signed answer of
    /// over-the-air enrollment (phase 2): PEM, the device CA first, then its chain up to a
    /// self-signed root. For labs and tests with simulated devices; real devices need none.
    #[arg(long, env = "ANNAL_OTA_DEVICE_CA")]
    pub ota_device_ca: Option<PathBuf>,
    /// The key that seals secrets in events; every node of one log needs the same file.
    /// Default: <data-dir>/secrets.key, created on first start.
    #[arg(long, env = "ANNAL_DATA_KEY_FILE")]
    pub data_key_file: Option<PathBuf>,
    /// The admin API key. Default: read from (or generated into) <data-dir>/admin-api-key.
    #[arg(long, env = "ANNAL_ADMIN_API_KEY", hide_env_values = true)]
    pub admin_api_key: Option<String>,
    /// Largest request body accepted, in bytes, from a client whose identity verified (a
    /// device's certificate or Mdm-Signature signer, an API key); see
    /// --unidentified-max-body-bytes for the rest.
    #[arg(long, env = "ANNAL_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY)]
    pub max_body_bytes: usize,
    /// DEVELOPMENT ONLY: accept device requests that carry no identity at all.
    #[arg(long, env = "ANNAL_INSECURE_ACCEPT_UNSIGNED_DEVICES")]
    pub insecure_accept_unsigned_devices: bool,
    /// `guarded`: a device enrolled under one identity re-enrolls under another only after its
    /// enrollment ended (CheckOut, an acknowledged EraseDevice, `annal devices forget`) or with
    /// a SCEP challenge an admin bound to it. `allow`: any Authenticate takes the enrollment
    /// over, as in NanoMDM (anyone with an enrollment token can then take over a device).
    #[arg(long, env = "ANNAL_REENROLLMENT", value_enum, default_value_t = ReenrollmentArg::Guarded)]
    pub reenrollment: ReenrollmentArg,
    /// How often the TLS certificate and key files are checked for a change and reloaded, in
    /// seconds (0: only on SIGHUP). A pair that does not load is refused and the current one kept.
    #[arg(long, env = "ANNAL_TLS_RELOAD_INTERVAL_SECS", default_value_t = 60)]
    pub tls_reload_interval_secs: u64,
    /// /readyz answers 503 while the read models trail the log by more than this many events.
    #[arg(long, env = "ANNAL_READY_MAX_LAG", default_value_t = 10_000)]
    pub ready_max_lag: u64,
    #[command(flatten)]
    pub webhook: super::webhook_args::WebhookArgs,
    #[command(flatten)]
    pub nats: super::nats_args::NatsArgs,
    #[command(flatten)]
    pub push: super::push_args::PushArgs,
    #[command(flatten)]
    pub enroll: super::enroll_args::EnrollArgs,
    #[command(flatten)]
    pub limits: super::limits_args::LimitsArgs,
}

pub async fn run(global: &super::Global, args: ServeArgs) -> anyhow::Result<ExitCode> {
    super::config::validate::relations(&args)?;
    // Before any of them is read: a key others could read is a key others may have.
    super::key_files::check_all(global, &args)?;
    for name in super::config::validate::unknown_env(&<super::Cli as clap::CommandFactory>::command()) {
        tracing::warn!(%name, "an ANNAL_* environment variable is set that no option reads");
    }
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Suffix("_duration_seconds".into()),
            annal::observe::LATENCY_BUCKETS,
        )?
        .install_recorder()
        .context("installing the metrics recorder")?;
    let url = global.store_url()?;
    let writes = Arc::new(annal::observe::writes::WriteHealth::default());
    let store = annal::observe::store::MeteredStore::wrap(global.open_or_create_store().await?, writes.clone());
    let head = store.head().await?;
    let ca = Arc::new(Ca::load_or_init(&global.data_dir.join("ca")).context("loading Annal's CA")?);
    // One static challenge serves both ends: the profile carries it and /scep accepts it.
    let static_challenge = args.enroll.challenge()?;
    let mut anchors = vec![ca.cert_der().to_vec()];
    if let Some(path) = &args.external_ca {
        anchors.extend(
            TrustAnchors::from_pem_file(path)
                .context("loading the external CA")?
                .cert_ders()
                .map(<[u8]>::to_vec),
        );
    }
    let annal_issuer = annal::pki::certificate_info(ca.cert_der())?.subject;
    if args.insecure_accept_unsigned_devices {
        tracing::error!("INSECURE: device requests without any identity are accepted (--insecure-accept-unsigned-devices); never use this in production");
    }
    let data_key = super::data_key::load(global, args.data_key_file.clone(), head.position)?;
    let admin_key = match &args.admin_api_key {
        Some(k) => k.clone(),
        None => super::admin_key::load_or_init(&global.data_dir.join("admin-api-key"))?,
    };
    let readmodels = annal::readmodel::open(&url, &global.data_dir)
        .await
        .context("opening the read-model database")?;
    let data_key = Arc::new(data_key);
    let webhook_config = args.webhook.config()?;
    let webhook = match webhook_config {
        Some(config) => Some(
            annal::stream::webhook::spawn(store.clone(), readmodels.clone(), data_key.clone(), config)
                .context("starting webhooks")?,
        ),
        None => None,
    };
    let nats = match args.nats.config()? {
        Some(config) => Some(
            annal::stream::nats::spawn(store.clone(), readmodels.clone(), config).context("starting the NATS sink")?,
        ),
        None => None,
    };
    let projector = Projector::start(store.clone(), readmodels)
        .await
        .context("restoring the read models")?;
    // Long-lived responses (SSE streams) end when shutdown starts, so they do not hold it up.
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        stopping_tx.send_replace(true);
    });
    let enrollments = Arc::new(Enrollments::new(store.clone()).with_reenrollment(args.reenrollment.policy()));
    if args.reenrollment == ReenrollmentArg::Allow {
        tracing::warn!("RISK: --reenrollment allow: any Authenticate replaces a device's enrollment, so a holder of any enrollment token can take over an enrolled device (its queued commands, PINs included)");
    }
    let push = PushService::new(
        store.clone(),
        enrollments.clone(),
        data_key.clone(),
        args.push.settings()?,
    );
    match push.refresh_certificate().await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            "no push certificate is installed: commands wait until devices poll (annal push-cert install)"
        ),
        Err(e) => tracing::error!(error = %e, "the installed push certificate cannot be used"),
    }
    push.start(projector.clone(), stopping.clone());
    let enroll = enroll_config(&global.data_dir, &ca, &args, static_challenge.clone())?;
    let ca_not_after = annal::pki::certificate_info(ca.cert_der())?.not_after;
    let observer = Arc::new(Observer::new(Some(ca_not_after), args.ready_max_lag, writes));
    let state = AppState {
        observer: observer.clone(),
        enroll,
        stopping: stopping.clone(),
        projector: projector.clone(),
        store: store.clone(),
        enrollments,
        push,
        metrics: Some(metrics),
        device_auth: Arc::new(DeviceAuth::new(
            TrustAnchors::new(anchors.clone())?,
            annal_issuer,
            args.insecure_accept_unsigned_devices,
        )),
        data_key,
        admin: Arc::new(AdminAuth::new(&admin_key, Arc::new(ApiKeys::new(store.clone()))).map_err(anyhow::Error::msg)?),
        scep: Arc::new(ScepService::new(store.clone(), ca.clone(), static_challenge)?),
    };
    let app = router(state, args.limits.sizes(args.max_body_bytes), args.limits.pace());
    super::limits_args::fit_open_files(args.limits.max_connections);
    let listener = CappedListener::bind(args.listen, args.limits.max_connections)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let local = listener.local_addr()?;
    let handle = axum_server::Handle::<CappedAddr>::new();
    let shutdown = handle.clone();
    let mut stopped = stopping.clone();
    // Connections get SHUTDOWN_GRACE after SIGTERM, not forever: a client that never finishes
    // its request must not keep the checkpoints from being saved.
    tokio::spawn(async move {
        let _ = stopped.wait_for(|s| *s).await;
        shutdown.graceful_shutdown(Some(SHUTDOWN_GRACE));
    });
    let mut server = axum_server::Server::<CappedAddr>::from_listener(listener)
        .handle(handle)
        // Protocol detection and an HTTP/2 preface are bounded too, not only HTTP/1 headers.
        .first_request_timeout(args.limits.header_read_timeout());
    // hyper's header timeout also runs while a keep-alive connection waits for its next request.
    server
        .http_builder()
        .http1()
        .header_read_timeout(args.limits.header_read_timeout());
    // HTTP/2 has no header timeout in hyper: pings at least drop peers that went away, and the
    // connection cap bounds the rest.
    if let Some(timeout) = args.limits.header_read_timeout() {
        server
            .http_builder()
            .http2()
            .keep_alive_interval(timeout)
            .keep_alive_timeout(timeout);
    }
    if args.behind_proxy {
        tracing::info!(listen = %local, store = %url, head_position = head.position, "annal serving plain HTTP (behind a proxy)");
        super::tls_reload::ignore_hangup(stopping.clone());
        server.serve(app.into_make_service()).await?;
    } else {
        let files = super::tls::serve_files(&global.data_dir, &ca, &args)?;
        let (tls, info) = super::tls::server_config(&files.cert, &files.key, &anchors)?;
        observer.set_tls_not_after(info.not_after);
        let config = axum_server::tls_rustls::RustlsConfig::from_config(tls);
        let reloader = super::tls_reload::TlsReloader {
            cert: files.cert,
            key: files.key,
            anchors,
            config: config.clone(),
            observer,
        };
        let interval = (args.tls_reload_interval_secs > 0).then(|| Duration::from_secs(args.tls_reload_interval_secs));
        reloader.spawn(interval, stopping.clone());
        let mut acceptor = axum_server::tls_rustls::RustlsAcceptor::new(config);
        if let Some(timeout) = args.limits.header_read_timeout() {
            acceptor = acceptor.handshake_timeout(timeout);
        }
        tracing::info!(listen = %local, store = %url, head_position = head.position, "annal serving HTTPS");
        server.acceptor(acceptor).serve(app.into_make_service()).await?;
    }
    tracing::info!("requests finished; saving subscription checkpoints");
    if let Some(webhook) = webhook {
        // Finishes the delivery in flight and saves the checkpoint.
        webhook.shutdown().await;
    }
    if let Some(nats) = nats {
        // Waits for the publish in flight to be acknowledged and saves the checkpoint.
        nats.shutdown().await;
    }
    if tokio::time::timeout(SHUTDOWN_GRACE, projector.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("the read models could not be saved in time; the next start refolds from their last checkpoint");
    }
    tracing::info!("annal stopped");
    Ok(ExitCode::SUCCESS)
}

/// Enrollment profiles are signed with the server's TLS identity and point devices at
/// --base-url (default https://<first hostname>:<port>); their topic is --topic, else the
/// installed push certificate's, read when a profile is served.
fn enroll_config(
    data_dir: &std::path::Path,
    ca: &Ca,
    args: &ServeArgs,
    static_challenge: Option<String>,
) -> anyhow::Result<Arc<EnrollConfig>> {
    let base_url = match &args.enroll.base_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let host = args.hostnames.first().map_or("localhost", String::as_str);
            format!("https://{host}:{}", args.listen.port())
        }
    };
    check_base_url(&base_url)?;
    if let Some(topic) = &args.enroll.topic {
        check_topic(topic)?;
    }
    let files = super::tls::serve_files(data_dir, ca, args)?;
    let signer = super::tls::profile_signer(&files.cert, &files.key)?;
    tracing::info!(%base_url, "serving enrollment profiles at /enroll");
    let extra_device_ca = match &args.ota_device_ca {
        Some(path) => {
            let pem = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let cas = AppleDeviceCa::from_pem_bundle(&pem).with_context(|| format!("{}", path.display()))?;
            tracing::info!(path = %path.display(), device_ca = %cas.chain_names(), "OTA phase 2 also accepts this device CA");
            Some(cas)
        }
        None => None,
    };
    let device_cas = AppleDeviceCa::apple_with(extra_device_ca).context("Apple's device CA")?;
    Ok(Arc::new(EnrollConfig {
        base_url,
        device_cas,
        topic: args.enroll.topic.clone(),
        static_challenge,
        ca_cert_der: ca.cert_der().to_vec(),
        organization: args.enroll.organization.clone(),
        signer,
    }))
}

pub fn split_hostnames(names: &[String]) -> (Vec<String>, Vec<IpAddr>) {
    let (ips, dns): (Vec<&String>, Vec<&String>) = names.iter().partition(|n| n.parse::<IpAddr>().is_ok());
    (
        dns.into_iter().cloned().collect(),
        ips.into_iter().filter_map(|n| n.parse().ok()).collect(),
    )
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return ctrl_c.await.unwrap_or(()),
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
