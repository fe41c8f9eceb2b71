//! The real-device regression corpus: plists that real Apple devices sent to other MDM servers
//! (tests/corpus, each with its source, commit, license and SHA-256 in PROVENANCE.md), replayed
//! through a real `annal serve` over HTTPS in session order: Authenticate → TokenUpdate → Idle
//! → for each captured command answer, the command of its RequestType queued through the admin
//! API with the capture's own CommandUUID, delivered on the next Idle and answered with the
//! capture's bytes → CheckOut. Every step's HTTP answer, the enrollment's events (types in
//! order, and the identity proof on each device message) and the resulting inventory are
//! asserted.
//!
//! Each device signs with an RSA-2048 identity that Annal's CA issues for the UDID the capture
//! carries (a real device's SCEP identity names it the same way), so no capture needs its UDID
//! rewritten. Captures are sent byte for byte: the test refuses to run one whose SHA-256 is not
//! the one PROVENANCE.md records.
//!
//! Where a source published no check-in message for a device (most publish only command
//! answers), the session opens with a minimal Authenticate and TokenUpdate built here; those
//! are named `synthetic_*` and carry no inventory, so the inventory asserted comes from the real
//! answers. No source publishes a CheckOut, so every session ends with a synthetic one.
//!
//! Captures expected to fail on a branch without a teammate's change are listed in the notes
//! (notes/corpus.md, "Captures expected to fail"): the assertions here are the correct
//! behaviour, never today's.

mod common;

use std::path::Path;

use annal::pki::{DeviceIdentity, KeyKind, MdmDigest};
use annal::testkit::sim::Client;
use common::admin::get;
use common::server::{Server, CHECKIN, COMMAND};
use plist::{Dictionary, Value};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");

