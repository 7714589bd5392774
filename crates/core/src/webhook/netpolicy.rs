//! Which addresses a delivery may connect to: the SSRF guard's rules.
//!
//! Endpoint URLs come from users, so without a guard a webhook could make
//! tradehook call its own admin API, the host's loopback services or the
//! cloud metadata service (which hands out credentials). The caller
//! resolves the host, checks **every** address with [`NetPolicy::check`],
//! and then connects only to an address it checked, so a second DNS answer
//! cannot swap in a private address (DNS rebinding).
//!
//! The blocked set is Svix's (see the table in `delivery.md`), plus the
//! deprecated site-local `fec0::/10` and Teredo `2001::/32`, which tunnel
//! to arbitrary IPv4. IPv6 forms that embed an IPv4 address (mapped
//! `::ffff:a.b.c.d`, compatible `::a.b.c.d`, translated `::ffff:0:a.b.c.d`)
//! are judged by the IPv4 address. This module does no DNS and no IO.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Cloud metadata and credential services. They stay refused even when an
/// allow-list opens the range around them: an operator opening
/// `169.254.0.0/16` for a link-local receiver should not also hand out the
/// host's cloud credentials.
pub const METADATA_ADDRESSES: [IpAddr; 6] = [
    // AWS, GCP, Azure, DigitalOcean, Oracle, OpenStack…
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    // AWS ECS task credentials and EKS pod identity.
    IpAddr::V4(Ipv4Addr::new(169, 254, 170, 2)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 170, 23)),
    // AWS over IPv6 (metadata, EKS pod identity).
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x23)),
    // Alibaba Cloud.
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
];

/// Why `ip` may not be contacted, or `None` if it is a public address.
pub fn blocked_reason(ip: IpAddr) -> Option<&'static str> {
    let ip = canonical(ip);
    if METADATA_ADDRESSES.contains(&ip) {
        return Some("cloud metadata service");
    }
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

/// The IPv4 address an IPv6 address stands for, if any; otherwise `ip`.
fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    let s = v6.segments();
    if v6.is_unspecified() || v6.is_loopback() {
        return ip;
    }
    let embeds_v4 = s[..4] == [0; 4] && matches!((s[4], s[5]), (0, 0) | (0, 0xffff) | (0xffff, 0));
    if embeds_v4 {
        let [.., a, b, c, d] = v6.octets();
        return IpAddr::V4(Ipv4Addr::new(a, b, c, d));
    }
    ip
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, d] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "\"this network\" (0.0.0.0/8)",
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => "private network",
        (100, 64..=127, _) => "shared address space / CGNAT (100.64.0.0/10)",
        (127, _, _) => "loopback",
        (169, 254, _) => "link-local",
        (192, 0, 0) => "IETF protocol assignments (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation range",
        (192, 88, 99) => "6to4 relay anycast (192.88.99.0/24)",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        (224..=239, _, _) => "multicast",
        (255, 255, 255) if d == 255 => "broadcast",
        (240..=255, _, _) => "reserved (240.0.0.0/4)",
        _ => return None,
    })
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    Some(match s {
        _ if ip.is_unspecified() => "unspecified address",
        _ if ip.is_loopback() => "loopback",
        [x, ..] if x & 0xffc0 == 0xfe80 => "link-local (fe80::/10)",
        [x, ..] if x & 0xffc0 == 0xfec0 => "site-local (fec0::/10, deprecated)",
        [x, ..] if x & 0xfe00 == 0xfc00 => "unique local (fc00::/7)",
        [x, ..] if x & 0xff00 == 0xff00 => "multicast",
        [0x2001, 0x0db8, ..] => "documentation range (2001:db8::/32)",
        [0x3fff, y, ..] if y & 0xf000 == 0 => "documentation range (3fff::/20)",
        [0x0100, 0, 0, 0, ..] => "discard-only (100::/64)",
        [0x2001, 0, ..] => "Teredo tunnel (2001::/32)",
        [0x2002, ..] => "6to4 (2002::/16)",
        [0x0064, 0xff9b, 0, 0, 0, 0, ..] => "NAT64 (64:ff9b::/96)",
        [0x0064, 0xff9b, 1, ..] => "local-use NAT64 (64:ff9b:1::/48)",
        [0x5f00, ..] => "SRv6 SIDs (5f00::/16)",
        _ => return None,
    })
}

/// An address the policy refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("address {ip} is not allowed: {reason}")]
pub struct Blocked {
    pub ip: IpAddr,
    pub reason: &'static str,
}

/// An allow-list entry that is not an address or a network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("allow-list entry \"{0}\" is not an IP address or CIDR network (e.g. 10.0.0.0/8)")]
pub struct AllowListError(pub String);

/// The blocked set with the operator's exceptions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetPolicy {
    allow: Vec<IpNet>,
}

impl NetPolicy {
    /// A policy that opens `allow` inside the blocked ranges (except the
    /// metadata services).
    pub fn new(allow: Vec<IpNet>) -> Self {
        Self { allow }
    }

    /// Reads a comma-separated list such as `127.0.0.1/32,10.0.0.0/8`;
    /// a bare address means just that address. An empty string is an empty
    /// list.
    pub fn parse_allow_list(text: &str) -> Result<Self, AllowListError> {
        let allow = text
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| AllowListError(entry.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { allow })
    }

    pub fn allow(&self) -> &[IpNet] {
        &self.allow
    }

    /// Whether a delivery may connect to `ip`.
    pub fn check(&self, ip: IpAddr) -> Result<(), Blocked> {
        let Some(reason) = blocked_reason(ip) else {
            return Ok(());
        };
        let canon = canonical(ip);
        let opened = !METADATA_ADDRESSES.contains(&canon)
            && self
                .allow
                .iter()
                .any(|net| net.contains(&ip) || net.contains(&canon));
        if opened {
            Ok(())
        } else {
            Err(Blocked { ip, reason })
        }
    }
}

/// Why an endpoint URL's scheme or shape was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("URL \"{0}\" has no scheme: it must start with https://")]
    NoScheme(String),
    #[error("URL scheme \"{0}\" is not supported: use https (or http where allowed)")]
    UnsupportedScheme(String),
    #[error("plain http is not allowed for endpoints: use https")]
    HttpNotAllowed,
    #[error("URL \"{0}\" has no host")]
    NoHost(String),
}

/// Checks that an endpoint URL is `https://host…`, or `http://` when the
/// operator allows it. Only the scheme and the presence of a host are
/// judged here; the caller parses the URL fully and checks its addresses.
///
/// Credentials in the URL (`https://user:pass@host/`) are allowed: some
/// receivers only offer Basic auth. They are no SSRF risk because the
/// addresses are checked after resolving the real host, but such a URL
/// is a secret and should be shown redacted.
pub fn check_url_scheme(url: &str, allow_http: bool) -> Result<(), UrlError> {
    let shown = || url.chars().take(64).collect::<String>();
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(UrlError::NoScheme(shown()));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {}
        "http" if allow_http => {}
        "http" => return Err(UrlError::HttpNotAllowed),
        _ => {
            return Err(UrlError::UnsupportedScheme(
                scheme.chars().take(32).collect(),
            ));
        }
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.rfind(':') {
        // `[::1]:8080` keeps its brackets; a bare `host:port` loses the port.
        Some(i) if !host_port[i..].contains(']') => &host_port[..i],
        _ => host_port,
    };
    if host.is_empty() || host == "[]" {
        return Err(UrlError::NoHost(shown()));
    }
    Ok(())
}

#[cfg(test)]
#[path = "netpolicy_tests.rs"]
mod tests;
