//! The parts of an http(s) URL that Annal reads: the host (checked against a certificate's
//! names, against loopback), and what may be shown of a URL whose path or userinfo can be a
//! token (a webhook URL): its scheme and host. One parser, so the three agree.

/// `https://user@host:port/path` → `host`; an IPv6 literal without its brackets. None without
/// a scheme or a host.
pub fn host(url: &str) -> Option<&str> {
    let authority = authority(url)?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => authority.split(':').next()?,
    };
    (!host.is_empty()).then_some(host)
}

/// `scheme://host[:port]`, never the userinfo, path or query.
pub fn scheme_and_host(url: &str) -> String {
    match (url.split_once("://"), authority(url)) {
        (Some((scheme, _)), Some(authority)) => format!("{scheme}://{authority}"),
        _ => "a URL without a scheme".into(),
    }
}

/// Whether `url` names this machine: `localhost` or a loopback address.
pub fn is_loopback(url: &str) -> bool {
    host(url).is_some_and(|h| {
        h.eq_ignore_ascii_case("localhost") || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    })
}

/// The authority without userinfo: `host[:port]`.
fn authority(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    Some(authority.rsplit_once('@').map_or(authority, |(_, a)| a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_ports_userinfo_and_ipv6() {
        assert_eq!(host("https://mdm.example.com:8443/x"), Some("mdm.example.com"));
        assert_eq!(host("https://mdm.example.com"), Some("mdm.example.com"));
        assert_eq!(host("https://[::1]:8443"), Some("::1"));
        assert_eq!(host("http://u:p@hooks.example.com/T0K3N"), Some("hooks.example.com"));
        assert_eq!(host("nope"), None);
        assert_eq!(host("https:///path"), None);
        assert_eq!(
            scheme_and_host("http://u:p@hooks.example.com:81/T0K3N?x=1"),
            "http://hooks.example.com:81"
        );
        assert_eq!(scheme_and_host("hooks.example.com/T0K3N"), "a URL without a scheme");
    }

    #[test]
    fn loopback_is_this_machine_only() {
        for yes in ["http://127.0.0.1:9000/h", "http://localhost/h", "http://[::1]:80/"] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "http://10.0.0.1/",
            "http://localhost.evil.com/",
            "http://evil.com/@localhost",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }
}