/// A capture's bytes, refused unless they are the bytes PROVENANCE.md records.
fn capture(path: &str) -> Vec<u8> {
    let bytes = std::fs::read(Path::new(CORPUS).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    let provenance = std::fs::read_to_string(Path::new(CORPUS).join("PROVENANCE.md")).expect("PROVENANCE.md");
    let digest = hex::encode(Sha256::digest(&bytes));
    let recorded = provenance
        .lines()
        .any(|l| l.contains(&format!("`{path}`")) && l.contains(&digest));
    assert!(
        recorded,
        "{path} (SHA-256 {digest}) is not recorded in PROVENANCE.md: captures are kept byte for byte"
    );
    bytes
}

/// The value of `<key>CommandUUID</key>` read from the text, so a capture whose payload the
/// server cannot read (yet) still names the command it answers.
fn captured_command_uuid(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let after = text
        .split_once("<key>CommandUUID</key>")
        .map(|(_, rest)| rest)
        .expect("the capture answers a command");
    let start = after.find("<string>").expect("a string value") + "<string>".len();
    let end = after[start..].find("</string>").expect("a closed string") + start;
    after[start..end].trim().to_owned()
}

fn encode(d: Dictionary) -> Vec<u8> {
    annal::testkit::sim::encode(d)
}

fn dict(pairs: &[(&str, Value)]) -> Dictionary {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// What a device sends when a source published no Authenticate for it: only the keys Apple
/// requires, so the inventory can only come from the device's real answers.
fn synthetic_authenticate(udid: &str, topic: &str) -> Vec<u8> {
    encode(dict(&[
        ("MessageType", "Authenticate".into()),
        ("Topic", topic.into()),
        ("UDID", udid.into()),
    ]))
}

fn synthetic_token_update(udid: &str, topic: &str) -> Vec<u8> {
    encode(dict(&[
        ("MessageType", "TokenUpdate".into()),
        ("Topic", topic.into()),
        ("UDID", udid.into()),
        ("Token", Value::Data(vec![0x42; 32])),
        ("PushMagic", "5A1E6C2D-0000-4000-8000-000000000001".into()),
    ]))
}

fn synthetic_check_out(udid: &str, topic: &str) -> Vec<u8> {
    encode(dict(&[
        ("MessageType", "CheckOut".into()),
        ("Topic", topic.into()),
        ("UDID", udid.into()),
    ]))
}

fn synthetic_idle(udid: &str) -> Vec<u8> {
    encode(dict(&[("Status", "Idle".into()), ("UDID", udid.into())]))
}

/// The topic of the sources' own push certificates (the captures carry theirs; a server with
/// no push certificate installed accepts any).
const ZENTRAL_TOPIC: &str = "com.apple.mgmt.External.7d1c4c0e-6b7a-4bb5-8c3e-2f6a1e0b9d11";

/// The command a capture answers, as the server would have queued it.
fn command_for(request_type: &str) -> Dictionary {
    use annal::mdm::command as c;
    match request_type {
        "DeviceInformation" => c::device_information(&[
            "DeviceName",
            "Model",
            "ModelName",
            "ProductName",
            "OSVersion",
            "BuildVersion",
            "SerialNumber",
            "HostName",
            "UDID",
        ]),
        "SecurityInfo" => c::security_info(),
        "ProfileList" => c::profile_list(),
        "InstalledApplicationList" => c::installed_application_list(),
        "CertificateList" => c::certificate_list(),
        other => c::command(other),
    }
}

/// One device's session against its own server.
struct Replay {
    /// Kept for the session: dropping it stops the server.
    _server: Server,
    client: Client,
    key: String,
    udid: String,
    identity: DeviceIdentity,
    /// The events the session must have appended, in order.
    expected: Vec<&'static str>,
    /// Each answer's CommandUUID, the event it must have ended as, and the bytes it was sent
    /// as: the log must keep them unchanged.
    answers: Vec<(String, &'static str, Vec<u8>)>,
}

impl Replay {
    async fn start(udid: &str) -> Self {
        rustls::crypto::aws_lc_rs::default_provider().install_default().ok();
        let server = Server::start(&[]).await;
        let client = server.client();
        let key = server.api_key();
        // RSA-2048, as the SCEP identity of a real device; named after the captured UDID.
        let identity = server
            .ca()
            .issue_device_identity(udid, KeyKind::Rsa2048, 30)
            .expect("identity");
        Self {
            _server: server,
            client,
            key,
            udid: udid.to_owned(),
            identity,
            expected: Vec::new(),
            answers: Vec::new(),
        }
    }

    async fn send(&self, content_type: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
        let signature = self.identity.sign_mdm(&body, MdmDigest::Sha256).expect("sign");
        let a = self
            .client
            .put("/mdm", content_type, &[("Mdm-Signature", &signature)], body)
            .await
            .expect("request");
        (a.status.as_u16(), a.body.to_vec())
    }

    /// A check-in message, answered 200 with an empty body.
    async fn checkin(&mut self, what: &str, body: Vec<u8>, events: &[&'static str]) {
        let (status, reply) = self.send(CHECKIN, body).await;
        assert_eq!(status, 200, "{what}: {}", String::from_utf8_lossy(&reply).trim());
        assert!(reply.is_empty(), "{what} answered a body");
        self.expected.extend_from_slice(events);
    }

    /// An Idle poll; returns the command delivered, if any.
    async fn idle(&mut self) -> Option<Dictionary> {
        let (status, reply) = self.send(COMMAND, synthetic_idle(&self.udid)).await;
        assert_eq!(status, 200, "Idle: {}", String::from_utf8_lossy(&reply).trim());
        // The poll is recorded whether or not it takes a command.
        self.expected.push("Idle");
        if reply.is_empty() {
            return None;
        }
        self.expected.push("CommandDelivered");
        let command: Value = plist::from_bytes(&reply).expect("a command plist");
        Some(command.into_dictionary().expect("a dictionary"))
    }

    /// Queues the command `capture` answers (with its CommandUUID), takes it on the next Idle and
    /// sends the captured answer, which must complete it.
    async fn answer(&mut self, path: &str, request_type: &str) {
        self.answer_as(path, request_type, command_for(request_type), "CommandAcknowledged")
            .await
    }

    /// As [`Self::answer`], queueing `command` and expecting the answer to end as `outcome`.
    async fn answer_as(&mut self, path: &str, request_type: &str, command: Dictionary, outcome: &'static str) {
        let bytes = capture(path);
        let uuid = captured_command_uuid(&bytes);
        let envelope = annal::mdm::command_envelope(&uuid, command).expect("envelope");
        let auth = format!("Bearer {}", self.key);
        let queued = self
            .client
            .put(
                &format!("/v1/enqueue/{}", self.udid),
                "application/xml",
                &[("Authorization", &auth)],
                envelope,
            )
            .await
            .expect("enqueue");
        let text = String::from_utf8_lossy(&queued.body).into_owned();
        assert!(queued.status.is_success(), "enqueue {request_type}: {text}");
        let queued: Json = serde_json::from_str(&text).expect("JSON");
        assert_eq!(
            queued["command_uuid"],
            uuid.as_str(),
            "{path}: the capture's CommandUUID is kept"
        );
        self.expected.push("CommandQueued");

        let delivered = self
            .idle()
            .await
            .unwrap_or_else(|| panic!("{path}: no command on Idle"));
        assert_eq!(
            delivered.get("CommandUUID").and_then(Value::as_string),
            Some(uuid.as_str())
        );
        let command = delivered
            .get("Command")
            .and_then(Value::as_dictionary)
            .expect("Command");
        assert_eq!(
            command.get("RequestType").and_then(Value::as_string),
            Some(request_type)
        );

        let (status, reply) = self.send(COMMAND, bytes.clone()).await;
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&reply).trim());
        assert!(reply.is_empty(), "{path}: nothing else was queued");
        self.expected.push(outcome);
        self.answers.push((uuid, outcome, bytes));
    }

    /// The enrollment's history: the expected event types in order, every device message
    /// proven by its Mdm-Signature, every answer kept byte for byte. Returns the inventory.
    async fn finish(self) -> Json {
        let path = format!("/v1/devices/{}/history?include_raw=true&limit=1000", self.udid);
        let (status, history) = get(&self.client, &path, &self.key).await;
        assert_eq!(status, 200, "{history}");
        let events = history["events"].as_array().expect("events");
        let types: Vec<&str> = events.iter().map(|e| e["event_type"].as_str().unwrap_or("")).collect();
        assert_eq!(types, self.expected, "{}", self.udid);
        for e in events {
            if let Some(identity) = e["data"].get("identity").filter(|i| i.is_object()) {
                assert_eq!(identity["proof"], "mdm-signature", "{}", e["event_type"]);
            }
        }
        for (uuid, outcome, bytes) in &self.answers {
            let completed = events
                .iter()
                .find(|e| e["event_type"] == *outcome && e["data"]["command_uuid"] == uuid.as_str())
                .unwrap_or_else(|| panic!("no {outcome} for {uuid}"));
            assert_eq!(
                completed["raw"].as_str().map(str::as_bytes),
                Some(bytes.as_slice()),
                "the answer to {uuid} is kept byte for byte"
            );
        }
        let (status, device) = get(&self.client, &format!("/v1/devices/{}", self.udid), &self.key).await;
        assert_eq!(status, 200, "{device}");
        device
    }

    /// CheckOut: the enrollment ends, and the device's next request is refused.
    async fn check_out(&mut self, topic: &str) {
        let body = synthetic_check_out(&self.udid, topic);
        self.checkin("CheckOut", body, &["CheckOut"]).await;
        let (status, _) = self.send(COMMAND, synthetic_idle(&self.udid)).await;
        assert!(
            (400..500).contains(&status),
            "a checked-out device's Idle is refused, not {status}"
        );
    }
}

fn field<'a>(device: &'a Json, name: &str) -> Option<&'a str> {
    device[name].as_str()
}

