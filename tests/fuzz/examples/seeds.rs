//! Writes the seed corpora (`corpus/<target>/`) from real messages: Apple's command examples
//! (tests/data), the device simulator's check-ins and reports, its Mdm-Signatures, and SCEP
//! requests from the project's SCEP client, all under the fixture CA (created on first run).
//!
//! `cargo run --manifest-path tests/fuzz/Cargo.toml --example seeds`; the output is committed.
//! Keys and nonces are random, so a new run rewrites every signed seed.

use std::fs;
use std::path::{Path, PathBuf};

use annal::mdm::command::{certificate_list, command_envelope, device_information, profile_list, security_info};
use annal::pki::ber::testing::der_to_ber;
use annal::pki::scep::client::{pkcs_req, renewal_req};
use annal::pki::scep::{cert_rep, CertRepReply, ContentCipher, FailInfo};
use annal::pki::{Ca, DeviceIdentity, KeyKind, MdmDigest};
use annal::testkit::sim::answers::answer;
use annal::testkit::sim::{encode, VirtualDevice};
use annal_fuzz::fixture;
use annal_fuzz::signature_input::{join, DER, DER_FOLDED, TEXT};
use base64::Engine as _;
use chrono::Utc;
use plist::{Dictionary, Value};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const TOPIC: &str = "com.apple.mgmt.External.5c8b0e2a-8f9c-4d5e-9a7b-1c2d3e4f5a6b";

fn main() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ca = fixture::ca();
    // Ten years, like the fixture CA: the seeds stay trusted as long as it does.
    let rsa = ca.issue_device_identity("fuzz-device-rsa", KeyKind::Rsa2048, 3650)?;
    let ec = ca.issue_device_identity("fuzz-device-ec", KeyKind::EcdsaP256, 3650)?;
    let device = VirtualDevice::new(1, rsa.clone());

    let checkins = checkins(&device);
    let reports = reports(&device)?;
    write(root, "checkin", &checkins)?;
    let mut commands = apple_commands(&root.join("../data/apple-device-management/examples/mdm/commands"))?;
    commands.extend(reports.clone());
    commands.extend(envelopes()?);
    write(root, "command", &commands)?;
    let signatures = signatures(&rsa, &ec, &checkins, &reports)?;
    write(root, "mdm_signature", &signatures)?;
    let scep = scep(ca, &rsa)?;
    write(root, "scep_pkioperation", &scep)?;
    write(root, "ber", &ber_seeds(&signatures, &scep))?;
    Ok(())
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

