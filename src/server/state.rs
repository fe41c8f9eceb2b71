//! Wiring: from a configuration to the application state and its router, in the order the
//! pieces need each other (the store first, then keys, read models, streams, push).

use std::sync::Arc;

use tokio::sync::watch;

use crate::config::{Reenrollment, ServerConfig};
use crate::http::admin::AdminAuth;
use crate::http::device::identity::DeviceAuth;
use crate::http::{router, AppState};
use crate::observe::store::MeteredStore;
use crate::observe::writes::WriteHealth;
use crate::observe::Observer;
use crate::pki::{Ca, TrustAnchors};
use crate::push::PushService;
use crate::readmodel::projector::Projector;
use crate::service::api_keys::ApiKeys;
use crate::service::enrollments::Enrollments;
use crate::service::scep::ScepService;

use super::{admin_key, data_key, enroll, metrics, sinks, Server, ServerError};

pub async fn build(config: ServerConfig) -> Result<Server, ServerError> {
    config.relations()?;
    // Before any of them is read: a key others could read is a key others may have.
    config.check_key_files()?;
    // A certificate given on the command line is checked before anything is created (the
    // data directory, the store, the admin key): a typo in its path must leave nothing behind.
    if let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) {
        super::tls::check_pair(cert, key).map_err(ServerError::TlsOption)?;
    }
    let metrics = metrics::install().map_err(ServerError::Metrics)?;
    let url = config.store_url()?;
    let writes = Arc::new(WriteHealth::default());
    let store = crate::store::open(&url)
        .await
        .map_err(|source| ServerError::OpenStore {
            url: url.to_string(),
            source,
        })?;
    let store = MeteredStore::wrap(store, writes.clone());
    let head = store.head().await?;
    let ca = Arc::new(Ca::load_or_init(&config.data_dir.join("ca")).map_err(ServerError::Ca)?);
    // One static challenge serves both ends: the profile carries it and /scep accepts it.
    let static_challenge = config.enroll.challenge()?;
    let anchors = anchors(&ca, &config)?;
    let annal_issuer = crate::pki::certificate_info(ca.cert_der())?.subject;
    if config.insecure_accept_unsigned_devices {
        tracing::error!("INSECURE: device requests without any identity are accepted (--insecure-accept-unsigned-devices); never use this in production");
    }
    let data_key = data_key::load(&config.data_dir, config.data_key_file.clone(), head.position)?;
    let admin_key = match &config.admin_api_key {
        Some(k) => k.clone(),
        None => admin_key::load_or_init(&config.data_dir.join("admin-api-key"))?,
    };
    let readmodels = crate::readmodel::open(&url, &config.data_dir)
        .await
        .map_err(ServerError::ReadModels)?;
    let data_key = Arc::new(data_key);
    let sinks = sinks::Sinks::start(&config, &store, &readmodels, &data_key)?;
    let projector = Projector::start(store.clone(), readmodels)
        .await
        .map_err(ServerError::Projector)?;
    // Long-lived responses (SSE streams) and every worker end when shutdown starts.
    let (stop, stopping) = watch::channel(false);
    let enrollments = Arc::new(
        Enrollments::new(store.clone())
            .with_reenrollment(config.reenrollment)
            .with_migration_claims(config.migration),
    );
    if config.migration {
        tracing::warn!("RISK: --migration: /migration enrolls devices without certificates, and the first certificate from --external-ca to speak for such an enrollment claims it; turn it off once the migrated devices have checked in");
    }
    if config.reenrollment == Reenrollment::Allow {
        tracing::warn!("RISK: --reenrollment allow: any Authenticate replaces a device's enrollment, so a holder of any enrollment token can take over an enrolled device (its queued commands, PINs included)");
    }
    let push = PushService::new(
        store.clone(),
        enrollments.clone(),
        data_key.clone(),
        config.push.settings()?,
    );
    match push.refresh_certificate().await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            "no push certificate is installed: commands wait until devices poll (annal push-cert install)"
        ),
        Err(e) => tracing::error!(error = %e, "the installed push certificate cannot be used"),
    }
    push.start(projector.clone(), stopping.clone());
    let enroll = enroll::config(&config, &ca, static_challenge.clone())?;
    let ca_not_after = crate::pki::certificate_info(ca.cert_der())?.not_after;
    let observer = Arc::new(Observer::new(Some(ca_not_after), config.ready_max_lag, writes));
    // Certificates a migration imported (`annal migrate from-nanomdm`), trusted one by one.
    let imported = crate::service::imported_identities::fingerprints(store.as_ref()).await?;
    if !imported.is_empty() {
        tracing::info!(
            count = imported.len(),
            "identities imported from another MDM server are accepted by their exact certificate (Mdm-Signature or mTLS), not their CA"
        );
    }
    let groups = Arc::new(crate::service::groups::Groups::new(store.clone()));
    let declarations = Arc::new(crate::service::declarations::Declarations::new(
        store.clone(),
        groups.clone(),
        &config.base_url(),
    ));
    crate::service::declarations::SyncWorker {
        declarations: declarations.clone(),
        enrollments: enrollments.clone(),
        data_key: data_key.clone(),
        push: push.clone(),
        facts: Arc::new(crate::readmodel::ReadModelFacts {
            projector: projector.clone(),
        }),
        is_leader: {
            let projector = projector.clone();
            Arc::new(move || projector.is_leader())
        },
        interval: crate::service::declarations::SYNC_INTERVAL,
    }
    .spawn(stopping.clone());
    let state = AppState {
        observer,
        enroll,
        stopping,
        projector,
        store: store.clone(),
        enrollments,
        push,
        metrics: Some(metrics),
        device_auth: Arc::new(DeviceAuth::new(
            TrustAnchors::new(anchors.clone())?.pinning(imported.iter().copied()),
            annal_issuer,
            config.insecure_accept_unsigned_devices,
        )),
        data_key,
        admin: Arc::new(
            AdminAuth::new(&admin_key, Arc::new(ApiKeys::new(store.clone()))).map_err(ServerError::AdminAuth)?,
        ),
        groups: groups.clone(),
        declarations: declarations.clone(),
        scep: Arc::new(ScepService::new(store, ca.clone(), static_challenge)?),
    };
    state.admin.warn_if_bootstrap_only().await;
    let router = router(state.clone(), config.body_sizes(), config.limits.pace());
    Ok(Server {
        router,
        state,
        ca,
        trust: super::client_trust::ClientTrust {
            anchors,
            pinned: std::sync::Arc::new(imported.into_iter().collect()),
        },
        sinks,
        stop,
        store_url: url,
        head_position: head.position,
        config,
    })
}

/// Certificates accepted as device identities: Annal's CA, and --external-ca's.
fn anchors(ca: &Ca, config: &ServerConfig) -> Result<Vec<Vec<u8>>, ServerError> {
    let mut anchors = vec![ca.cert_der().to_vec()];
    if let Some(path) = &config.external_ca {
        anchors.extend(
            TrustAnchors::from_pem_file(path)
                .map_err(ServerError::ExternalCa)?
                .cert_ders()
                .map(<[u8]>::to_vec),
        );
    }
    Ok(anchors)
}