/// NanoMDM's testdata (vendored in Fleet): an iPad 2 on iOS 9.3.5, Authenticate and a
/// TokenUpdate with its UnlockToken (base64 wrapped over lines, tab-indented).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nanomdm_ipad_authenticate_and_token_update_with_unlock_token() {
    let dir = "fleetdm-fleet/server/mdm/nanomdm/mdm/testdata";
    let mut r = Replay::start("663b07bb783e9ade1dae4fbb92ea12afc0ce5b69").await;
    r.checkin(
        "Authenticate.1",
        capture(&format!("{dir}/Authenticate.1.plist")),
        &["Authenticate", "IdentityBound"],
    )
    .await;
    r.checkin(
        "TokenUpdate.1",
        capture(&format!("{dir}/TokenUpdate.1.plist")),
        &["TokenUpdate"],
    )
    .await;
    assert!(r.idle().await.is_none());
    let topic = "com.apple.mgmt.External.e0bd1eac-1f17-4c8e-8a63-dd17d3dd35d9";
    r.check_out(topic).await;
    let device = r.finish().await;
    assert_eq!(field(&device, "product_name"), Some("iPad2,5"));
    assert_eq!(field(&device, "os_version"), Some("9.3.5"));
    assert_eq!(field(&device, "build_version"), Some("13G36"));
    assert_eq!(field(&device, "serial_number"), Some("F5JM992LF193"));
    assert_eq!(field(&device, "topic"), Some(topic));
    assert_eq!(field(&device, "state"), Some("checked_out"), "{device}");
}

