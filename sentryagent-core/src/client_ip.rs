//! The client's address, by one rule.
//!
//! The peer's address is the client's, unless the peer is a trusted proxy.
//! Then the chain of the one header the proxies set ([`ForwardedHeader`], a
//! setting: `X-Forwarded-For` by default, or RFC 7239 `Forwarded`) is walked
//! from the right, the hop nearest to us first, and **the first hop that is
//! not a trusted proxy is the client**. Everything to its left was written by
//! the client itself and is never believed; the other header is ignored
//! whoever sent it, because a proxy that sets one passes the other through
//! untouched, so anyone could pick the address their requests are limited
//! and audited under.
//!
//! - Every hop trusted: the leftmost is the client (an internal caller).
//! - A hop that is not an address (`unknown`, an obfuscated `_name`, an
//!   element without `for=`, garbage) ends the walk: the client is then the
//!   trusted proxy that wrote it, the nearest address known.
//! - Elements are split at every comma, quotes or not: no address contains
//!   one, and a client's unterminated quote cannot swallow the element the
//!   proxy appends after it.
//! - Several header lines are one chain, in order. IPv4-mapped IPv6
//!   addresses (`::ffff:192.0.2.1`) count as the IPv4 address.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use http::HeaderMap;
#[doc(inline)]
pub use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Which forwarding header the trusted proxies set; the other one is ignored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, HAProxy, Envoy and
    /// the clouds' load balancers). The default.
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

impl ForwardedHeader {
    /// The header's name, lower case.
    pub fn name(self) -> &'static str {
        match self {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        }
    }
}

impl fmt::Display for ForwardedHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ForwardedHeader {
    type Err = String;

    /// `x-forwarded-for` or `forwarded`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [ForwardedHeader::XForwardedFor, ForwardedHeader::Forwarded]
            .into_iter()
            .find(|h| h.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("`{s}` is not a forwarding header: use x-forwarded-for or forwarded"))
    }
}

