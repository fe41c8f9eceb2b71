//! `annal vendor sign | inspect-request`: the MDM vendor's side of the push-certificate request
//! (seed papers 000 and 003). File I/O only; the logic is `annal::pki::vendor`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use annal::pki::vendor::{sign_push_cert_request, PushCertRequest};
use anyhow::Context;

#[derive(Debug, clap::Subcommand)]
pub enum VendorCommand {
    /// Sign a customer's CSR with the MDM vendor certificate's key, writing the base64 plist
    /// request that Apple's Push Certificates Portal (identity.apple.com) takes.
    Sign {
        /// The customer's certificate signing request (PEM or DER).
        #[arg(long)]
        csr: PathBuf,
        /// The MDM vendor certificate Apple issued (mdm.cer; PEM or DER).
        #[arg(long)]
        vendor_cert: PathBuf,
        /// The vendor certificate's private key (PEM or DER; PKCS#8 or PKCS#1; not encrypted).
        #[arg(long)]
        vendor_key: PathBuf,
        /// Certificates above the vendor certificate, in order (Apple's WWDR intermediate, then
        /// Apple's root; PEM or DER). Repeat the option for each file.
        #[arg(long)]
        chain: Vec<PathBuf>,
        /// Where to write the request; standard output when absent.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Read a signed request back: check both signatures and show the subjects.
    InspectRequest {
        /// The request (base64 as written by `vendor sign`, or its XML plist).
        file: PathBuf,
    },
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

pub fn run(cmd: VendorCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        VendorCommand::Sign {
            csr,
            vendor_cert,
            vendor_key,
            chain,
            out,
        } => {
            let chain = chain.iter().map(|p| read(p)).collect::<anyhow::Result<Vec<_>>>()?;
            let request = sign_push_cert_request(
                &read(&csr)?,
                &read(&vendor_cert)?,
                &read(&vendor_key)?,
                &chain,
                chrono::Utc::now(),
            )?;
            let encoded = request.encode()?;
            match out {
                Some(path) => {
                    std::fs::write(&path, &encoded).with_context(|| format!("writing {}", path.display()))?;
                    eprintln!(
                        "wrote {}: upload it at https://identity.apple.com/pushcert/",
                        path.display()
                    );
                }
                None => println!("{encoded}"),
            }
        }
        VendorCommand::InspectRequest { file } => {
            let summary = PushCertRequest::decode(&read(&file)?)?.verify()?;
            println!("CSR subject:     {}", summary.csr_subject);
            println!("vendor:          {}", summary.vendor_subject);
            println!("vendor expires:  {}", summary.vendor_not_after.to_rfc3339());
            for (i, subject) in summary.chain_subjects.iter().enumerate() {
                println!("chain[{i}]:        {subject}");
            }
            println!("signatures:      CSR self-signature and PushCertSignature verify");
        }
    }
    Ok(ExitCode::SUCCESS)
}
