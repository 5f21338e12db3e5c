//! Gateway configuration, read from a TOML file (`conf/gateway.toml`).
//!
//! Key names follow Janus's `janus.jcfg` and transport configs where Janus
//! has them (`session_timeout`, `rtp_port_range`, `stun_server`,
//! `nat_1_1_mapping`, `ice_enforce_list`, ...). Every key has a default, so an
//! empty file gives a gateway on Janus's ports bound to 127.0.0.1.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

/// Errors reading or checking the configuration.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The TOML is malformed or has wrong types.
    #[error("invalid config {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    /// A value is out of range.
    #[error("invalid config value {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[general]`.
    pub general: General,
    /// `[http]`: HTTP transport and demo page.
    pub http: Http,
    /// `[websockets]`: WebSocket transport.
    pub websockets: WebSockets,
    /// `[nat]`: ICE, STUN and TURN.
    pub nat: Nat,
    /// `[media]`: RTP port range and jitter buffer.
    pub media: Media,
    /// `[videoroom]`: plugin settings.
    pub videoroom: VideoRoom,
    /// `[encoder]`: video encoder selection.
    pub encoder: Encoder,
    /// `[recording]`: where and how rooms record.
    pub recording: Recording,
    /// `[streaming]`: the streaming plugin (mountpoints).
    pub streaming: Streaming,
    /// `[rtsp]`: RTSP serving of rooms' mixes and feeds.
    pub rtsp: Rtsp,
    /// `[certificates]`: the TLS certificate of the HTTPS/WSS listeners.
    pub certificates: Certificates,
    /// `[events]`: the event handler (Janus's sample HTTP event handler).
    pub events: Events,
    /// `[limits]`: what one client, or all of them, may create.
    pub limits: Limits,
}

/// `[limits]`: each reached limit gets a clear error reply, never a dropped
/// connection. `0` means no limit.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Sessions one WebSocket connection may hold at once.
    pub sessions_per_connection: usize,
    /// Handles one session may hold at once.
    pub handles_per_session: usize,
    /// Video rooms alive at once.
    pub rooms: usize,
    /// Streaming mountpoints alive at once.
    pub mountpoints: usize,
    /// Recordings (publishers' and mixes') being written at once.
    pub recordings: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            sessions_per_connection: 100,
            handles_per_session: 100,
            rooms: 1000,
            mountpoints: 1000,
            recordings: 100,
        }
    }
}

/// `[events]` (Janus: `janus.eventhandler.sampleevh.jcfg`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Events {
    /// Send events at all.
    pub enabled: bool,
    /// Where to POST them (`http://…`).
    pub backend: String,
    /// Several events per POST, as a JSON array (else one object each).
    pub grouping: bool,
    /// `"all"`, `"none"`, or a list: `sessions, handles, jsep, webrtc, media,
    /// plugins, transports, core`.
    pub events: String,
    /// Seconds between media statistics events; 0: none.
    pub stats_period: u64,
    /// Events waiting for the backend before new ones are dropped (counted
    /// in `/metrics` as `gateway_events_dropped_total`).
    pub queue: usize,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            enabled: false,
            backend: String::new(),
            grouping: true,
            events: "all".into(),
            stats_period: 5,
            queue: 10_000,
        }
    }
}

/// `[certificates]` (Janus: `cert_pem`, `cert_key`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Certificates {
    /// PEM certificate chain, leaf first.
    pub cert_pem: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub cert_key: PathBuf,
}

/// `[rtsp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rtsp {
    /// Serve `rtsp://ip:port/videoroom/<room>/mix` and `/<feed>`.
    pub enabled: bool,
    /// Address to listen on.
    pub ip: IpAddr,
    /// TCP port (`rtsp_port`); 0 picks a free one.
    pub port: u16,
}

impl Default for Rtsp {
    fn default() -> Self {
        Rtsp {
            enabled: true,
            ip: IpAddr::from([127, 0, 0, 1]),
            port: 8554,
        }
    }
}

