//! The client's address. `X-Forwarded-For` and `Forwarded` are believed only
//! when the peer is a configured trusted proxy; otherwise anyone could pick
//! the address their requests are limited and audited under.

use std::net::IpAddr;
use std::str::FromStr;

use http::HeaderMap;

/// An address range such as `10.0.0.0/8`, `::1/128` or a single address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Whether `ip` is inside the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not an address or a range such as 10.0.0.0/8");
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Self { addr, prefix })
    }
}

/// The client's address: the peer's, unless the peer is a trusted proxy, in
/// which case the nearest untrusted address of the forwarding chain.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    // Hops are listed client first; walk back from the proxy nearest to us.
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("forwarded").iter().filter_map(|v| v.to_str().ok()) {
        for element in value.split(',') {
            for pair in element.split(';') {
                if let Some((k, v)) = pair.trim().split_once('=')
                    && k.trim().eq_ignore_ascii_case("for")
                    && let Some(ip) = parse_forwarded_for(v)
                {
                    hops.push(ip);
                }
            }
        }
    }
    if hops.is_empty() {
        for value in headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
        {
            hops.extend(value.split(',').filter_map(|h| h.trim().parse::<IpAddr>().ok()));
        }
    }
    Some(hops.into_iter().rev().find(|ip| !is_trusted(*ip)).unwrap_or(peer))
}

/// `for=192.0.2.60`, `for="[2001:db8::1]:4711"`, `for=192.0.2.60:8080`.
fn parse_forwarded_for(value: &str) -> Option<IpAddr> {
    let v = value.trim().trim_matches('"');
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    v.parse()
        .ok()
        .or_else(|| v.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().expect("header"));
        }
        h
    }

    #[test]
    fn forwarding_headers_are_ignored_from_untrusted_peers() {
        let peer = "203.0.113.9".parse().ok();
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=5.6.7.8")]);
        assert_eq!(client_ip(peer, &h, &[]), peer);
        let trusted = ["10.0.0.0/8".parse().expect("net")];
        assert_eq!(client_ip(peer, &h, &trusted), peer);
    }

    #[test]
    fn trusted_proxies_pass_the_nearest_untrusted_hop() {
        let trusted: Vec<IpNet> = ["10.0.0.0/8", "::1"].iter().map(|s| s.parse().expect("net")).collect();
        let peer = "10.1.2.3".parse().ok();
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.5")]);
        assert_eq!(client_ip(peer, &h, &trusted), "198.51.100.7".parse().ok());
        let h = headers(&[("forwarded", "for=\"[2001:db8::1]:4711\", for=10.0.0.2")]);
        assert_eq!(client_ip(peer, &h, &trusted), "2001:db8::1".parse().ok());
        assert_eq!(client_ip(peer, &HeaderMap::new(), &trusted), peer);
    }

    #[test]
    fn ranges() {
        let net: IpNet = "192.168.0.0/16".parse().expect("net");
        assert!(net.contains("192.168.4.1".parse().expect("ip")));
        assert!(!net.contains("192.169.0.1".parse().expect("ip")));
        assert!(
            "0.0.0.0/0"
                .parse::<IpNet>()
                .expect("net")
                .contains("8.8.8.8".parse().expect("ip"))
        );
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
    }
}
