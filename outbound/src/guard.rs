//! Which addresses webhooks may reach. A webhook target is checked twice: its IP literal when
//! the webhook is saved, and every address its host name resolves to when a delivery
//! connects (inside the HTTP client's resolver), so a name that resolves elsewhere by then
//! (DNS rebinding) is refused too. The allow-list lifts the guard for the hosts and networks
//! it names; development mode lets loopback through (a receiver on the developer's own
//! machine), never private networks or cloud metadata addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// The guard's settings.
#[derive(Debug, Clone, Default)]
pub struct AddressGuard {
    /// Development mode: loopback addresses (127.0.0.0/8, ::1) are admitted too.
    pub loopback: bool,
    /// Hosts (exact, case-insensitive) and networks (`10.0.0.0/8`) allowed whatever they are.
    pub allow: Vec<Allowed>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    Host(String),
    Network(IpAddr, u8),
}

impl Allowed {
    /// `host` or `address/prefix`; `None` for a malformed network.
    pub fn parse(entry: &str) -> Option<Self> {
        match entry.split_once('/') {
            Some((ip, len)) => {
                let ip: IpAddr = ip.trim().parse().ok()?;
                let len: u8 = len.trim().parse().ok()?;
                let max = if ip.is_ipv4() { 32 } else { 128 };
                (len <= max).then_some(Allowed::Network(ip, len))
            }
            None => Some(Allowed::Host(entry.trim().to_ascii_lowercase())),
        }
    }
}

impl AddressGuard {
    pub fn new(loopback: bool, allow: &[String]) -> Self {
        Self { loopback, allow: allow.iter().filter_map(|e| Allowed::parse(e)).collect() }
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        self.allow.iter().any(|a| matches!(a, Allowed::Host(h) if *h == host))
    }

    /// Whether a delivery may connect to `ip` (reached through `host`).
    pub fn admits(&self, host: &str, ip: IpAddr) -> bool {
        (self.loopback && ip.to_canonical().is_loopback())
            || is_public(ip)
            || self.host_allowed(host)
            || self.allow.iter().any(|a| matches!(a, Allowed::Network(net, len) if in_network(ip, *net, *len)))
    }

    /// An IP-literal host must be admitted; a name is checked when a delivery resolves it.
    /// The URL is read exactly as the HTTP client reads it (WHATWG rules), so spellings like
    /// `127.1` or `0x7f000001` are the addresses they stand for.
    pub fn admits_url(&self, url: &str) -> bool {
        let Ok(parsed) = reqwest::Url::parse(url) else { return false };
        match parsed.host() {
            Some(url::Host::Ipv4(ip)) => self.admits(&ip.to_string(), IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.admits(&ip.to_string(), IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => true,
            None => false,
        }
    }
}

/// The host of an absolute http(s) URL, brackets kept for IPv6.
pub fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let host = if host_port.starts_with('[') {
        host_port.split_inclusive(']').next()?
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_owned())
}

fn in_network(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// Whether an address is on the public internet: not loopback, private, link-local, shared
/// (100.64/10), unspecified, broadcast, documentation, benchmarking, reserved, multicast,
/// the 6to4 relay anycast (192.88.99/24), IPv4-mapped, NAT64, Teredo, 6to4 (2002::/16, which
/// embeds any IPv4 address), unique-local, site-local (fec0::/10) or discard-only (100::/64).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 88 && c == 99)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.to_ipv4_mapped().is_some()
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        || s[0] == 0x2002
        || s[..4] == [0x0100, 0, 0, 0]
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || (s[0] == 0x2001 && s[1] == 0)
        || (s[0] == 0x0064 && s[1] == 0xff9b)
        || s[..6] == [0, 0, 0, 0, 0, 0])
}

/// The HTTP client's resolver: resolves with the system and drops every address the guard
/// does not admit, failing when none is left.
pub struct GuardedResolver(pub Arc<AddressGuard>);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = Arc::clone(&self.0);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let admitted: Vec<SocketAddr> = found.into_iter().filter(|a| guard.admits(&host, a.ip())).collect();
            if admitted.is_empty() {
                return Err(format!("{host} resolves to no address webhooks may reach").into());
            }
            Ok(Box::new(admitted.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn non_public_addresses_are_refused() {
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2001:db8::1",
            "ff02::1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::1",
            "fec0::1",
            "feff::1",
            "100::1",
            "100::ffff:ffff:ffff:ffff",
            "192.88.99.1",
        ] {
            assert!(!is_public(ip(s)), "{s}");
        }
        for s in ["8.8.8.8", "1.1.1.1", "100.128.0.1", "2606:4700:4700::1111", "192.88.98.1", "100:0:0:1::1"] {
            assert!(is_public(ip(s)), "{s}");
        }
    }

    #[test]
    fn urls_with_private_literals_are_refused_unless_allowed() {
        let guard = AddressGuard::new(false, &[]);
        assert!(!guard.admits_url("http://127.0.0.1:8080/hook"));
        assert!(!guard.admits_url("http://[::1]/hook"));
        assert!(!guard.admits_url("https://user@10.0.0.1/x"));
        assert!(guard.admits_url("https://hooks.example.com/x"), "names are checked when they resolve");
        assert!(guard.admits_url("https://8.8.8.8/x"));
        let allowed = AddressGuard::new(false, &["127.0.0.0/8".into(), "Internal.Example".into()]);
        assert!(allowed.admits_url("http://127.0.0.1:8080/hook"));
        assert!(allowed.admits("internal.example", ip("10.0.0.5")));
        assert!(!allowed.admits("other.example", ip("10.0.0.5")));
        let dev = AddressGuard::new(true, &[]);
        assert!(dev.admits_url("http://127.0.0.1/x"));
        assert!(dev.admits_url("http://127.9.9.9/x"));
        assert!(dev.admits_url("http://[::1]/x"));
        assert!(dev.admits_url("http://[::ffff:127.0.0.1]/x"), "IPv4-mapped loopback is loopback");
        // Development mode opens loopback only: private networks and metadata stay closed.
        for closed in ["http://10.0.0.1/", "http://169.254.169.254/", "http://192.168.1.1/", "http://[fd00::1]/"] {
            assert!(!dev.admits_url(closed), "{closed}");
        }
        // Other spellings of loopback, as the HTTP client reads them.
        for sneaky in [
            "http://127.1/",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://017700000001/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert!(!guard.admits_url(sneaky), "{sneaky}");
        }
    }

    #[test]
    fn hosts_are_read_from_urls() {
        assert_eq!(host_of("http://a.example:80/x").as_deref(), Some("a.example"));
        assert_eq!(host_of("https://[::1]:8443/").as_deref(), Some("[::1]"));
        assert_eq!(host_of("https://u:p@b.example/x?y").as_deref(), Some("b.example"));
    }

    #[tokio::test]
    async fn the_resolver_drops_addresses_the_guard_refuses() {
        use reqwest::dns::Resolve as _;
        let closed = GuardedResolver(Arc::new(AddressGuard::new(false, &[])));
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        assert!(closed.resolve(name).await.is_err(), "localhost is loopback");
        let open = GuardedResolver(Arc::new(AddressGuard::new(true, &[])));
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        assert!(open.resolve(name).await.is_ok());
    }
}