/// `[streaming]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Streaming {
    /// Address the UDP ports of `rtp` mountpoints bind to.
    pub rtp_ip: IpAddr,
    /// When set, `create` needs this `admin_key` (Janus: `admin_key`).
    pub admin_key: String,
    /// The ingest fragments (`pipelines/ingest.toml`); empty means the copy
    /// built into the binary.
    pub catalog: PathBuf,
    /// Mountpoints created at start-up (`[[streaming.mountpoints]]`, the
    /// keys of a streaming `create`, as Janus's `janus.plugin.streaming.jcfg`).
    pub mountpoints: Vec<MountpointPreset>,
}

impl Default for Streaming {
    fn default() -> Self {
        Streaming {
            rtp_ip: IpAddr::from([127, 0, 0, 1]),
            admin_key: String::new(),
            catalog: PathBuf::new(),
            mountpoints: vec![],
        }
    }
}

/// `[recording]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Recording {
    /// Directory for rooms without `rec_dir` (made when first needed).
    pub dir: PathBuf,
    /// The recording fragments (`pipelines/recording.toml`); empty means the
    /// copy built into the binary.
    pub catalog: PathBuf,
}

impl Default for Recording {
    fn default() -> Self {
        Recording {
            dir: "recordings".into(),
            catalog: PathBuf::new(),
        }
    }
}

/// `[encoder]`: which video encoders the gateway may use (MCU mix, and later
/// recording transcodes and restreaming). Candidates and their settings are
/// data in `catalog`; each is probed at start-up by really encoding frames.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Encoder {
    /// The candidate catalog (`pipelines/encoders.toml`); empty disables
    /// encoder probing (an SFU-only gateway).
    pub catalog: PathBuf,
    /// H.264 factories in the order to try; empty means catalog order.
    pub h264: Vec<String>,
    /// VP8 factories in the order to try; empty means catalog order.
    pub vp8: Vec<String>,
    /// Pin one factory (e.g. `"x264enc"`); empty means none.
    pub force: String,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder {
            catalog: "pipelines/encoders.toml".into(),
            h264: vec![],
            vp8: vec![],
            force: String::new(),
        }
    }
}

/// `[general]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct General {
    /// Seconds without a keepalive before a session is destroyed; 0 disables.
    /// Janus's default is 60.
    pub session_timeout: u64,
    /// When set, every request but `info`/`ping` must carry it as
    /// `apisecret` (and the long poll as `?apisecret=`); empty: none.
    pub api_secret: String,
    /// When true, every request but `info`/`ping` must carry a valid
    /// `token` (either it or the API secret admits a request, as in Janus).
    pub token_auth: bool,
    /// With `token_auth`: tokens are signed with this secret (Janus's
    /// HMAC-SHA1 format `<expiry>,janus,<plugin>[,…]:<signature>`) instead of
    /// stored through the Admin API; empty: stored tokens.
    pub token_auth_secret: String,
    /// The Admin API's secret (`admin_secret` in admin requests); empty: none.
    pub admin_secret: String,
    /// Seconds a session outlives its closed WebSocket, waiting for a
    /// `claim` (Janus `reclaim_session_timeout`); 0 destroys it at once.
    pub reclaim_session_timeout: u64,
}

impl Default for General {
    fn default() -> Self {
        General {
            session_timeout: 60,
            api_secret: String::new(),
            token_auth: false,
            token_auth_secret: String::new(),
            admin_secret: String::new(),
            reclaim_session_timeout: 0,
        }
    }
}

/// `[http]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Http {
    /// Listen address (Janus: `ip`).
    pub ip: IpAddr,
    /// Port (Janus: `port`, 8088).
    pub port: u16,
    /// API path (Janus: `base_path`, `/janus`).
    pub base_path: String,
    /// Directory served at `/` (the demo page); empty disables it.
    pub demo_dir: PathBuf,
    /// Directory served at `/vendor/` (npm packages: janus.js, adapter).
    pub vendor_dir: PathBuf,
    /// Admin API listen address (Janus: `admin_ip`).
    pub admin_ip: IpAddr,
    /// Admin API port (Janus: `admin_port`, 7088); 0 disables it.
    pub admin_port: u16,
    /// Admin API path (Janus: `admin_base_path`, `/admin`).
    pub admin_base_path: String,
    /// Also serve the API, demo page and metrics over HTTPS (Janus: `https`).
    pub https: bool,
    /// HTTPS port (Janus: `secure_port`, 8089); 0 picks a free one.
    pub secure_port: u16,
    /// Also serve the Admin API over HTTPS (Janus: `admin_https`).
    pub admin_https: bool,
    /// Its port (Janus: `admin_secure_port`, 7889); 0 picks a free one.
    pub admin_secure_port: u16,
}

