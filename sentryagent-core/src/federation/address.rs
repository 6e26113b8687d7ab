//! Which network addresses a fetch for a tenant-registered issuer may
//! reach: public unicast only. An issuer URL is the tenant's input, so
//! without this a tenant could make the server fetch from its own loopback,
//! the cloud metadata service (`169.254.169.254`) or the private network.

use std::net::IpAddr;

use ipnet::IpNet;

/// Ranges std has no stable method for: shared address space (RFC 6598),
/// "this network" (RFC 791), benchmarking (RFC 2544), reserved (RFC 1112),
/// IETF protocol assignments (RFC 6890), NAT64 and 6to4 (which embed IPv4
/// addresses), Teredo, discard-only and documentation (RFC 3849).
const NON_PUBLIC: &[&str] = &[
    "0.0.0.0/8",
    "100.64.0.0/10",
    "192.0.0.0/24",
    "198.18.0.0/15",
    "240.0.0.0/4",
    "64:ff9b::/96",
    "64:ff9b:1::/48",
    "2002::/16",
    "2001::/32",
    "100::/64",
    "2001:db8::/32",
];

/// Whether `ip` is a public unicast address: not loopback, private,
/// link-local, unique-local, unspecified, multicast, broadcast,
/// documentation, shared or reserved. IPv4-mapped IPv6 addresses are judged
/// as the IPv4 address they carry.
pub fn is_public_address(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let special = match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
        }
    };
    !special
        && !NON_PUBLIC
            .iter()
            .filter_map(|net| net.parse::<IpNet>().ok())
            .any(|net| net.contains(&ip))
}

/// Why an issuer URL is refused at registration, or `None`. The host must
/// be a name or a public address; `localhost` names are refused as well.
/// A name's addresses are checked when it is fetched (the guarded fetcher
/// checks each resolved address before it connects).
pub(crate) fn refused_host(host: &str) -> Option<&'static str> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return (!is_public_address(ip)).then_some("must not be a loopback, private or link-local address");
    }
    let name = bare.trim_end_matches('.').to_ascii_lowercase();
    (name == "localhost" || name.ends_with(".localhost")).then_some("must not be localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_unicast_addresses_pass() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "ff02::1",
        ] {
            assert!(!is_public_address(bad.parse().expect("an address")), "{bad}");
        }
        for good in ["1.1.1.1", "140.82.112.3", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public_address(good.parse().expect("an address")), "{good}");
        }
    }

    #[test]
    fn loopback_and_private_hosts_are_refused_by_name_or_literal() {
        for bad in [
            "127.0.0.1",
            "[::1]",
            "localhost",
            "LOCALHOST.",
            "a.localhost",
            "10.0.0.1",
            "[fe80::1]",
        ] {
            assert!(refused_host(bad).is_some(), "{bad}");
        }
        for good in ["token.actions.githubusercontent.com", "gitlab.com", "8.8.8.8"] {
            assert!(refused_host(good).is_none(), "{good}");
        }
    }
}
