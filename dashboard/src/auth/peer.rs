//! Who is on the other end of a request: the connection's address, or, behind a trusted reverse
//! proxy (`dashboard.trusted_proxies`), the client `X-Forwarded-For` names. Sign-in throttling, the
//! single-sign-on start cap and the auditors' trail count by it.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;

use crate::state::DashboardState;

/// The client's address, when the server was started with connect info (tests drive the router
/// without it).
pub struct PeerIp(pub Option<std::net::IpAddr>);

impl FromRequestParts<DashboardState> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &DashboardState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        Ok(PeerIp(peer.map(|peer| client_address(peer, &parts.headers, &state.inner.config.trusted_proxies))))
    }
}

/// Who is on the other end: the connection's address, unless it is a trusted proxy, when the
/// right-most address in `X-Forwarded-For` that is not a trusted proxy (each proxy appends the one
/// it heard from, so addresses further left are the client's own say and may be forged).
pub fn client_address(peer: std::net::IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> std::net::IpAddr {
    // `::ffff:10.0.0.2` (a listener on `[::]`) is 10.0.0.2.
    let peer = peer.to_canonical();
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    let mut client = peer;
    for hop in forwarded.iter().rev() {
        match hop_address(hop) {
            Some(ip) if is_trusted(&ip) => client = ip,
            Some(ip) => return ip,
            // A hop that is not an address: nothing left of it can be believed.
            None => return client,
        }
    }
    client
}

/// One `X-Forwarded-For` hop as an address: `203.0.113.5`, `203.0.113.5:4711`, `2001:db8::1`,
/// `[2001:db8::1]:4711`.
fn hop_address(hop: &str) -> Option<std::net::IpAddr> {
    if let Ok(ip) = hop.parse::<std::net::IpAddr>() {
        return Some(ip.to_canonical());
    }
    hop.parse::<SocketAddr>().ok().map(|s| s.ip().to_canonical())
}
