//! `--device-profile` and its granular flags, shared by `annal sim` and `annal bench mdm`.

use annal::testkit::sim::WireProfile;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceProfile {
    /// The cheap load generator: mostly ECDSA identities, DER signatures, keep-alive.
    Sim,
    /// As real Apple devices: RSA-2048 identities, Mdm-Signature on every request (never a
    /// TLS client certificate), BER signatures on every third message, no Content-Type on the
    /// command channel, a new connection every fourth request.
    Real,
}

#[derive(Debug, Clone, clap::Args)]
pub struct WireArgs {
    /// How the simulated devices behave on the wire. The flags below change one aspect of it.
    #[arg(long, value_enum, default_value = "sim")]
    pub device_profile: DeviceProfile,
    /// RSA-2048 identities for every device (`--rsa-identities=false` to turn off).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub rsa_identities: Option<bool>,
    /// Every Nth signed message of a device carries a BER signature (indefinite lengths);
    /// 0: DER only.
    #[arg(long, value_name = "N")]
    pub ber_every: Option<u64>,
    /// Send command-channel requests (Idle, results) without a Content-Type header
    /// (`--omit-content-type=false` to send it).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub omit_content_type: Option<bool>,
    /// Every Nth request of a device closes its connection, so the next one opens a new
    /// connection; 0: keep-alive throughout.
    #[arg(long, value_name = "N")]
    pub reconnect_every: Option<u64>,
}

impl WireArgs {
    pub fn profile(&self) -> WireProfile {
        let base = match self.device_profile {
            DeviceProfile::Sim => WireProfile::default(),
            DeviceProfile::Real => WireProfile::real(),
        };
        WireProfile {
            rsa_identities: self.rsa_identities.unwrap_or(base.rsa_identities),
            ber_every: self.ber_every.unwrap_or(base.ber_every),
            omit_content_type: self.omit_content_type.unwrap_or(base.omit_content_type),
            reconnect_every: self.reconnect_every.unwrap_or(base.reconnect_every),
            signature_only: base.signature_only,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        wire: WireArgs,
    }

    fn profile(args: &[&str]) -> WireProfile {
        Cli::try_parse_from([&["annal"], args].concat())
            .expect("parses")
            .wire
            .profile()
    }

    #[test]
    fn the_real_profile_and_its_granular_overrides() {
        assert_eq!(profile(&[]), WireProfile::default());
        assert_eq!(profile(&["--device-profile", "real"]), WireProfile::real());
        let without = profile(&[
            "--device-profile",
            "real",
            "--ber-every",
            "0",
            "--omit-content-type=false",
        ]);
        assert_eq!(
            without,
            WireProfile {
                ber_every: 0,
                omit_content_type: false,
                ..WireProfile::real()
            }
        );
        let alone = profile(&["--omit-content-type", "--reconnect-every", "2"]);
        assert!(alone.omit_content_type && alone.reconnect_every == 2 && !alone.rsa_identities);
    }
}
