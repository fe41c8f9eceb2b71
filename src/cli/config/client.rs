//! The admin CLI's connection from the same configuration file as `serve`: the server's
//! address from `listen` and `behind_proxy`, the name its certificate carries from
//! `hostnames`, the trust root from `tls_cert`. They become the defaults of `--server`,
//! `--server-name` and `--ca-file`, below ANNAL_SERVER… and the command line.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::keys::Key;

/// `(argument id, default)` for the admin API connection, from the file's values. Empty when
/// the file says nothing about where the server listens or what it serves.
pub fn defaults(values: &[(Key, Vec<String>)]) -> Vec<(&'static str, String)> {
    let value = |id: &str| values.iter().find(|(k, _)| k.id == id && !k.global).map(|(_, v)| v);
    let first = |id: &str| value(id).and_then(|v| v.first()).cloned();
    let listen: Option<SocketAddr> = first("listen").and_then(|l| l.parse().ok());
    let behind_proxy = first("behind_proxy").is_some_and(|b| b == "true");
    let hostnames = value("hostnames").cloned().unwrap_or_default();
    let tls_cert = first("tls_cert");
    if listen.is_none() && hostnames.is_empty() && tls_cert.is_none() && !behind_proxy {
        return Vec::new();
    }
    // serve's own default when the file names only the certificate's side.
    let listen = listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8443)));
    // A wildcard address is reached on loopback, from the machine the server runs on.
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let scheme = if behind_proxy { "http" } else { "https" };
    let mut out = vec![("server", format!("{scheme}://{}", SocketAddr::new(ip, listen.port())))];
    if behind_proxy {
        return out;
    }
    // The certificate names the configured hostnames; unless one of them is the address the
    // CLI connects to, it checks the certificate against the first.
    let connect_name = ip.to_string();
    if let Some(name) = hostnames.first() {
        if !hostnames
            .iter()
            .any(|h| h == &connect_name || (h.eq_ignore_ascii_case("localhost") && ip.is_loopback()))
        {
            out.push(("server_name", name.clone()));
        }
    }
    if let Some(cert) = tls_cert {
        out.push(("ca_file", cert));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::keys::{Key, Kind};
    use super::defaults;

    fn key(id: &str, kind: Kind) -> Key {
        Key {
            table: None,
            name: id.into(),
            id: id.into(),
            global: false,
            kind,
            secret: false,
            env: None,
        }
    }

    fn values(pairs: &[(&str, &[&str])]) -> Vec<(Key, Vec<String>)> {
        pairs
            .iter()
            .map(|(id, v)| {
                let kind = if *id == "hostnames" { Kind::List } else { Kind::Text };
                (key(id, kind), v.iter().map(|s| s.to_string()).collect())
            })
            .collect()
    }

    #[test]
    fn the_example_configuration_is_reached_on_loopback_checked_against_its_hostname() {
        let got = defaults(&values(&[
            ("listen", &["0.0.0.0:8443"]),
            ("hostnames", &["mdm.example.com"]),
        ]));
        assert_eq!(
            got,
            vec![
                ("server", "https://127.0.0.1:8443".to_string()),
                ("server_name", "mdm.example.com".to_string())
            ]
        );
    }

    #[test]
    fn a_specific_address_an_ipv6_wildcard_a_proxy_and_an_own_certificate() {
        let got = defaults(&values(&[("listen", &["10.1.2.3:443"]), ("hostnames", &["10.1.2.3"])]));
        assert_eq!(got, vec![("server", "https://10.1.2.3:443".to_string())]);
        let got = defaults(&values(&[("listen", &["[::]:8443"])]));
        assert_eq!(got, vec![("server", "https://[::1]:8443".to_string())]);
        let got = defaults(&values(&[
            ("listen", &["0.0.0.0:8080"]),
            ("behind_proxy", &["true"]),
            ("hostnames", &["mdm.example.com"]),
        ]));
        assert_eq!(got, vec![("server", "http://127.0.0.1:8080".to_string())]);
        let got = defaults(&values(&[
            ("tls_cert", &["/etc/annal/fullchain.pem"]),
            ("hostnames", &["localhost"]),
        ]));
        assert_eq!(
            got,
            vec![
                ("server", "https://127.0.0.1:8443".to_string()),
                ("ca_file", "/etc/annal/fullchain.pem".to_string())
            ]
        );
    }

    #[test]
    fn a_file_that_says_nothing_about_serving_changes_nothing() {
        assert!(defaults(&values(&[("ready_max_lag", &["5"])])).is_empty());
    }
}