/// Parses a trusted-proxy setting: a range (`10.0.0.0/8`, `fd00::/8`) or a
/// single address (`192.0.2.7`, `::1`).
///
/// # Errors
/// A message naming the value when it is neither.
pub fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{s}` is not an address or a range such as 10.0.0.0/8"))
}

/// The client's address by the rule of this module: the peer's, unless the
/// peer is one of the `trusted` proxies, in which case the first untrusted
/// hop of `header`'s chain from the right.
pub fn client_ip(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[IpNet],
    header: ForwardedHeader,
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let lines: Vec<Option<&str>> = headers.get_all(header.name()).iter().map(|v| v.to_str().ok()).collect();
    let mut client = peer;
    for line in lines.into_iter().rev() {
        // A line that is not text is one hop that is not an address.
        let Some(line) = line else { return Some(client) };
        for element in line.rsplit(',') {
            let hop = match header {
                ForwardedHeader::XForwardedFor => parse_node(element),
                ForwardedHeader::Forwarded => forwarded_for(element).and_then(parse_node),
            };
            let Some(ip) = hop else { return Some(client) };
            client = ip;
            if !is_trusted(&ip) {
                return Some(client);
            }
        }
    }
    Some(client)
}

/// The `for=` value of one `Forwarded` element (`for=…;proto=https;by=…`).
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        k.trim().eq_ignore_ascii_case("for").then_some(v)
    })
}

/// A node: `192.0.2.60`, `192.0.2.60:8080`, `2001:db8::1`,
/// `[2001:db8::1]:4711`, quoted or not.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    let node = node.strip_prefix('"').and_then(|n| n.strip_suffix('"')).unwrap_or(node);
    let ip = if let Some(rest) = node.strip_prefix('[') {
        rest.split_once(']')?.0.parse::<IpAddr>().ok()?
    } else {
        match node.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => {
                let (host, port) = node.rsplit_once(':')?;
                port.parse::<u16>().ok()?;
                IpAddr::V4(host.parse().ok()?)
            }
        }
    };
    Some(ip.to_canonical())
}

/// The rate-limit key of an address: an IPv4 address as is, an IPv6 address
/// by its /64, the smallest block a subscriber is given, so one host cannot
/// walk through its addresses for fresh limits.
pub(crate) fn limit_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => {
            let net = Ipv6Net::new(v6, 64)
                .map(|n| n.trunc())
                .unwrap_or_else(|_| Ipv6Net::from(v6));
            format!("ip:{net}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ForwardedHeader::{Forwarded, XForwardedFor};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().expect("header"));
        }
        h
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| parse_net(s).expect("net")).collect()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("ip"))
    }

    const PROXY: &str = "10.0.0.1";

    #[test]
    fn forwarding_headers_are_ignored_from_untrusted_peers() {
        let peer = ip("203.0.113.9");
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=5.6.7.8")]);
        for header in [XForwardedFor, Forwarded] {
            assert_eq!(client_ip(peer, &h, &[], header), peer);
            assert_eq!(client_ip(peer, &h, &nets(&["10.0.0.0/8"]), header), peer);
        }
    }

    #[test]
    fn behind_an_x_forwarded_for_proxy_the_client_cannot_pick_its_address() {
        let trusted = nets(&["10.0.0.0/8"]);
        let at = |h: &HeaderMap| client_ip(ip(PROXY), h, &trusted, XForwardedFor);
        let real = ip("198.51.100.7");
        // What the proxy appended is believed; what the client wrote is not.
        for h in [
            headers(&[("x-forwarded-for", "198.51.100.7")]),
            headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7")]),
            headers(&[("x-forwarded-for", "6.6.6.6, 10.9.9.9, 198.51.100.7")]),
            headers(&[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "198.51.100.7")]),
            headers(&[("x-forwarded-for", "10.0.0.5, 198.51.100.7")]),
            headers(&[("x-forwarded-for", "garbage, unknown, 198.51.100.7")]),
            headers(&[("x-forwarded-for", "\"6.6.6.6, 198.51.100.7")]),
            // A Forwarded header is the client's own when the proxy sets X-Forwarded-For.
            headers(&[("forwarded", "for=6.6.6.6"), ("x-forwarded-for", "198.51.100.7")]),
            headers(&[
                ("x-forwarded-for", "198.51.100.7"),
                ("forwarded", "for=6.6.6.6, for=10.0.0.2"),
            ]),
            // Ports and brackets some proxies add.
            headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7:51234")]),
        ] {
            assert_eq!(at(&h), real, "{h:?}");
        }
        // The proxies' own hops are skipped, from the right.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.5, 10.1.1.1")]);
        assert_eq!(at(&h), real);
        let h = headers(&[("x-forwarded-for", "[2001:db8::1]:443")]);
        assert_eq!(at(&h), ip("2001:db8::1"));
    }

    #[test]
    fn behind_a_forwarded_proxy_the_client_cannot_pick_its_address() {
        let trusted = nets(&["10.0.0.0/8", "::1"]);
        let at = |h: &HeaderMap| client_ip(ip(PROXY), h, &trusted, Forwarded);
        let real = ip("2001:db8::1");
        for h in [
            headers(&[("forwarded", "for=\"[2001:db8::1]:4711\"")]),
            headers(&[("forwarded", "for=6.6.6.6, for=\"[2001:db8::1]:4711\", for=10.0.0.2")]),
            headers(&[
                ("forwarded", "for=6.6.6.6;proto=http"),
                ("forwarded", "proto=https;For=\"[2001:db8::1]\";by=10.0.0.1"),
            ]),
            headers(&[("forwarded", "for=\"6.6.6.6, for=\"[2001:db8::1]\"")]),
            // The X-Forwarded-For a client sends is passed through untouched: ignored.
            headers(&[("x-forwarded-for", "6.6.6.6"), ("forwarded", "for=\"[2001:db8::1]\"")]),
        ] {
            assert_eq!(at(&h), real, "{h:?}");
        }
        let h = headers(&[("forwarded", "for=192.0.2.60:8080")]);
        assert_eq!(at(&h), ip("192.0.2.60"));
    }

    #[test]
    fn a_hop_that_is_no_address_stops_at_the_proxy_that_wrote_it() {
        let trusted = nets(&["10.0.0.0/8"]);
        for (header, value) in [
            (Forwarded, "for=6.6.6.6, for=unknown, for=10.0.0.2"),
            (Forwarded, "for=6.6.6.6, for=_hidden, for=10.0.0.2"),
            (Forwarded, "for=6.6.6.6, proto=https, for=10.0.0.2"),
            (XForwardedFor, "6.6.6.6, unknown, 10.0.0.2"),
        ] {
            let h = headers(&[(header.name(), value)]);
            assert_eq!(client_ip(ip(PROXY), &h, &trusted, header), ip("10.0.0.2"), "{value}");
        }
        let mut h = headers(&[("x-forwarded-for", "6.6.6.6")]);
        h.append(
            "x-forwarded-for",
            http::HeaderValue::from_bytes(b"\xff\xfe").expect("bytes"),
        );
        assert_eq!(client_ip(ip(PROXY), &h, &trusted, XForwardedFor), ip(PROXY));
    }

    #[test]
    fn all_hops_trusted_or_none_given() {
        let trusted = nets(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "10.0.0.7, 10.0.0.5")]);
        assert_eq!(client_ip(ip(PROXY), &h, &trusted, XForwardedFor), ip("10.0.0.7"));
        assert_eq!(
            client_ip(ip(PROXY), &HeaderMap::new(), &trusted, XForwardedFor),
            ip(PROXY)
        );
        assert_eq!(client_ip(None, &h, &trusted, XForwardedFor), None);
    }

    #[test]
    fn mapped_addresses_count_as_ipv4() {
        let trusted = nets(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "::ffff:198.51.100.7")]);
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.1"), &h, &trusted, XForwardedFor),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn settings_parse() {
        assert_eq!(parse_net("10.0.0.0/8"), Ok("10.0.0.0/8".parse().expect("net")));
        assert_eq!(parse_net(" 192.0.2.7 "), Ok("192.0.2.7/32".parse().expect("net")));
        assert_eq!(parse_net("::1"), Ok("::1/128".parse().expect("net")));
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_net("localhost").is_err());
        assert_eq!("Forwarded".parse(), Ok(Forwarded));
        assert_eq!("x-forwarded-for".parse(), Ok(XForwardedFor));
        assert!("x-real-ip".parse::<ForwardedHeader>().is_err());
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        assert_eq!(limit_key("198.51.100.7".parse().expect("ip")), "ip:198.51.100.7");
        assert_eq!(
            limit_key("2001:db8:1:2:aaaa::1".parse().expect("ip")),
            limit_key("2001:db8:1:2:bbbb::9".parse().expect("ip"))
        );
        assert_eq!(
            limit_key("2001:db8:1:2::1".parse().expect("ip")),
            "ip:2001:db8:1:2::/64"
        );
        assert_ne!(
            limit_key("2001:db8:1:2::1".parse().expect("ip")),
            limit_key("2001:db8:1:3::1".parse().expect("ip"))
        );
    }
}
