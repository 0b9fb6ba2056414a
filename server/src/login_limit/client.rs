//! The client address the sign-in limiter counts by: the TCP peer, or, when the peer is a
//! reverse proxy named in `SCENEBOARD_TRUSTED_PROXIES`, the address that proxy saw
//! (`X-Forwarded-For`).

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};

/// Parse `SCENEBOARD_TRUSTED_PROXIES`: comma-separated CIDR blocks (`10.0.0.0/8`) or single
/// addresses (`192.0.2.7`, taken as a /32 or /128). Empty text is no proxy. The error names the
/// item that is neither.
pub fn parse_proxies(text: &str) -> Result<Vec<IpNet>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .map(|net| net.trunc())
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("'{item}' is not an address or a CIDR block such as 10.0.0.0/8 or fd00::/8"))
        })
        .collect()
}

/// The client of a request that arrived from `peer`.
///
/// From a trusted proxy, `X-Forwarded-For` is read from the right (each proxy appends the
/// address it received the request from): the first address that is not itself a trusted
/// proxy is the client. Entries further left were written by the client and prove nothing.
/// If every entry is a trusted proxy, the left-most is the client; an entry that is not an
/// address ends the walk at the trusted hop to its right (a proxy wrote nonsense: count that
/// proxy rather than believe the text). From any other peer the header is ignored: anyone can
/// send it.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        if headers.contains_key("x-forwarded-for") {
            warn_once_untrusted(peer);
        }
        return peer;
    }
    // Lossy: bytes a client put on the left must not hide the entries proxies appended.
    let lines: Vec<String> =
        headers.get_all("x-forwarded-for").iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect();
    let mut client = peer;
    for hop in lines.iter().flat_map(|line| line.split(',')).map(str::trim).rev() {
        let Some(ip) = parse_hop(hop) else { break };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`192.0.2.1:5000`,
/// `[2001:db8::1]:443`), as proxies write them.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>().or_else(|_| hop.parse::<SocketAddr>().map(|a| a.ip())).ok().map(|ip| ip.to_canonical())
}

/// A proxy that forwards `X-Forwarded-For` but is not trusted makes every client behind it
/// one address for the limiter; say so once, so the operator sets `SCENEBOARD_TRUSTED_PROXIES`.
fn warn_once_untrusted(peer: IpAddr) {
    static SAID: AtomicBool = AtomicBool::new(false);
    if !SAID.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            %peer,
            "X-Forwarded-For from a peer outside SCENEBOARD_TRUSTED_PROXIES is ignored: if this peer is your reverse \
             proxy, every client behind it counts as its one address for the sign-in limits (said once)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted = parse_proxies("10.0.0.0/8, 192.0.2.1").unwrap();
        let proxy = ip("10.0.0.5");
        // The client wrote the first entry itself; the proxy appended what it saw.
        let h = forwarded(&["203.0.113.9, 198.51.100.7"]);
        assert_eq!(client_ip(proxy, &h, &trusted), ip("198.51.100.7"));
        // Two proxies in a row (one header each, or one list): both skipped.
        let h = forwarded(&["203.0.113.9, 198.51.100.7", "192.0.2.1"]);
        assert_eq!(client_ip(proxy, &h, &trusted), ip("198.51.100.7"));
        // Every hop a proxy: the left-most. No header: the peer.
        let h = forwarded(&["10.1.1.1, 192.0.2.1"]);
        assert_eq!(client_ip(proxy, &h, &trusted), ip("10.1.1.1"));
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &trusted), proxy);
        // Ports and IPv6 as proxies write them; an IPv4-mapped peer is its IPv4 address.
        let h = forwarded(&["[2001:db8::1]:443"]);
        assert_eq!(client_ip(ip("::ffff:10.0.0.5"), &h, &trusted), ip("2001:db8::1"));
        let h = forwarded(&["198.51.100.7:5000"]);
        assert_eq!(client_ip(proxy, &h, &trusted), ip("198.51.100.7"));
        // Nonsense ends the walk at the trusted hop to its right.
        let h = forwarded(&["198.51.100.7, unknown, 192.0.2.1"]);
        assert_eq!(client_ip(proxy, &h, &trusted), ip("192.0.2.1"));
        // Bytes that are not text, on the client's side of the list, hide nothing.
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", HeaderValue::from_bytes(b"\xff\xfe, 198.51.100.7").unwrap());
        assert_eq!(client_ip(proxy, &h, &trusted), ip("198.51.100.7"));
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let h = forwarded(&["198.51.100.7"]);
        assert_eq!(client_ip(ip("203.0.113.9"), &h, &[]), ip("203.0.113.9"));
        let trusted = parse_proxies("10.0.0.0/8").unwrap();
        assert_eq!(client_ip(ip("203.0.113.9"), &h, &trusted), ip("203.0.113.9"));
    }

    #[test]
    fn proxies_parse_as_blocks_or_addresses() {
        let nets = parse_proxies("10.1.2.3/8,  ,fd00::/8,127.0.0.1").unwrap();
        let shown: Vec<String> = nets.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["10.0.0.0/8", "fd00::/8", "127.0.0.1/32"]);
        assert!(parse_proxies("").unwrap().is_empty());
        assert!(parse_proxies("10.0.0.0/33").unwrap_err().contains("'10.0.0.0/33'"));
    }
}