impl Default for Http {
    fn default() -> Self {
        Http {
            ip: IpAddr::from([127, 0, 0, 1]),
            port: 8088,
            base_path: "/janus".into(),
            demo_dir: "demo".into(),
            vendor_dir: "node_modules".into(),
            admin_ip: IpAddr::from([127, 0, 0, 1]),
            admin_port: 7088,
            admin_base_path: "/admin".into(),
            https: false,
            secure_port: 8089,
            admin_https: false,
            admin_secure_port: 7889,
        }
    }
}

/// `[websockets]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSockets {
    /// Listen address (Janus: `ws_ip`).
    pub ws_ip: IpAddr,
    /// Port (Janus: `ws_port`, 8188).
    pub ws_port: u16,
    /// Admin API over WebSocket (subprotocol `janus-admin-protocol`):
    /// listen address (Janus: `admin_ws_ip`).
    pub admin_ws_ip: IpAddr,
    /// Its port (Janus: `admin_ws_port`, 7188); 0 disables it.
    pub admin_ws_port: u16,
    /// Also serve the API over secure WebSocket (Janus: `wss`).
    pub wss: bool,
    /// WSS port (Janus: `wss_port`, 8989); 0 picks a free one.
    pub wss_port: u16,
    /// Also serve the Admin API over WSS (Janus: `admin_wss`).
    pub admin_wss: bool,
    /// Its port (Janus: `admin_wss_port`, 7989); 0 picks a free one.
    pub admin_wss_port: u16,
}

impl Default for WebSockets {
    fn default() -> Self {
        WebSockets {
            ws_ip: IpAddr::from([127, 0, 0, 1]),
            ws_port: 8188,
            admin_ws_ip: IpAddr::from([127, 0, 0, 1]),
            admin_ws_port: 7188,
            wss: false,
            wss_port: 8989,
            admin_wss: false,
            admin_wss_port: 7989,
        }
    }
}

/// `[nat]`: how ICE candidates are gathered and advertised.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Nat {
    /// Addresses (or interface names) host candidates are gathered on
    /// (Janus: `ice_enforce_list`). Empty means every interface.
    pub ice_enforce_list: Vec<String>,
    /// STUN server host (Janus: `stun_server`); empty disables STUN.
    pub stun_server: String,
    /// STUN port (Janus: `stun_port`).
    pub stun_port: u16,
    /// TURN server host (Janus: `turn_server`); empty disables TURN.
    pub turn_server: String,
    /// TURN port (Janus: `turn_port`).
    pub turn_port: u16,
    /// `udp`, `tcp` or `tls` (Janus: `turn_type`).
    pub turn_type: String,
    /// TURN user (Janus: `turn_user`).
    pub turn_user: String,
    /// TURN password (Janus: `turn_pwd`).
    pub turn_pwd: String,
    /// Public address written over host candidates' addresses (Janus:
    /// `nat_1_1_mapping`), for a gateway behind 1:1 NAT; empty disables.
    pub nat_1_1_mapping: String,
}

impl Default for Nat {
    fn default() -> Self {
        Nat {
            ice_enforce_list: vec!["127.0.0.1".into()],
            stun_server: String::new(),
            stun_port: 3478,
            turn_server: String::new(),
            turn_port: 3478,
            turn_type: "udp".into(),
            turn_user: String::new(),
            turn_pwd: String::new(),
            nat_1_1_mapping: String::new(),
        }
    }
}

impl Nat {
    /// The `stun://host:port` URI webrtcbin takes, if STUN is configured.
    pub fn stun_uri(&self) -> Option<String> {
        (!self.stun_server.is_empty())
            .then(|| format!("stun://{}:{}", self.stun_server, self.stun_port))
    }