/// NanoMDM's testdata: an iMac on macOS 10.12.6, its Authenticate (with a Challenge `<data>`
/// wrapped in whitespace), TokenUpdate and a DeviceInformation answer that also carries the
/// RequestType key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nanomdm_imac_session_with_device_information() {
    let dir = "fleetdm-fleet/server/mdm/nanomdm/mdm/testdata";
    let mut r = Replay::start("66ADE930-5FDF-5EC4-8429-15640684C489").await;
    r.checkin(
        "Authenticate.2",
        capture(&format!("{dir}/Authenticate.2.plist")),
        &["Authenticate", "IdentityBound"],
    )
    .await;
    r.checkin(
        "TokenUpdate.2",
        capture(&format!("{dir}/TokenUpdate.2.plist")),
        &["TokenUpdate"],
    )
    .await;
    assert!(r.idle().await.is_none());
    r.answer(&format!("{dir}/DeviceInformation.1.plist"), "DeviceInformation")
        .await;
    r.check_out("com.apple.mgmt.External.e0bd1eac-1f17-4c8e-8a63-dd17d3dd35d9")
        .await;
    let device = r.finish().await;
    assert_eq!(field(&device, "model"), Some("iMac14,2"));
    assert_eq!(field(&device, "model_name"), Some("iMac"));
    assert_eq!(field(&device, "device_name"), Some("Fruit"));
    assert_eq!(field(&device, "os_version"), Some("10.12.6"));
    assert_eq!(field(&device, "serial_number"), Some("C02MT66KFLHH"));
    assert_eq!(device["query_responses"]["HostName"], "fruit.example.com");
}

/// NanoCMD's testdata: an iPhone on iOS 15.7 answering DeviceInformation (model, OS, serial).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nanocmd_iphone_device_information() {
    let udid = "UDID001";
    let topic = "com.apple.mgmt.External.nanocmd-corpus";
    let mut r = Replay::start(udid).await;
    r.checkin(
        "synthetic Authenticate",
        synthetic_authenticate(udid, topic),
        &["Authenticate", "IdentityBound"],
    )
    .await;
    r.checkin(
        "synthetic TokenUpdate",
        synthetic_token_update(udid, topic),
        &["TokenUpdate"],
    )
    .await;
    r.answer("micromdm-nanocmd/engine/testdata/devinfo.plist", "DeviceInformation")
        .await;
    r.check_out(topic).await;
    let device = r.finish().await;
    assert_eq!(field(&device, "model"), Some("MN9H2LL"));
    assert_eq!(field(&device, "model_name"), Some("iPhone"));
    assert_eq!(field(&device, "os_version"), Some("15.7"));
    assert_eq!(field(&device, "build_version"), Some("19H12"));
    assert_eq!(field(&device, "serial_number"), Some("BNPTFLNZHG7K"));
    assert_eq!(field(&device, "device_name"), Some("My iPhone"));
}

