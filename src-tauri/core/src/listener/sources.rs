//! Which addresses may post notifications. The client is the direct peer unless that peer
//! is a proxy the owner trusts; then it is the right-most address in `X-Forwarded-For`
//! that is not one of those proxies (everything left of it could be written by the client).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::rate::JunkLimit;

/// Cashflows' published source addresses, offered as presets for the allow-list.
pub const GATEWAY_INTEGRATION: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::new(54, 75, 5, 171)),
    IpAddr::V4(Ipv4Addr::new(54, 73, 83, 234)),
];
pub const GATEWAY_PRODUCTION: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::new(54, 74, 58, 255)),
    IpAddr::V4(Ipv4Addr::new(52, 215, 48, 101)),
];

/// Who may post notifications, and how much junk a source may send.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcePolicy {
    /// Empty: any source.
    pub allow_from: Vec<IpAddr>,
    /// Direct peers whose `X-Forwarded-For` is believed (a reverse proxy or tunnel agent
    /// that sets it). Empty: the header is never believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// Junk (malformed bodies, refused sources, unknown references) per source before it
    /// gets 429; None: no limit. Well-formed notifications never spend it.
    pub junk_limit: Option<JunkLimit>,
}

impl Default for SourcePolicy {
    fn default() -> Self {
        Self {
            allow_from: Vec::new(),
            trusted_proxies: Vec::new(),
            junk_limit: Some(JunkLimit::default()),
        }
    }
}

impl SourcePolicy {
    /// The client behind `peer`, given the request's `X-Forwarded-For` values in order.
    pub fn client<'a>(&self, peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.is_trusted(client) {
            return client;
        }
        let hops: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).collect();
        for hop in hops.iter().rev() {
            // An entry we cannot read ends the chain: nothing left of it can be trusted.
            let Some(ip) = parse_hop(hop) else {
                return client;
            };
            client = ip;
            if !self.is_trusted(ip) {
                return ip;
            }
        }
        client
    }

    /// Whether the allow-list lets `client` in.
    pub fn allows(&self, client: IpAddr) -> bool {
        self.allow_from.is_empty() || self.allow_from.contains(&client.to_canonical())
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.contains(&ip)
    }
}

/// `1.2.3.4`, `2001:db8::1`, or either with a port (`1.2.3.4:80`, `[2001:db8::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// A comma-separated list of addresses; `integration` and `production` stand for the
/// gateway's published addresses.
pub fn parse_addresses(list: &str) -> Result<Vec<IpAddr>, String> {
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match item.to_ascii_lowercase().as_str() {
            "integration" => out.extend(GATEWAY_INTEGRATION),
            "production" => out.extend(GATEWAY_PRODUCTION),
            _ => out.push(
                item.parse::<IpAddr>()
                    .map_err(|_| format!("'{item}' is not an IP address"))?
                    .to_canonical(),
            ),
        }
    }
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn policy(proxies: &[&str]) -> SourcePolicy {
        SourcePolicy {
            trusted_proxies: proxies.iter().map(|p| ip(p)).collect(),
            ..SourcePolicy::default()
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let none = policy(&[]);
        assert_eq!(
            none.client(ip("203.0.113.1"), ["54.75.5.171"].into_iter()),
            ip("203.0.113.1")
        );
        let one = policy(&["10.0.0.1"]);
        assert_eq!(
            one.client(ip("10.0.0.1"), ["6.6.6.6, 54.75.5.171"].into_iter()),
            ip("54.75.5.171"),
            "the right-most address the proxy did not add"
        );
        // Two proxies in a chain, the header split over two lines.
        let two = policy(&["10.0.0.1", "10.0.0.2"]);
        assert_eq!(
            two.client(
                ip("10.0.0.1"),
                ["6.6.6.6, 54.75.5.171", "10.0.0.2"].into_iter()
            ),
            ip("54.75.5.171")
        );
        // A trusted proxy with no header is the client itself.
        assert_eq!(
            one.client(ip("10.0.0.1"), std::iter::empty()),
            ip("10.0.0.1")
        );
        // Garbage stops the walk at the last address we could read.
        assert_eq!(
            two.client(ip("10.0.0.1"), ["54.75.5.171, junk, 10.0.0.2"].into_iter()),
            ip("10.0.0.2")
        );
        assert_eq!(
            one.client(ip("10.0.0.1"), ["[2001:db8::1]:443"].into_iter()),
            ip("2001:db8::1")
        );
        // An IPv4 peer seen on an IPv6 socket is the IPv4 address.
        assert_eq!(
            none.client(ip("::ffff:54.75.5.171"), std::iter::empty()),
            ip("54.75.5.171")
        );
    }

    #[test]
    fn address_lists_accept_the_gateway_presets() {
        assert_eq!(
            parse_addresses("integration, 192.0.2.1").unwrap(),
            vec![ip("54.75.5.171"), ip("54.73.83.234"), ip("192.0.2.1")]
        );
        assert_eq!(
            parse_addresses("Production").unwrap(),
            GATEWAY_PRODUCTION.to_vec()
        );
        assert!(parse_addresses("").unwrap().is_empty());
        assert!(parse_addresses("54.75.5.171, example.com").is_err());
    }
}