fn dict(pairs: &[(&str, Value)]) -> Dictionary {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

fn binary(d: Dictionary) -> Vec<u8> {
    annal_fuzz::encode::binary(d)
}

/// One of each check-in MessageType, keyed as in Apple's `mdm/checkin/*.yaml`.
fn checkins(device: &VirtualDevice) -> Vec<(String, Vec<u8>)> {
    let udid = ("UDID", s(&device.udid));
    let user = [
        udid.clone(),
        ("UserID", s("A1B2C3D4-0000-1111-2222-333344445555")),
        ("UserShortName", s("ann")),
        ("UserLongName", s("Ann Example")),
    ];
    let byod = ("EnrollmentID", s("8DB29EAB-A5BB-4B60-8DDA-F75517766FAC"));
    let mut out = vec![
        ("authenticate.xml".into(), device.authenticate(TOPIC)),
        ("token_update.xml".into(), device.token_update(TOPIC)),
    ];
    let messages = [
        (
            "check_out",
            vec![("MessageType", s("CheckOut")), udid.clone(), ("Topic", s(TOPIC))],
        ),
        (
            "user_authenticate",
            [vec![("MessageType", s("UserAuthenticate"))], user.to_vec()].concat(),
        ),
        (
            "user_authenticate_digest",
            [
                vec![("MessageType", s("UserAuthenticate")), ("DigestResponse", s("a1b2c3"))],
                user.to_vec(),
            ]
            .concat(),
        ),
        (
            "set_bootstrap_token",
            vec![
                ("MessageType", s("SetBootstrapToken")),
                udid.clone(),
                ("BootstrapToken", Value::Data(vec![0x42; 48])),
                ("AwaitingConfiguration", Value::Boolean(true)),
            ],
        ),
        (
            "get_bootstrap_token",
            vec![("MessageType", s("GetBootstrapToken")), udid.clone()],
        ),
        (
            "get_token",
            vec![
                ("MessageType", s("GetToken")),
                udid.clone(),
                ("TokenServiceType", s("com.apple.watch.pairing")),
                (
                    "TokenParameters",
                    Value::Dictionary(dict(&[("SecurityToken", Value::Data(vec![7; 16]))])),
                ),
            ],
        ),
        (
            "declarative_management",
            vec![
                ("MessageType", s("DeclarativeManagement")),
                byod.clone(),
                ("Endpoint", s("status")),
                ("Data", Value::Data(br#"{"StatusItems":{}}"#.to_vec())),
            ],
        ),
        (
            "token_update_user_enrollment",
            vec![
                ("MessageType", s("TokenUpdate")),
                byod,
                ("EnrollmentUserID", s("EU1")),
                ("Topic", s(TOPIC)),
                ("Token", Value::Data(vec![0xab; 32])),
                ("PushMagic", s("B5E5C5F5-0F1D-4C27-9C4B-6D1B2A3C4D5E")),
                ("NotOnConsole", Value::Boolean(false)),
            ],
        ),
    ];
    for (name, pairs) in messages {
        out.push((format!("{name}.xml"), encode(dict(&pairs))));
    }
    // The binary form too: devices may send either.
    for (name, body) in out.clone().into_iter().take(4) {
        if let Ok(Value::Dictionary(d)) = plist::from_bytes::<Value>(&body) {
            out.push((name.replace(".xml", ".bplist"), binary(d)));
        }
    }
    out
}

/// The simulator's command-channel bodies: Idle, answers to the commands it knows, NotNow and
/// an Error with its chain. Not InstalledApplicationList: its 46 KB answer would only slow the
/// fuzzer down (libFuzzer sizes inputs after its largest seed).
fn reports(device: &VirtualDevice) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = vec![("report_idle.xml".to_owned(), device.idle()?.0)];
    let commands = [
        device_information(&["UDID", "OSVersion", "SerialNumber", "BatteryLevel", "IsSupervised"]),
        security_info(),
        profile_list(),
        certificate_list(),
    ];
    for (i, command) in commands.iter().enumerate() {
        let Some(Value::String(rt)) = command.get("RequestType") else {
            continue;
        };
        let response = answer(device, rt, command).unwrap_or_default();
        let body = device.result(&format!("C{i}"), "Acknowledged", response);
        out.push((format!("report_{}.xml", rt.to_lowercase()), body));
    }
    out.push((
        "report_notnow.xml".into(),
        device.result("C9", "NotNow", Dictionary::new()),
    ));
    let chain = Value::Array(vec![Value::Dictionary(dict(&[
        ("ErrorCode", Value::Integer(12021.into())),
        ("ErrorDomain", s("MCMDMErrorDomain")),
        ("LocalizedDescription", s("Unknown command")),
    ]))]);
    let error = dict(&[("ErrorChain", chain), ("RequestType", s("Frobnicate"))]);
    out.push(("report_error.xml".into(), device.result("C10", "Error", error.clone())));
    let mut idle_bin = dict(&[("Status", s("Idle")), ("UDID", s(&device.udid))]);
    idle_bin.insert("NotOnConsole".into(), Value::Boolean(true));
    out.push(("report_idle.bplist".into(), binary(idle_bin)));
    Ok(out)
}

/// Apple's command examples, as published (tests/data keeps a copy).
fn apple_commands(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut commands: Vec<PathBuf> = fs::read_dir(dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    commands.sort();
    for command in commands {
        let mut examples: Vec<PathBuf> = fs::read_dir(&command)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        examples.sort();
        for example in examples {
            let name = format!(
                "apple_{}_{}",
                command.file_name().unwrap_or_default().to_string_lossy(),
                example.file_name().unwrap_or_default().to_string_lossy()
            );
            out.push((name, fs::read(&example)?));
        }
    }
    Ok(out)
}

/// Envelopes as the server writes them.
fn envelopes() -> Result<Vec<(String, Vec<u8>)>> {
    Ok(vec![
        (
            "envelope_device_information.xml".into(),
            command_envelope("9F09D114-BCFD-42AD-A974-371AA7D6256E", device_information(&["UDID"]))?,
        ),
        (
            "envelope_security_info.xml".into(),
            command_envelope("C1", security_info())?,
        ),
    ])
}

/// Signed sim bodies in each framing, an untrusted signer, and an attached signature.
fn signatures(
    rsa: &DeviceIdentity,
    ec: &DeviceIdentity,
    checkins: &[(String, Vec<u8>)],
    reports: &[(String, Vec<u8>)],
) -> Result<Vec<(String, Vec<u8>)>> {
    let b64 = |h: &str| base64::engine::general_purpose::STANDARD.decode(h);
    let token_update = &checkins[1].1;
    let acknowledged = &reports[1].1;
    let idle = &reports[0].1;
    let mut out = Vec::new();
    for (name, identity, digest, body) in [
        ("rsa_sha256_token_update", rsa, MdmDigest::Sha256, token_update),
        ("ec_sha256_acknowledged", ec, MdmDigest::Sha256, acknowledged),
        ("ec_sha1_idle", ec, MdmDigest::Sha1, idle),
    ] {
        let header = identity.sign_mdm(body, digest)?;
        out.push((format!("{name}.der"), join(DER, &b64(&header)?, body)));
        out.push((format!("{name}.folded"), join(DER_FOLDED, &b64(&header)?, body)));
        out.push((format!("{name}.text"), join(TEXT, header.as_bytes(), body)));
    }
    let stranger = with_other_ca(|ca| Ok(ca.issue_device_identity("stranger", KeyKind::EcdsaP256, 3650)?))?;
    let header = stranger.sign_mdm(idle, MdmDigest::Sha256)?;
    out.push(("untrusted_signer.der".into(), join(DER, &b64(&header)?, idle)));
    let attached = rsa.sign_attached(token_update, &[])?;
    out.push(("attached_profile_answer.der".into(), join(DER, &attached, b"")));
    // BER, as `openssl cms -sign -stream` and Apple devices send it: indefinite lengths and
    // chunked OCTET STRINGs, detached and attached.
    let header = rsa.sign_mdm(token_update, MdmDigest::Sha256)?;
    let ber = der_to_ber(&b64(&header)?, 16).ok_or("BER re-encoding")?;
    out.push(("rsa_sha256_token_update.ber".into(), join(DER, &ber, token_update)));
    let ber = der_to_ber(&attached, 64).ok_or("BER re-encoding")?;
    out.push(("attached_profile_answer.ber".into(), join(DER, &ber, b"")));
    Ok(out)
}

/// The normalizer's seeds: the CMS seeds of the other targets in DER and BER, and small BER
/// shapes (nested indefinite lengths, constructed strings, long-form lengths).
fn ber_seeds(signatures: &[(String, Vec<u8>)], scep: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = vec![
        (
            "nested_indefinite".into(),
            vec![
                0x30, 0x80, 0x30, 0x80, 0x02, 0x01, 0x05, 0, 0, 0xa1, 0x80, 0x01, 0x01, 0xff, 0, 0, 0, 0,
            ],
        ),
        (
            "constructed_octets".into(),
            vec![0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x24, 0x03, 0x04, 0x01, b'c', 0, 0],
        ),
        (
            "constructed_bits".into(),
            vec![0x23, 0x08, 0x03, 0x02, 0x00, 0xaa, 0x03, 0x02, 0x04, 0xf0],
        ),
        (
            "constructed_utf8".into(),
            vec![0x2c, 0x80, 0x04, 0x01, b'h', 0x04, 0x01, b'i', 0, 0],
        ),
        ("long_length".into(), vec![0x30, 0x82, 0x00, 0x03, 0x04, 0x81, 0x00]),
        ("high_tag".into(), vec![0x7f, 0x81, 0x01, 0x80, 0x05, 0x00, 0, 0]),
    ];
    for (name, bytes) in signatures.iter().filter(|(n, _)| !n.ends_with(".text")) {
        // The CMS part of the mdm_signature framing: [mode][u16 length][DER][body].
        if let Some(len) = bytes.get(1..3).map(|l| usize::from(u16::from_be_bytes([l[0], l[1]]))) {
            if let Some(cms) = bytes.get(3..3 + len) {
                out.push((format!("signature_{name}"), cms.to_vec()));
            }
        }
    }
    for (name, der) in scep {
        out.push((format!("scep_{name}"), der.clone()));
        if let Some(ber) = der_to_ber(der, 32) {
            out.push((format!("scep_{name}.ber"), ber));
        }
    }
    out
}

/// SCEP requests from the project's client with each cipher, a renewal, a request sealed to
/// another CA, and the server's CertReps.
fn scep(ca: &Ca, current: &DeviceIdentity) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for (name, cipher) in [
        ("aes128", ContentCipher::Aes128Cbc),
        ("aes192", ContentCipher::Aes192Cbc),
        ("aes256", ContentCipher::Aes256Cbc),
        ("des3", ContentCipher::DesEde3Cbc),
        ("des", ContentCipher::DesCbc),
    ] {
        let req = pkcs_req(ca.cert_der(), "CN=device-1,O=Annal", Some("s3cret"), cipher)?;
        out.push((format!("pkcsreq_{name}.der"), req.der));
    }
    let bare = pkcs_req(ca.cert_der(), "CN=device-2", None, ContentCipher::Aes256Cbc)?;
    out.push(("pkcsreq_no_challenge.der".into(), bare.der.clone()));
    out.push((
        "renewalreq.der".into(),
        renewal_req(ca.cert_der(), current, ContentCipher::Aes128Cbc)?.der,
    ));
    let other_cert = with_other_ca(|other| Ok(other.cert_der().to_vec()))?;
    let misdirected = pkcs_req(&other_cert, "CN=device-3", Some("x"), ContentCipher::Aes128Cbc)?;
    out.push(("pkcsreq_other_ca.der".into(), misdirected.der));
    let failed = cert_rep(
        ca,
        &bare.transaction_id,
        &[1; 16],
        CertRepReply::Failed(FailInfo::BadRequest),
        Utc::now(),
    )?;
    out.push(("certrep_failure.der".into(), failed));
    let issued = ca.issue_device_identity("device-2", KeyKind::Rsa2048, 365)?;
    let success = cert_rep(
        ca,
        &bare.transaction_id,
        &[2; 16],
        CertRepReply::Issued {
            certificate: &issued.cert_der,
            recipient_cert_der: &current.cert_der,
            cipher: ContentCipher::Aes256Cbc,
        },
        Utc::now(),
    )?;
    out.push(("certrep_success.der".into(), success));
    // BER, as some SCEP clients send it: indefinite lengths, a chunked eContent.
    let streamed = pkcs_req(ca.cert_der(), "CN=device-4", Some("s3cret"), ContentCipher::Aes256Cbc)?;
    let ber = der_to_ber(&streamed.der, 32).ok_or("BER re-encoding")?;
    out.push(("pkcsreq_aes256.ber".into(), ber));
    Ok(out)
}

/// A second CA, made in a temporary directory and removed: for signers nobody trusts.
fn with_other_ca<T>(f: impl FnOnce(&Ca) -> Result<T>) -> Result<T> {
    let dir = std::env::temp_dir().join(format!("annal-fuzz-seeds-{}", std::process::id()));
    let result = Ca::load_or_init(&dir).map_err(Into::into).and_then(|ca| f(&ca));
    let _ = fs::remove_dir_all(&dir);
    result
}

/// Replaces `corpus/<target>/` with `seeds`.
fn write(root: &Path, target: &str, seeds: &[(String, Vec<u8>)]) -> Result<()> {
    let dir = root.join("corpus").join(target);
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir_all(&dir)?;
    for (name, bytes) in seeds {
        fs::write(dir.join(name), bytes)?;
    }
    println!("{target}: {} seeds", seeds.len());
    Ok(())
}