/// NanoCMD's inventory testdata: a MacBook Pro answering DeviceInformation and SecurityInfo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nanocmd_mac_device_information_and_security_info() {
    let udid = "AAABBBCCC111222333";
    let topic = "com.apple.mgmt.External.nanocmd-corpus";
    let dir = "micromdm-nanocmd/workflow/inventory/testdata";
    let mut r = Replay::start(udid).await;
    r.checkin(
        "synthetic Authenticate",
        synthetic_authenticate(udid, topic),
        &["Authenticate", "IdentityBound"],
    )
    .await;
    r.checkin(
        "synthetic TokenUpdate",
        synthetic_token_update(udid, topic),
        &["TokenUpdate"],
    )
    .await;
    r.answer(&format!("{dir}/devinfo.plist"), "DeviceInformation").await;
    r.answer(&format!("{dir}/secinfo.plist"), "SecurityInfo").await;
    r.check_out(topic).await;
    let device = r.finish().await;
    assert_eq!(field(&device, "model"), Some("MacBookPro11,3"));
    assert_eq!(field(&device, "product_name"), Some("MacBookPro11,3"));
    assert_eq!(device["security_info"]["SystemIntegrityProtectionEnabled"], true);
    assert_eq!(
        device["security_info"]["SecureBoot"]["SecureBootLevel"], "off",
        "{device}"
    );
}

/// NanoCMD's certificate-profile testdata: a device lists its certificates (one whose name it
/// could not read), then refuses a profile with an ErrorChain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nanocmd_certificate_list_then_an_error() {
    let udid = "6362F867-FFF2-4EA6-905C-3C796DF4EF68";
    let topic = "com.apple.mgmt.External.nanocmd-corpus";
    let dir = "micromdm-nanocmd/workflow/certprof/testdata";
    let mut r = Replay::start(udid).await;
    r.checkin(
        "synthetic Authenticate",
        synthetic_authenticate(udid, topic),
        &["Authenticate", "IdentityBound"],
    )
    .await;
    r.checkin(
        "synthetic TokenUpdate",
        synthetic_token_update(udid, topic),
        &["TokenUpdate"],
    )
    .await;
    r.answer(&format!("{dir}/certlist.plist"), "CertificateList").await;
    // NanoCMD's certificate-profile workflow installs a profile; this is the device's refusal.
    let profile = encode(dict(&[
        ("PayloadType", "Configuration".into()),
        ("PayloadIdentifier", "com.example.corpus.certprof".into()),
        ("PayloadUUID", "0C2D7E4A-1B3C-4D5E-8F90-A1B2C3D4E5F6".into()),
        ("PayloadVersion", Value::Integer(1.into())),
        ("PayloadContent", Value::Array(Vec::new())),
    ]));
    let mut install = annal::mdm::command::command("InstallProfile");
    install.insert("Payload".into(), Value::Data(profile));
    r.answer_as(
        &format!("{dir}/resp-error.plist"),
        "InstallProfile",
        install,
        "CommandErrored",
    )
    .await;
    r.check_out(topic).await;
    let device = r.finish().await;
    assert_eq!(field(&device, "udid"), Some(udid));
    assert_eq!(device["pending_commands"], 0, "{device}");
}

