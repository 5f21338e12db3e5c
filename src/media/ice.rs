//! ICE settings applied to every `webrtcbin` the gateway creates.

use std::net::IpAddr;

use gst::prelude::*;

use crate::config::{ConfigError, Nat};

/// ICE settings resolved once from the config.
#[derive(Debug, Clone, Default)]
pub struct IceSettings {
    /// Addresses host candidates are gathered on; empty means all.
    pub local_ips: Vec<IpAddr>,
    /// `stun://host:port`.
    pub stun: Option<String>,
    /// `turn(s)://user:pwd@host:port`.
    pub turn: Option<String>,
    /// UDP port range for candidates.
    pub port_range: Option<(u16, u16)>,
    /// Public address written over host candidates (1:1 NAT).
    pub nat_1_1: Option<IpAddr>,
}

impl IceSettings {
    /// Resolves `ice_enforce_list` entries (addresses, or interface names
    /// looked up on this host) and the STUN/TURN URIs.
    pub fn from_config(nat: &Nat, port_range: Option<(u16, u16)>) -> Result<Self, ConfigError> {
        let mut local_ips = Vec::new();
        for entry in &nat.ice_enforce_list {
            if let Ok(ip) = entry.parse::<IpAddr>() {
                local_ips.push(ip);
                continue;
            }
            let ifaces = if_addrs::get_if_addrs().map_err(|e| ConfigError::Invalid {
                key: "nat.ice_enforce_list",
                reason: format!("cannot list interfaces: {e}"),
            })?;
            let found: Vec<IpAddr> = ifaces
                .iter()
                .filter(|i| &i.name == entry)
                .map(|i| i.ip())
                .collect();
            if found.is_empty() {
                return Err(ConfigError::Invalid {
                    key: "nat.ice_enforce_list",
                    reason: format!("'{entry}' is neither an IP address nor an interface"),
                });
            }
            local_ips.extend(found);
        }
        let nat_1_1 = match nat.nat_1_1_mapping.trim() {
            "" => None,
            s => Some(s.parse().map_err(|_| ConfigError::Invalid {
                key: "nat.nat_1_1_mapping",
                reason: format!("'{s}' is not an IP address"),
            })?),
        };
        Ok(IceSettings {
            local_ips,
            stun: nat.stun_uri(),
            turn: nat.turn_uri(),
            port_range,
            nat_1_1,
        })
    }

    /// Applies the settings to a new `webrtcbin` (before it leaves NULL).
    pub fn apply(&self, webrtcbin: &gst::Element) {
        webrtcbin.set_property_from_str("bundle-policy", "max-bundle");
        if let Some(stun) = &self.stun {
            webrtcbin.set_property("stun-server", stun);
        }
        if let Some(turn) = &self.turn {
            webrtcbin.set_property("turn-server", turn);
        }
        let agent = webrtcbin.property::<gst::glib::Object>("ice-agent");
        disable_upnp(&agent);
        for ip in &self.local_ips {
            let _added: bool = agent.emit_by_name("add-local-ip-address", &[&ip.to_string()]);
        }
        if let Some((min, max)) = self.port_range {
            agent.set_property("min-rtp-port", min as u32);
            agent.set_property("max-rtp-port", max as u32);
        }
    }

    /// Rewrites a host candidate's address to the 1:1 NAT address, as Janus
    /// does with `nat_1_1_mapping`. Other candidates pass unchanged.
    pub fn map_candidate(&self, candidate: &str) -> String {
        let Some(public) = self.nat_1_1 else {
            return candidate.to_owned();
        };
        // candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ...
        let mut parts: Vec<&str> = candidate.split(' ').collect();
        if parts.len() > 7 && parts[6] == "typ" && parts[7] == "host" {
            let public = public.to_string();
            parts[4] = &public;
            return parts.join(" ");
        }
        candidate.to_owned()
    }
}

/// Turns off libnice's UPnP IGD port mapping: it multicasts SSDP discovery
/// on every interface (whatever `ice_enforce_list` says) and a media server
/// has no use for home-router port mapping. Reached through the ICE
/// object's `agent` (the NiceAgent).
pub fn disable_upnp(ice_agent: &gst::glib::Object) {
    if ice_agent.find_property("agent").is_none() {
        return;
    }
    let nice = ice_agent.property::<gst::glib::Object>("agent");
    if nice.find_property("upnp").is_some() {
        nice.set_property("upnp", false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_and_maps() {
        let nat = Nat {
            ice_enforce_list: vec!["127.0.0.1".into(), "lo".into()],
            ..Nat::default()
        };
        let s = IceSettings::from_config(&nat, None).unwrap();
        assert!(s.local_ips.iter().all(|ip| ip.is_loopback()));
        let bad = Nat {
            ice_enforce_list: vec!["nosuchif0".into()],
            ..Nat::default()
        };
        assert!(IceSettings::from_config(&bad, None).is_err());
        let s = IceSettings {
            nat_1_1: Some("203.0.113.9".parse().unwrap()),
            ..IceSettings::default()
        };
        assert_eq!(
            s.map_candidate("candidate:1 1 UDP 2015363327 127.0.0.1 40000 typ host"),
            "candidate:1 1 UDP 2015363327 203.0.113.9 40000 typ host"
        );
        let srflx = "candidate:2 1 UDP 1 198.51.100.1 4000 typ srflx raddr 0.0.0.0 rport 0";
        assert_eq!(s.map_candidate(srflx), srflx);
    }
}
