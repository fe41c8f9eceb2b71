//! What to do with a server certificate Annal's CA issued on an earlier start: keep it, issue
//! a new one (the names asked for changed, or it expires soon), or refuse to start because
//! only the admin can decide (it came from a CA Annal no longer holds). Pure: the files are
//! read and written by `tls.rs`.

use chrono::{DateTime, Duration, Utc};

/// Annal-issued certificates last 397 days; a new one is issued when fewer than this many
/// are left, on start and by the running server's daily check.
pub const RENEW_BEFORE_DAYS: i64 = 30;

/// The certificate found in `<data-dir>/tls/server.pem`.
#[derive(Debug, Clone)]
pub struct Issued {
    /// Its subjectAltName entries (DNS names lowercased, IP addresses as text).
    pub names: Vec<String>,
    pub not_after: DateTime<Utc>,
    /// Whether the CA certificate that follows it in the file is Annal's current CA.
    pub from_current_ca: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    /// Issue a new one from the current CA, for this reason (logged).
    Reissue(String),
    /// Keep it, but say this (a CA rotation keeps the old certificate on purpose).
    KeepWithWarning(String),
    /// Do not start: serving it would send devices to a name it does not carry.
    Refuse(String),
}

pub fn decide(issued: &Issued, wanted: &[String], now: DateTime<Utc>) -> Verdict {
    let missing: Vec<&String> = wanted.iter().filter(|w| !covers(&issued.names, w)).collect();
    let expiring = issued.not_after - now < Duration::days(RENEW_BEFORE_DAYS);
    if !missing.is_empty() {
        let missing = join(&missing);
        if issued.from_current_ca {
            return Verdict::Reissue(format!(
                "it does not name {missing} (it names {}): the hostnames changed",
                issued.names.join(", ")
            ));
        }
        return Verdict::Refuse(format!(
            "it does not name {missing} (it names {}) and was issued by another CA than Annal's current one \
             (a CA rotation kept it): move it aside to have one issued by the new CA, or give your own \
             with --tls-cert/--tls-key",
            issued.names.join(", ")
        ));
    }
    if expiring {
        if issued.from_current_ca {
            return Verdict::Reissue(format!("it expires at {}", issued.not_after));
        }
        return Verdict::KeepWithWarning(format!(
            "it expires at {} and was issued by another CA than Annal's current one, so Annal cannot renew it: \
             finish the CA rotation (ops/runbooks/ca-rotation.md)",
            issued.not_after
        ));
    }
    Verdict::Keep
}

/// Whether a certificate's names cover `host` as a TLS client checks it: exact (DNS names
/// without case), or one wildcard label on the left (`*.example.com` covers `a.example.com`,
/// not `example.com` nor `a.b.example.com`).
pub fn covers(names: &[String], host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    names.iter().any(|name| {
        let name = name.to_ascii_lowercase();
        if name == host {
            return true;
        }
        match (name.strip_prefix("*."), host.split_once('.')) {
            (Some(suffix), Some((label, rest))) => !label.is_empty() && rest == suffix,
            _ => false,
        }
    })
}

fn join(names: &[&String]) -> String {
    names.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued(names: &[&str], days_left: i64, from_current_ca: bool) -> Issued {
        Issued {
            names: names.iter().map(|s| s.to_string()).collect(),
            not_after: Utc::now() + Duration::days(days_left),
            from_current_ca,
        }
    }

    fn wanted(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_certificate_naming_what_is_asked_and_far_from_expiry_is_kept() {
        let cert = issued(&["localhost", "127.0.0.1"], 300, true);
        assert_eq!(decide(&cert, &wanted(&["LOCALHOST"]), Utc::now()), Verdict::Keep);
        assert_eq!(
            decide(&cert, &wanted(&["localhost", "127.0.0.1"]), Utc::now()),
            Verdict::Keep
        );
    }

    #[test]
    fn a_new_hostname_reissues_from_the_current_ca_and_refuses_a_certificate_from_an_old_one() {
        let wanted = wanted(&["mdm.example.com"]);
        let reissue = decide(&issued(&["localhost", "127.0.0.1"], 300, true), &wanted, Utc::now());
        assert!(
            matches!(&reissue, Verdict::Reissue(why) if why.contains("mdm.example.com")),
            "{reissue:?}"
        );
        let refuse = decide(&issued(&["localhost"], 300, false), &wanted, Utc::now());
        assert!(
            matches!(&refuse, Verdict::Refuse(why) if why.contains("mdm.example.com") && why.contains("another CA")),
            "{refuse:?}"
        );
    }

    #[test]
    fn a_certificate_close_to_expiry_is_renewed_or_warned_about() {
        let wanted = wanted(&["localhost"]);
        let renew = decide(
            &issued(&["localhost"], RENEW_BEFORE_DAYS - 1, true),
            &wanted,
            Utc::now(),
        );
        assert!(
            matches!(&renew, Verdict::Reissue(why) if why.contains("expires")),
            "{renew:?}"
        );
        let warn = decide(&issued(&["localhost"], 5, false), &wanted, Utc::now());
        assert!(matches!(warn, Verdict::KeepWithWarning(_)), "{warn:?}");
        let keep = decide(
            &issued(&["localhost"], RENEW_BEFORE_DAYS + 1, true),
            &wanted,
            Utc::now(),
        );
        assert_eq!(keep, Verdict::Keep);
    }

    #[test]
    fn wildcards_cover_one_label_only() {
        let names = wanted(&["*.example.com", "10.0.0.1"]);
        assert!(covers(&names, "mdm.example.com"));
        assert!(covers(&names, "MDM.Example.com."));
        assert!(!covers(&names, "example.com"));
        assert!(!covers(&names, "a.mdm.example.com"));
        assert!(covers(&names, "10.0.0.1"));
        assert!(!covers(&names, "10.0.0.2"));
        assert!(covers(&wanted(&["::1"]), "[::1]"));
    }
}
