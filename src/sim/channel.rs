//! How one device reaches its MDM server: where check-in messages and command-channel requests
//! go, the topic it reports, and how it proves its identity (its own mTLS connection, or
//! Mdm-Signature on every request over a connection pool shared by all devices).

use std::collections::HashMap;
use std::sync::Mutex;

use super::client::{split_url, Answer, Client, ClientError};
use crate::pki::DeviceIdentity;

/// One client per server origin, shared by the devices that sign their requests (building a
/// TLS configuration per device would dominate the simulator's own CPU time).
pub struct Clients {
    ca_der: Vec<u8>,
    shared: Mutex<HashMap<String, Client>>,
}

impl Clients {
    pub fn new(ca_der: &[u8]) -> Self {
        Self {
            ca_der: ca_der.to_vec(),
            shared: Mutex::new(HashMap::new()),
        }
    }

    /// The shared client for `origin` (`https://host:port`).
    pub fn shared(&self, origin: &str) -> Result<Client, ClientError> {
        let origin = origin.trim_end_matches('/');
        let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = shared.get(origin) {
            return Ok(client.clone());
        }
        let client = Client::new(origin, &self.ca_der)?;
        shared.insert(origin.to_owned(), client.clone());
        Ok(client)
    }

    /// A client of its own that presents `identity` as its TLS client certificate.
    pub fn with_identity(&self, origin: &str, identity: &DeviceIdentity) -> Result<Client, ClientError> {
        Client::with_identity(origin, &self.ca_der, &identity.cert_der, &identity.key_pkcs8_der)
    }
}

struct Endpoint {
    client: Client,
    path: String,
}

pub struct Channel {
    checkin: Endpoint,
    server: Endpoint,
    /// The push topic the device reports in Authenticate and TokenUpdate.
    pub topic: String,
    /// Sign every request (Mdm-Signature); otherwise the client presents the identity (mTLS).
    pub sign: bool,
}

impl Channel {
    /// A channel to `checkin_url` and `server_url` (the MDM payload's CheckInURL and ServerURL),
    /// with `identity` over mTLS when given, else signing over the shared clients.
    pub fn open(
        clients: &Clients,
        checkin_url: &str,
        server_url: &str,
        topic: String,
        mtls: Option<&DeviceIdentity>,
    ) -> Result<Self, ClientError> {
        let endpoint = |url: &str| {
            let (origin, path) = split_url(url)?;
            let client = match mtls {
                Some(identity) => clients.with_identity(&origin, identity)?,
                None => clients.shared(&origin)?,
            };
            Ok::<_, ClientError>(Endpoint { client, path })
        };
        let server = endpoint(server_url)?;
        let checkin = if checkin_url == server_url {
            Endpoint {
                client: server.client.clone(),
                path: server.path.clone(),
            }
        } else {
            endpoint(checkin_url)?
        };
        Ok(Self {
            checkin,
            server,
            topic,
            sign: mtls.is_none(),
        })
    }

    /// A check-in message (Authenticate, TokenUpdate, CheckOut, …).
    pub async fn checkin(&self, signature: Option<&str>, body: Vec<u8>) -> Result<Answer, ClientError> {
        put(&self.checkin, CHECKIN, signature, body).await
    }

    /// A command-channel request (Idle, a command result).
    pub async fn command(&self, signature: Option<&str>, body: Vec<u8>) -> Result<Answer, ClientError> {
        put(&self.server, COMMAND, signature, body).await
    }
}

const CHECKIN: &str = "application/x-apple-aspen-mdm-checkin";
const COMMAND: &str = "application/x-apple-aspen-mdm";

async fn put(to: &Endpoint, content_type: &str, signature: Option<&str>, body: Vec<u8>) -> Result<Answer, ClientError> {
    match signature {
        Some(s) => {
            to.client
                .put(&to.path, content_type, &[("Mdm-Signature", s)], body)
                .await
        }
        None => to.client.put(&to.path, content_type, &[], body).await,
    }
}
