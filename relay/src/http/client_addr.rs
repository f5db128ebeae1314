//! The client's address, for per-address limits. It is the TCP peer, unless that peer is a
//! configured trusted proxy (`--trusted-proxy` / `LATCH_TRUSTED_PROXIES`): then it is the
//! nearest address in `X-Forwarded-For` that is not itself a trusted proxy. A header from
//! anyone else is ignored, so a client can't pick its own address.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;

use super::body::{unsupported_media_type, Bare};
use crate::error::ApiError;
use crate::AppState;

/// The client's address as a limiter key ([`crate::limits::address_key`]: IPv6 by its /64);
/// "unknown" when the server has no peer address. Every per-address limit is keyed by it,
/// so it is where a [`Bare`] request (no body, no `Content-Type`: what any page can send
/// cross-site with `sendBeacon`) is refused with 415, before anything can count it against
/// the visitor's address.
pub struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        if parts.extensions.get::<Bare>().is_some() {
            return Err(unsupported_media_type());
        }
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let addr = peer.map(|ip| client_ip(ip, &parts.headers, &s.cfg.trusted_proxies));
        Ok(Self(addr.map_or_else(|| "unknown".into(), crate::limits::address_key)))
    }
}

/// The client behind `peer`: walk `X-Forwarded-For` from the right (the hop nearest to us)
/// past trusted proxies; an unparsable entry stops the walk at the last trusted hop.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    // On a dual-stack listener an IPv4 proxy arrives as ::ffff:a.b.c.d.
    let peer = peer.to_canonical();
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
            Ok(ip) if trusted.contains(&ip) => client = ip,
            Ok(ip) => return ip,
            Err(_) => break,
        }
    }
    client
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
    fn only_trusted_proxies_are_believed() {
        let lb = ip("10.0.0.2");
        let trusted = [lb, ip("10.0.0.3")];
        // A direct client can't choose its address.
        assert_eq!(client_ip(ip("203.0.113.9"), &headers(&["1.2.3.4"]), &trusted), ip("203.0.113.9"));
        // Behind the load balancer: the nearest untrusted hop, not the leftmost (spoofable).
        assert_eq!(client_ip(lb, &headers(&["1.2.3.4, 198.51.100.7"]), &trusted), ip("198.51.100.7"));
        assert_eq!(client_ip(lb, &headers(&["1.2.3.4", "198.51.100.7, 10.0.0.3"]), &trusted), ip("198.51.100.7"));
        // No header, or garbage: the proxy itself (all its clients share one budget).
        assert_eq!(client_ip(lb, &headers(&[]), &trusted), lb);
        assert_eq!(client_ip(lb, &headers(&["not an ip"]), &trusted), lb);
        assert_eq!(client_ip(lb, &headers(&["198.51.100.7, junk, 10.0.0.3"]), &trusted), ip("10.0.0.3"));
        // Nothing trusted: the header means nothing.
        assert_eq!(client_ip(lb, &headers(&["1.2.3.4"]), &[]), lb);
        // A trusted IPv4 proxy seen through a dual-stack listener is still trusted.
        assert_eq!(client_ip(ip("::ffff:10.0.0.2"), &headers(&["198.51.100.7"]), &trusted), ip("198.51.100.7"));
        assert_eq!(client_ip(lb, &headers(&["198.51.100.7, ::ffff:10.0.0.3"]), &trusted), ip("198.51.100.7"));
    }
}
