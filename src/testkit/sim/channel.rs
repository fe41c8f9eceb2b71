//! How one device reaches its MDM server: where check-in messages and command-channel requests
//! go, the topic it reports, and how it proves its identity (its own mTLS connection, or
//! Mdm-Signature on every request over a connection pool shared by all devices), and what its
//! requests look like on the wire (wire.rs).

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use hyper::Method;

use super::ber::{indefinite, CMS_OUTER_LEVELS};
use super::client::{split_url, Answer, Client, ClientError};
use super::device::VirtualDevice;
use super::run::SimError;
use super::wire::{WireCounter, WireProfile};
use crate::pki::{DeviceIdentity, PkiError};

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

    /// A client of its own, without a client certificate: a device that keeps its own TLS
    /// sessions (and so resumes them when it reconnects), as a real one does.
    pub fn own(&self, origin: &str) -> Result<Client, ClientError> {
        Client::new(origin.trim_end_matches('/'), &self.ca_der)
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
    wire: WireProfile,
    counter: WireCounter,
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
        wire: &WireProfile,
    ) -> Result<Self, ClientError> {
        let endpoint = |url: &str| {
            let (origin, path) = split_url(url)?;
            let client = match mtls {
                Some(identity) => clients.with_identity(&origin, identity)?,
                // Real devices: one TLS session cache each, so a reconnect resumes its session
                // (a shared client keeps a few tickets per server for the whole fleet).
                None if wire.signature_only => clients.own(&origin)?,
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
            wire: wire.clone(),
            counter: WireCounter::default(),
        })
    }

    /// The Mdm-Signature header for `body` (None over mTLS): DER, or BER with indefinite
    /// lengths on the profile's turn.
    pub fn signature(&self, device: &VirtualDevice, body: &[u8]) -> Result<Option<String>, PkiError> {
        if !self.sign {
            return Ok(None);
        }
        self.encode(device.sign_der(body)?).map(Some)
    }

    /// The Idle body and its Mdm-Signature (its DER signature is made once per device).
    pub fn idle(&self, device: &VirtualDevice) -> Result<(Vec<u8>, Option<String>), PkiError> {
        let (body, der) = device.idle_der()?;
        let signature = if self.sign { Some(self.encode(der)?) } else { None };
        Ok((body, signature))
    }

    /// (requests that closed their connection, BER signatures) on this channel so far.
    pub fn wire_totals(&self) -> (u64, u64) {
        self.counter.totals()
    }

    fn encode(&self, der: Vec<u8>) -> Result<String, PkiError> {
        let der = if self.counter.next_signature_is_ber(&self.wire) {
            indefinite(&der, CMS_OUTER_LEVELS).map_err(|_| PkiError::Crypto("re-encoding a signature as BER"))?
        } else {
            der
        };
        Ok(base64::engine::general_purpose::STANDARD.encode(der))
    }

    /// A check-in message (Authenticate, TokenUpdate, CheckOut, …).
    pub async fn checkin(&self, signature: Option<&str>, body: Vec<u8>) -> Result<Answer, ClientError> {
        self.put(&self.checkin, Some(CHECKIN), signature, body).await
    }

    /// A GET of data a declaration points at (a legacy profile's `ProfileURL`), with the
    /// device's identity as Apple's "MDM" authentication: its client certificate, or an
    /// Mdm-Signature over the empty body. Sent to the server's origin whatever host `url`
    /// names (the simulator's server may be reached at another name than its base URL's).
    pub async fn fetch_data(&self, device: &VirtualDevice, url: &str) -> Result<Answer, SimError> {
        let (_, path) = split_url(url)?;
        let signature = self.signature(device, b"")?;
        let headers: Vec<(&str, &str)> = signature.iter().map(|s| ("Mdm-Signature", s.as_str())).collect();
        Ok(self
            .server
            .client
            .send(Method::GET, &path, None, &headers, Vec::new())
            .await?)
    }

    /// A command-channel request (Idle, a command result).
    pub async fn command(&self, signature: Option<&str>, body: Vec<u8>) -> Result<Answer, ClientError> {
        let content_type = (!self.wire.omit_content_type).then_some(COMMAND);
        self.put(&self.server, content_type, signature, body).await
    }

    async fn put(
        &self,
        to: &Endpoint,
        content_type: Option<&str>,
        signature: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Answer, ClientError> {
        let mut headers = Vec::with_capacity(2);
        if let Some(s) = signature {
            headers.push(("Mdm-Signature", s));
        }
        // Closing after this answer makes the device's next request open a new connection
        // (and a new TLS handshake), as a device waking up for a push does.
        if self.counter.next_request_closes(&self.wire) {
            headers.push(("Connection", "close"));
        }
        to.client
            .send(Method::PUT, &to.path, content_type, &headers, body)
            .await
    }
}

const CHECKIN: &str = "application/x-apple-aspen-mdm-checkin";
const COMMAND: &str = "application/x-apple-aspen-mdm";

#[cfg(test)]
#[path = "channel_tests.rs"]
mod tests;