/// Zentral's testdata: a macOS 13 virtual machine answering DeviceInformation (dates, reals,
/// nested dictionaries), SecurityInfo and InstalledApplicationList (a 23 GB bundle size).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zentral_mac_inventory_session() {
    let udid = "9353BC9A-5CF9-4C9E-9AD4-8D1E41D5FE3E";
    let dir = "zentral/tests/mdm/testdata";
    let mut r = Replay::start(udid).await;
    r.checkin(
        "synthetic Authenticate",
        synthetic_authenticate(udid, ZENTRAL_TOPIC),
        &["Authenticate", "IdentityBound"],
    )
    .await;
    r.checkin(
        "synthetic TokenUpdate",
        synthetic_token_update(udid, ZENTRAL_TOPIC),
        &["TokenUpdate"],
    )
    .await;
    assert!(r.idle().await.is_none());
    r.answer(&format!("{dir}/device_information.plist"), "DeviceInformation")
        .await;
    r.answer(&format!("{dir}/security_info.plist"), "SecurityInfo").await;
    r.answer(
        &format!("{dir}/installed_application_list.plist"),
        "InstalledApplicationList",
    )
    .await;
    r.check_out(ZENTRAL_TOPIC).await;
    let device = r.finish().await;
    assert_eq!(field(&device, "model"), Some("VirtualMac2,1"));
    assert_eq!(field(&device, "model_name"), Some("Virtual Machine"));
    assert_eq!(field(&device, "os_version"), Some("13.0"));
    assert_eq!(field(&device, "build_version"), Some("22A5321d"));
    assert_eq!(field(&device, "serial_number"), Some("Z3C2FCE2C0"));
    assert_eq!(device["query_responses"]["IsSupervised"], true);
    assert_eq!(device["security_info"]["FDE_Enabled"], true);
}

/// Zentral's testdata, one answer per device: ProfileList (signer certificates in `<data>`
/// wrapped over lines), CertificateList (a CommandUUID that is not a UUID), an iOS SecurityInfo
/// and ManagedApplicationList.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zentral_single_answers() {
    let dir = "zentral/tests/mdm/testdata";
    let cases = [
        (
            "7DD67F73-27DE-57B7-872F-C68FACCD9186",
            "profile_list.plist",
            "ProfileList",
        ),
        ("00008020-000915083C80012E", "certificate_list.plist", "CertificateList"),
        (
            "cb48a725986c8b4e23b6ca68e5b6941d073c990f",
            "security_info_ios.plist",
            "SecurityInfo",
        ),
        (
            "B79EE23C-F5C1-489E-ADC2-DB4A7B3D54FF",
            "managed_application_list.plist",
            "ManagedApplicationList",
        ),
    ];
    for (udid, file, request_type) in cases {
        let mut r = Replay::start(udid).await;
        r.checkin(
            "synthetic Authenticate",
            synthetic_authenticate(udid, ZENTRAL_TOPIC),
            &["Authenticate", "IdentityBound"],
        )
        .await;
        r.checkin(
            "synthetic TokenUpdate",
            synthetic_token_update(udid, ZENTRAL_TOPIC),
            &["TokenUpdate"],
        )
        .await;
        r.answer(&format!("{dir}/{file}"), request_type).await;
        r.check_out(ZENTRAL_TOPIC).await;
        let device = r.finish().await;
        assert_eq!(field(&device, "udid"), Some(udid));
        if request_type == "SecurityInfo" {
            assert_eq!(device["security_info"]["HardwareEncryptionCaps"], 3, "{device}");
        }
    }
}

/// Every capture in the corpus is replayed by a test above, and every one is documented.
#[test]
fn every_capture_is_documented_and_replayed() {
    let this = include_str!("real_devices.rs");
    let mut found = Vec::new();
    let mut stack = vec![Path::new(CORPUS).to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("corpus dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "plist") {
                found.push(path);
            }
        }
    }
    assert!(found.len() >= 10, "{found:?}");
    for path in found {
        let relative = path
            .strip_prefix(CORPUS)
            .expect("inside the corpus")
            .to_string_lossy()
            .into_owned();
        capture(&relative);
        let name = path.file_name().expect("name").to_string_lossy().into_owned();
        assert!(
            this.contains(&name),
            "{relative} is not replayed by tests/real_devices.rs"
        );
    }
}
