//! `annal vendor sign` over the real binary, with keys, certificates and the CSR made by the
//! openssl CLI (as the seed papers make them), and the signature checked by `openssl dgst`.

use std::path::Path;
use std::process::{Command, Output};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

/// Runs a program with a whitespace-separated argument line (no argument here has spaces).
fn run(program: &str, dir: &Path, line: &str) -> Output {
    Command::new(program)
        .args(line.split_whitespace())
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"))
}

fn openssl(dir: &Path, line: &str) {
    let out = run("openssl", dir, line);
    assert!(
        out.status.success(),
        "openssl {line}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn annal(dir: &Path, line: &str) -> Output {
    run(env!("CARGO_BIN_EXE_annal"), dir, line)
}

/// vendor.key (PKCS#1, as `openssl genrsa -traditional` writes it), mdm.pem (the vendor
/// certificate), root.cer (DER, a stand-in for Apple's root) and customer.der (the CSR).
fn fixtures(dir: &Path) {
    openssl(dir, "genrsa -traditional -out vendor.key 2048");
    openssl(
        dir,
        "req -new -x509 -key vendor.key -subj /CN=MDM-Vendor/O=Example -days 30 -out mdm.pem",
    );
    let root = "-keyout root.key -subj /CN=Stand-in-Root -days 30 -outform DER -out root.cer";
    openssl(dir, &format!("req -new -x509 -newkey rsa:2048 -nodes {root}"));
    let customer = "-keyout customer.key -subj /CN=Customer/O=Customer-Inc -outform DER -out customer.der";
    openssl(dir, &format!("req -new -newkey rsa:2048 -nodes {customer}"));
}

const SIGN: &str = "vendor sign --csr customer.der --vendor-cert mdm.pem";

#[test]
fn vendor_sign_writes_a_request_openssl_verifies_and_inspect_reads_back() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    fixtures(dir);
    let out = annal(
        dir,
        &format!("{SIGN} --vendor-key vendor.key --chain root.cer --out plist_encoded"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let encoded = std::fs::read_to_string(dir.join("plist_encoded")).expect("written");
    let xml = B64.decode(encoded.trim()).expect("base64");
    let dict: plist::Dictionary = plist::from_bytes(&xml).expect("an XML plist dictionary");
    let text = |k: &str| {
        dict.get(k)
            .and_then(|v| v.as_string())
            .unwrap_or_else(|| panic!("{k}"))
            .to_owned()
    };
    let b64 = |k: &str| B64.decode(text(k)).expect("base64 value");

    assert_eq!(
        b64("PushCertRequestCSR"),
        std::fs::read(dir.join("customer.der")).expect("csr")
    );
    let chain = text("PushCertCertificateChain");
    assert_eq!(chain.matches("-----BEGIN CERTIFICATE-----").count(), 2);
    let vendor_pem = std::fs::read_to_string(dir.join("mdm.pem")).expect("mdm.pem");
    assert!(chain.starts_with(&vendor_pem), "vendor certificate first");

    std::fs::write(dir.join("sig.bin"), b64("PushCertSignature")).expect("sig");
    openssl(dir, "x509 -in mdm.pem -pubkey -noout -out vendor.pub");
    openssl(dir, "dgst -sha256 -verify vendor.pub -signature sig.bin customer.der");

    let inspect = annal(dir, "vendor inspect-request plist_encoded");
    assert!(inspect.status.success(), "{}", String::from_utf8_lossy(&inspect.stderr));
    let shown = String::from_utf8_lossy(&inspect.stdout);
    assert!(
        shown.contains("CN=Customer, O=Customer-Inc") && shown.contains("CN=Stand-in-Root"),
        "{shown}"
    );
}

#[test]
fn vendor_sign_refuses_a_key_that_is_not_the_vendor_certificates() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    fixtures(dir);
    let out = annal(dir, &format!("{SIGN} --vendor-key root.key"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not belong to the vendor certificate"), "{err}");
    assert!(out.stdout.is_empty(), "nothing is written on a refusal");
}