    /// The `turn(s)://user:pwd@host:port?transport=..` URI, if TURN is configured.
    pub fn turn_uri(&self) -> Option<String> {
        if self.turn_server.is_empty() {
            return None;
        }
        let scheme = if self.turn_type == "tls" {
            "turns"
        } else {
            "turn"
        };
        let transport = if self.turn_type == "tcp" {
            "?transport=tcp"
        } else {
            ""
        };
        Some(format!(
            "{scheme}://{}:{}@{}:{}{transport}",
            self.turn_user, self.turn_pwd, self.turn_server, self.turn_port
        ))
    }
}

/// `[media]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Media {
    /// `min-max` UDP ports for ICE (Janus: `rtp_port_range`); empty means any.
    pub rtp_port_range: String,
    /// Jitter buffer on publishers' incoming RTP, in ms (webrtcbin `latency`).
    /// It absorbs reordering and lets NACKs be answered before forwarding.
    pub jitter_buffer_ms: u32,
    /// Minimum interval between keyframe requests forwarded to one publisher
    /// stream, in ms; subscribers' PLI/FIR beyond this are merged.
    pub keyframe_interval_ms: u64,
    /// Send each video frame's packets to a subscriber as one batch (one
    /// `sendmmsg`; see `room::graph::batcher`).
    pub batch_send: bool,
}

impl Default for Media {
    fn default() -> Self {
        Media {
            rtp_port_range: "20000-40000".into(),
            jitter_buffer_ms: 100,
            keyframe_interval_ms: 500,
            batch_send: true,
        }
    }
}

impl Media {
    /// The parsed port range, `None` when unset.
    pub fn port_range(&self) -> Result<Option<(u16, u16)>, ConfigError> {
        if self.rtp_port_range.trim().is_empty() {
            return Ok(None);
        }
        let bad = |reason: &str| ConfigError::Invalid {
            key: "media.rtp_port_range",
            reason: reason.into(),
        };
        let (a, b) = self
            .rtp_port_range
            .split_once('-')
            .ok_or_else(|| bad("expected min-max"))?;
        let min: u16 = a.trim().parse().map_err(|_| bad("min is not a port"))?;
        let max: u16 = b.trim().parse().map_err(|_| bad("max is not a port"))?;
        if min == 0 || min > max {
            return Err(bad("need 0 < min <= max"));
        }
        Ok(Some((min, max)))
    }
}

/// `[videoroom]`: the video-room plugin.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VideoRoom {
    /// Room and participant ids are strings instead of integers (Janus: `string_ids`).
    pub string_ids: bool,
    /// When set, `create` needs this `admin_key` (Janus: `admin_key`).
    pub admin_key: String,
    /// Rooms created at start-up.
    pub rooms: Vec<RoomPreset>,
}

impl Default for VideoRoom {
    fn default() -> Self {
        VideoRoom {
            string_ids: false,
            admin_key: String::new(),
            rooms: vec![],
        }
    }
}

/// A room created at start-up: the body of a videoroom `create` request as TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct RoomPreset(pub toml::Table);

/// A mountpoint created at start-up: the body of a streaming `create`
/// request as TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct MountpointPreset(pub toml::Table);

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let cfg: Config = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.into(),
            source,
        })?;
        cfg.media.port_range()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_config_parses() {
        let cfg = Config::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/conf/gateway.toml"
        )))
        .unwrap();
        assert_eq!(cfg.http.port, 8088);
        assert_eq!(cfg.websockets.ws_port, 8188);
        assert_eq!(cfg.general.session_timeout, 60);
    }

    #[test]
    fn port_range_and_uris() {
        let mut m = Media::default();
        assert_eq!(m.port_range().unwrap(), Some((20000, 40000)));
        m.rtp_port_range = "5-2".into();
        assert!(m.port_range().is_err());
        let n = Nat {
            stun_server: "stun.example.org".into(),
            ..Nat::default()
        };
        assert_eq!(n.stun_uri().unwrap(), "stun://stun.example.org:3478");
        assert!(n.turn_uri().is_none());
        let n = Nat {
            turn_server: "t".into(),
            turn_user: "u".into(),
            turn_pwd: "p".into(),
            turn_type: "tcp".into(),
            ..n
        };
        assert_eq!(n.turn_uri().unwrap(), "turn://u:p@t:3478?transport=tcp");
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(toml::from_str::<Config>("[general]\nsession_timeot = 3").is_err());
    }
}
