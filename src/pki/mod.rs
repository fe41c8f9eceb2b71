//! PKI: Annal's CA, device identities, Mdm-Signature (detached CMS) verification and signing.
