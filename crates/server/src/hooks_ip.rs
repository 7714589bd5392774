//! The optional source-address allowlist of the TradingView intake.
//!
//! `tradingview.allowed_ips` lists the addresses (or CIDR networks) that
//! may post signals; empty lets anyone in (the token in the URL is the
//! real credential). Behind a reverse proxy the peer is the proxy, so
//! `X-Forwarded-For` is read, but only when the peer is one of
//! `tradingview.trusted_proxies`: the header is walked from the right,
//! skipping trusted proxies, and the first other address is the client.
//! A client that forges the header gains nothing: its own address is the
//! last one any trusted proxy appends. A refused address gets 403
//! `ip_not_allowed` and nothing is recorded.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;

use crate::error::ApiError;
use crate::state::AppState;

/// Reads a comma-separated list of addresses and CIDR networks.
pub fn parse_networks(list: &str) -> Result<Vec<IpNet>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{s}` is not an IP address or CIDR network"))
        })
        .collect()
}

fn contains(nets: &[IpNet], ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    nets.iter().any(|n| n.contains(&ip))
}

/// The client's address: the peer, or (when the peer is a trusted proxy)
/// the rightmost untrusted address of `X-Forwarded-For`.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    if !contains(trusted, peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !contains(trusted, **ip))
        .or(forwarded.first())
        .copied()
        .unwrap_or(peer)
}

/// Refuses intake requests from addresses outside the allowlist.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let tv = &state.config.tradingview;
    if tv.allowed_ips.trim().is_empty() {
        return next.run(req).await;
    }
    // Both lists are checked by `Config::validate` at start.
    let allowed = parse_networks(&tv.allowed_ips).unwrap_or_default();
    let trusted = parse_networks(&tv.trusted_proxies).unwrap_or_default();
    let Some(peer) = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
    else {
        return ApiError::Forbidden("the source address is unknown".into()).into_response();
    };
    let client = client_addr(peer, req.headers(), &trusted);
    if contains(&allowed, client) {
        return next.run(req).await;
    }
    metrics::counter!("tradehook_signals_total", "outcome" => "ip_not_allowed").increment(1);
    ApiError::IpNotAllowed(client.to_string()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn lists_parse_addresses_and_networks() {
        let nets = parse_networks("52.89.214.238, 10.0.0.0/8,,::1").unwrap();
        assert_eq!(nets.len(), 3);
        assert!(contains(&nets, ip("10.1.2.3")));
        assert!(contains(&nets, ip("52.89.214.238")));
        assert!(!contains(&nets, ip("52.89.214.239")));
        // An IPv4 peer seen on a dual-stack socket.
        assert!(contains(&nets, ip("::ffff:10.9.9.9")));
        assert!(parse_networks("52.89.214").is_err());
        assert!(parse_networks("").unwrap().is_empty());
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let trusted = parse_networks("127.0.0.1, 10.0.0.0/8").unwrap();
        // A direct client cannot claim another address.
        assert_eq!(
            client_addr(ip("203.0.113.9"), &headers(&["52.89.214.238"]), &trusted),
            ip("203.0.113.9")
        );
        // Behind the proxy: the address the proxy appended.
        assert_eq!(
            client_addr(ip("127.0.0.1"), &headers(&["52.89.214.238"]), &trusted),
            ip("52.89.214.238")
        );
        // A forged entry on the left is skipped: the rightmost untrusted
        // address is the one the trusted proxy saw.
        assert_eq!(
            client_addr(
                ip("127.0.0.1"),
                &headers(&["52.89.214.238, 203.0.113.9", "10.0.0.5"]),
                &trusted
            ),
            ip("203.0.113.9")
        );
        // No header: the proxy itself.
        assert_eq!(
            client_addr(ip("127.0.0.1"), &headers(&[]), &trusted),
            ip("127.0.0.1")
        );
    }
}
