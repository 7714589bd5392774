use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Every test address of the SSRF table in `delivery.md`.
const BLOCKED: &[&str] = &[
    "0.0.0.0",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",
    "127.0.0.1",
    "169.254.169.254",
    "192.0.0.8",
    "192.0.2.1",
    "198.51.100.1",
    "203.0.113.1",
    "192.88.99.1",
    "198.18.0.1",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "fe80::1",
    "fd00::1",
    "ff02::1",
    "2001:db8::1",
    "3fff::1",
    "100::1",
    "2002:7f00:1::",
    "64:ff9b::7f00:1",
    "5f00::1",
];

/// The edges of each range, so an off-by-one in a mask shows.
const BLOCKED_EDGES: &[&str] = &[
    "0.255.255.255",
    "10.255.255.255",
    "172.31.255.255",
    "192.168.255.255",
    "100.127.255.255",
    "127.255.255.254",
    "169.254.0.1",
    "198.19.255.255",
    "239.255.255.255",
    "fd7a:115c:a1e0::1",
    "fc00::1",
    "febf::1",
    "ff00::",
    "2001:db8:ffff::1",
    "3fff:0fff::1",
    "100::ffff:ffff:ffff:ffff",
    "2002::",
    "64:ff9b::",
    "64:ff9b:1:ffff::1",
    "5f00:ffff::1",
    "fec0::1",
    "2001:0:4136:e378::1",
    "fd00:ec2::254",
    "100.100.100.200",
];

const ALLOWED: &[&str] = &[
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "9.255.255.255",
    "11.0.0.0",
    "172.15.255.255",
    "172.32.0.0",
    "100.63.255.255",
    "100.128.0.0",
    "169.253.255.255",
    "192.0.1.1",
    "192.88.98.1",
    "198.17.255.255",
    "198.20.0.0",
    "223.255.255.255",
    "2001:db9::1",
    "3fff:1000::1",
    "100:0:0:1::1",
    "64:ff9b:2::1",
    "2001:4860:4860::8888",
    "2a00:1450:4001::1",
];

#[test]
fn every_address_in_the_reference_table_is_blocked() {
    for addr in BLOCKED.iter().chain(BLOCKED_EDGES) {
        assert!(
            blocked_reason(ip(addr)).is_some(),
            "{addr} should be blocked"
        );
    }
}

#[test]
fn public_addresses_and_range_neighbours_stay_allowed() {
    for addr in ALLOWED {
        assert_eq!(blocked_reason(ip(addr)), None, "{addr} should be allowed");
    }
}

#[test]
fn ipv4_inside_ipv6_is_judged_as_ipv4() {
    let cases = [
        ("::ffff:127.0.0.1", "loopback"),
        ("::127.0.0.1", "loopback"),
        ("::ffff:0:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private network"),
    ];
    for (addr, reason) in cases {
        assert_eq!(blocked_reason(ip(addr)), Some(reason), "{addr}");
    }
    assert_eq!(
        blocked_reason(ip("::ffff:169.254.169.254")),
        Some("cloud metadata service")
    );
    assert_eq!(blocked_reason(ip("::ffff:8.8.8.8")), None);
    assert_eq!(blocked_reason(ip("::8.8.8.8")), None);
    assert_eq!(blocked_reason(ip("::1")), Some("loopback"));
    assert_eq!(blocked_reason(ip("::")), Some("unspecified address"));
}

#[test]
fn reasons_name_the_kind_of_range() {
    assert_eq!(
        blocked_reason(ip("169.254.169.254")),
        Some("cloud metadata service")
    );
    assert_eq!(blocked_reason(ip("169.254.1.1")), Some("link-local"));
    assert_eq!(blocked_reason(ip("255.255.255.255")), Some("broadcast"));
    assert_eq!(
        blocked_reason(ip("255.255.255.254")),
        Some("reserved (240.0.0.0/4)")
    );
    let err = NetPolicy::default().check(ip("10.0.0.1")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "address 10.0.0.1 is not allowed: private network"
    );
}

#[test]
fn the_default_policy_blocks_the_table_and_allows_the_rest() {
    let policy = NetPolicy::default();
    for addr in BLOCKED {
        assert!(policy.check(ip(addr)).is_err(), "{addr}");
    }
    for addr in ALLOWED {
        assert_eq!(policy.check(ip(addr)), Ok(()), "{addr}");
    }
}

