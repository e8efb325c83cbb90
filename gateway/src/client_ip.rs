//! Who the client is, for the uploader tag (wire contract §2.5).
//!
//! The socket peer is the client, unless the peer is a configured trusted proxy: then the
//! client is the right-most address of `X-Forwarded-For` that is not itself a trusted proxy.
//! Each proxy appends the address it received from, so only the hops right of the first
//! untrusted one were written by proxies we trust; everything left of it may be forged by the
//! client. (The original trusted the raw header, so anyone could forge any tag.)

use std::net::IpAddr;

/// An address or a CIDR block of trusted proxies, e.g. `10.0.0.0/8`, `2001:db8::/32`, `127.0.0.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` falls in this block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?;
        let addr = canonical(addr);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { addr, prefix })
    }
}

/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`, as dual-stack sockets report peers) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One `X-Forwarded-For` entry: an IP, possibly with a port (`1.2.3.4:80`, `[::1]:80`).
fn parse_hop(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok());
    }
    s.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok())
}

/// The client's address, given the socket peer, the `X-Forwarded-For` value and the trusted
/// proxies. An unparseable hop ends the walk: nothing left of it can be trusted, so the
/// address right of it (a trusted proxy) is taken.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&[u8]>, trusted: &[Cidr]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    let Some(xff) = forwarded_for.and_then(|v| std::str::from_utf8(v).ok()) else {
        return peer;
    };
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    for hop in xff.rsplit(',') {
        match parse_hop(hop).map(canonical) {
            Some(ip) if is_trusted(ip) => client = ip,
            Some(ip) => return ip,
            None => return client,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_blocks() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains(ip("10.1.2.3")));
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(c.contains(ip("::ffff:10.9.9.9")));
        let c: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(c.contains(ip("2001:db8:1::5")));
        assert!(!c.contains(ip("2001:db9::1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("proxy".parse::<Cidr>().is_err());
    }

    #[test]
    fn an_untrusted_peer_cannot_forge_its_address() {
        let trusted = ["10.0.0.1".parse().unwrap()];
        let got = client_ip(ip("203.0.113.9"), Some(b"1.2.3.4"), &trusted);
        assert_eq!(got, ip("203.0.113.9"));
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let trusted: Vec<Cidr> = ["10.0.0.0/8", "192.0.2.7"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        // forged, real client, proxy 192.0.2.7; the peer is proxy 10.0.0.1
        let xff = b"6.6.6.6, 198.51.100.4, 192.0.2.7";
        assert_eq!(
            client_ip(ip("10.0.0.1"), Some(xff), &trusted),
            ip("198.51.100.4")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), Some(b"198.51.100.4:5555"), &trusted),
            ip("198.51.100.4")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), Some(b"[2001:db8::9]:80"), &trusted),
            ip("2001:db8::9")
        );
        // All hops trusted: the left-most is as far as we can see.
        assert_eq!(
            client_ip(ip("10.0.0.1"), Some(b"10.2.2.2, 192.0.2.7"), &trusted),
            ip("10.2.2.2")
        );
        // Garbage stops the walk at the proxy that passed it on.
        assert_eq!(
            client_ip(ip("10.0.0.1"), Some(b"1.1.1.1, junk, 192.0.2.7"), &trusted),
            ip("192.0.2.7")
        );
        assert_eq!(client_ip(ip("10.0.0.1"), None, &trusted), ip("10.0.0.1"));
    }
}