#[test]
fn an_allow_list_opens_loopback_for_a_local_receiver() {
    let policy = NetPolicy::parse_allow_list("127.0.0.1/32").unwrap();
    assert_eq!(policy.check(ip("127.0.0.1")), Ok(()));
    assert_eq!(policy.check(ip("::ffff:127.0.0.1")), Ok(()));
    assert!(policy.check(ip("127.0.0.2")).is_err());
    assert!(policy.check(ip("10.0.0.1")).is_err());
}

#[test]
fn metadata_services_stay_blocked_whatever_the_allow_list() {
    let policy =
        NetPolicy::parse_allow_list("169.254.0.0/16, 0.0.0.0/0, ::/0, 100.64.0.0/10").unwrap();
    assert_eq!(policy.check(ip("169.254.1.1")), Ok(()));
    assert_eq!(policy.check(ip("100.64.0.1")), Ok(()));
    assert_eq!(policy.check(ip("fd00::1")), Ok(()));
    for addr in METADATA_ADDRESSES {
        assert!(policy.check(addr).is_err(), "{addr}");
    }
    assert!(policy.check(ip("::ffff:169.254.169.254")).is_err());
    let exact = NetPolicy::parse_allow_list("169.254.169.254").unwrap();
    assert!(exact.check(ip("169.254.169.254")).is_err());
}

#[test]
fn allow_lists_parse_networks_and_bare_addresses() {
    let policy =
        NetPolicy::parse_allow_list(" 127.0.0.1/32,10.0.0.0/8 ,fd00::/8,192.168.1.5,").unwrap();
    let shown: Vec<String> = policy.allow().iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        ["127.0.0.1/32", "10.0.0.0/8", "fd00::/8", "192.168.1.5/32"]
    );
    assert_eq!(
        NetPolicy::parse_allow_list("").unwrap(),
        NetPolicy::default()
    );
}

#[test]
fn bad_allow_list_entries_are_named() {
    let err = NetPolicy::parse_allow_list("127.0.0.1/32, localhost").unwrap_err();
    assert_eq!(err, AllowListError("localhost".into()));
    assert!(err.to_string().contains("\"localhost\""));
    assert!(NetPolicy::parse_allow_list("10.0.0.0/33").is_err());
}

#[test]
fn https_is_required_unless_http_is_allowed() {
    assert_eq!(check_url_scheme("https://example.com/hook", false), Ok(()));
    assert_eq!(check_url_scheme("HTTPS://example.com", false), Ok(()));
    assert_eq!(
        check_url_scheme("http://example.com/hook", false),
        Err(UrlError::HttpNotAllowed)
    );
    assert_eq!(check_url_scheme("http://example.com/hook", true), Ok(()));
}

#[test]
fn other_schemes_and_hostless_urls_are_refused() {
    assert_eq!(
        check_url_scheme("ftp://example.com", true),
        Err(UrlError::UnsupportedScheme("ftp".into()))
    );
    assert!(matches!(
        check_url_scheme("file:///etc/passwd", true),
        Err(UrlError::UnsupportedScheme(_))
    ));
    assert!(matches!(
        check_url_scheme("example.com/hook", true),
        Err(UrlError::NoScheme(_))
    ));
    assert!(matches!(
        check_url_scheme("javascript:alert(1)", true),
        Err(UrlError::NoScheme(_))
    ));
    for url in [
        "https://",
        "https:///path",
        "https://:443/",
        "https://user@/",
        "https://[]/",
    ] {
        assert!(
            matches!(check_url_scheme(url, false), Err(UrlError::NoHost(_))),
            "{url}"
        );
    }
}

#[test]
fn credentials_and_ip_literals_in_urls_are_accepted() {
    assert_eq!(
        check_url_scheme("https://user:pass@example.com/hook", false),
        Ok(())
    );
    assert_eq!(
        check_url_scheme("https://[2606:4700::1111]:8443/x", false),
        Ok(())
    );
    assert_eq!(
        check_url_scheme("https://203.0.114.1:8443?q=1", false),
        Ok(())
    );
}
