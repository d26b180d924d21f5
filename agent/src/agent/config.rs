//! `serf agent`'s configuration: flags and config files (applied in order,
//! as Serf applies them) into one [`AgentConfig`], checked before anything
//! starts.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use serf_core::wire::crypto::{Key, Label};
use serf_core::{Config, Wire};

use crate::cli::{parse_duration, parse_join_addr, Flags, DEFAULT_PORT, DEFAULT_RPC};
use crate::handlers::Handler;
use crate::rpc::base64_decode;
use serf_runtime_std::id::NodeId;

/// Everything `serf agent` was asked to do.
#[derive(Debug)]
pub struct AgentConfig {
    /// Node name.
    pub name: String,
    /// UDP bind address.
    pub bind: SocketAddr,
    /// Address gossiped to others.
    pub advertise: SocketAddr,
    /// Protocol configuration (profile, keys, label).
    pub config: Config,
    /// Tags.
    pub tags: Vec<(String, String)>,
    /// Event handlers.
    pub handlers: Vec<Handler>,
    /// Join at start (failure is fatal).
    pub join: Vec<SocketAddr>,
    /// Join in the background until it works.
    pub retry_join: Vec<SocketAddr>,
    /// Retry interval.
    pub retry_interval: Duration,
    /// Retry attempts (0 = unlimited).
    pub retry_max: u32,
    /// RPC listen address.
    pub rpc_addr: SocketAddr,
    /// RPC auth key.
    pub rpc_auth: String,
    /// Snapshot file.
    pub snapshot: Option<std::path::PathBuf>,
    /// Rejoin even after a recorded leave.
    pub rejoin: bool,
    /// Replay past user events when joining (`-replay`).
    pub replay: bool,
    /// SIGTERM leaves gracefully too (`leave_on_terminate`).
    pub leave_on_terminate: bool,
    /// SIGINT exits without leaving (`skip_leave_on_interrupt`).
    pub skip_leave_on_interrupt: bool,
    /// How long a leave waits for its broadcast.
    pub broadcast_timeout: Duration,
    /// Most verbose level printed.
    pub log_level: tracing::Level,
    /// Tags persisted here (rewritten on change).
    pub tags_file: Option<std::path::PathBuf>,
    /// Keys persisted here (rewritten on change).
    pub keyring_file: Option<std::path::PathBuf>,
    /// `-syslog`: the facility to log at.
    pub syslog: Option<u8>,
    /// `-runtime`: which runtime drives the member.
    pub runtime: RuntimeChoice,
    /// Said at start: deprecated flags, configuration keys accepted but
    /// without effect.
    pub warnings: Vec<String>,
}

/// `-runtime=auto|uring|std`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RuntimeChoice {
    /// io_uring where the kernel offers it, std otherwise.
    #[default]
    Auto,
    /// io_uring or fail.
    Uring,
    /// The std runtime (a thread and a blocking socket).
    Std,
}

impl RuntimeChoice {
    fn parse(s: &str) -> Result<RuntimeChoice, String> {
        match s {
            "auto" => Ok(RuntimeChoice::Auto),
            "uring" | "io_uring" => Ok(RuntimeChoice::Uring),
            "std" => Ok(RuntimeChoice::Std),
            _ => Err(format!("-runtime must be auto, uring or std, got {s:?}")),
        }
    }
}

pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Parses `-bind` / `-advertise`: `host`, `host:port`, `IP`, `[IPv6]:port`
/// (a host name is resolved, as Serf resolves it); errors name the flag.
pub(crate) fn parse_addr(flag: &str, s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let bare = s.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, DEFAULT_PORT));
    }
    let with_port = if has_port(s) {
        s.to_string()
    } else {
        format!("{s}:{DEFAULT_PORT}")
    };
    let resolved = with_port
        .to_socket_addrs()
        .map_err(|e| format!("invalid {flag} address {s:?}: {e}"))?
        .collect::<Vec<_>>();
    // Prefer IPv4, as Go's resolver order usually gives it.
    resolved
        .iter()
        .find(|a| a.is_ipv4())
        .or(resolved.first())
        .copied()
        .ok_or_else(|| format!("invalid {flag} address {s:?}: it resolves to no address"))
}

/// True if an address text carries a port (`h:p` or `[v6]:p`).
pub(crate) fn has_port(s: &str) -> bool {
    s.contains("]:") || (s.matches(':').count() == 1 && !s.starts_with('['))
}

/// Serf's `validate_node_names`: letters, digits, `-` and `.`, 1 to 128.
pub(crate) fn validate_node_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 128 {
        return Err(format!(
            "Node name is {} characters. Valid length is between 1 and 128 characters",
            name.len()
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return Err(format!(
            "Node name contains invalid characters {name}, Valid characters include all alpha-numerics and dashes and '.'"
        ));
    }
    Ok(())
}

impl AgentConfig {
    /// Parses the agent's flags, after the flags its configuration files stand for.
    pub fn from_args(argv: &[String]) -> Result<AgentConfig, String> {
        // Configuration files first (so command-line flags win), in order.
        let mut files = Vec::new();
        let mut rest = Vec::new();
        let mut it = argv.iter();
        while let Some(a) = it.next() {
            let (name, inline) = crate::cli::split_flag(a);
            if a.starts_with('-') && (name == "config-file" || name == "config-dir") {
                let v = crate::cli::flag_value(name, inline, &mut it)?;
                files.push((name == "config-dir", v));
            } else {
                rest.push(a.clone());
            }
        }
        let loaded = crate::config_file::load(&files)?;
        let mut all = loaded.flags;
        all.extend(rest);
        let mut cfg = Self::from_flags(&all)?;
        cfg.warnings.extend(loaded.warnings);
        Ok(cfg)
    }

    fn from_flags(argv: &[String]) -> Result<AgentConfig, String> {
        let valued = [
            "node",
            "bind",
            "iface",
            "advertise",
            "profile",
            "tag",
            "encrypt",
            "label",
            "event-handler",
            "join",
            "retry-join",
            "retry-interval",
            "retry-max",
            "rpc-addr",
            "rpc-auth",
            "log-level",
            "broadcast-timeout",
            "protocol",
            "role",
            "discover",
            "mdns-iface",
            "syslog-facility",
            "snapshot",
            "tags-file",
            "keyring-file",
            "query-response-size-limit",
            "query-size-limit",
            "user-event-size-limit",
            "reconnect-interval",
            "reconnect-timeout",
            "tombstone-timeout",
            "runtime",
            "wire",
        ];
        let f = Flags::parse(
            argv,
            &[
                "replay",
                "rejoin",
                "disable-compression",
                "disable-coordinates",
                "leave-on-terminate",
                "skip-leave-on-interrupt",
                "syslog",
                "disable-name-resolution",
                "validate-node-names",
            ],
            &valued,
        )?;
        if !f.args.is_empty() {
            return Err(format!("unexpected arguments: {:?}", f.args));
        }
        let mut warnings = Vec::new();
        for flag in ["discover", "mdns-iface"] {
            if f.get(flag).is_some_and(|v| !v.is_empty()) {
                return Err(format!(
                    "-{flag}: mDNS discovery is not supported by this agent; use -join or -retry-join"
                ));
            }
        }
        // Serf uses the host name for an empty -node too.
        let name = f
            .get("node")
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .unwrap_or_else(hostname);
        if f.bool("validate-node-names", false) {
            validate_node_name(&name)?;
        }
        let mut bind = parse_addr("bind", f.get("bind").unwrap_or("0.0.0.0:7946"))?;
        if let Some(iface) = f.get("iface").filter(|i| !i.is_empty()) {
            // -iface picks the address; -bind still gives the port.
            bind.set_ip(crate::netif::interface_ip(iface).map_err(|e| format!("-iface: {e}"))?);
        }
        let advertise = match f.get("advertise") {
            Some(text) => {
                let mut a = parse_addr("advertise", text)?;
                if !has_port(text) {
                    a.set_port(bind.port());
                }
                a
            }
            None if bind.ip().is_unspecified() => {
                SocketAddr::new(crate::netif::advertise_ip(), bind.port())
            }
            None => bind,
        };
        if NodeId::new(&name, advertise).is_none() {
            return Err(format!("node name {name:?} must be 1 to 128 bytes"));
        }
        let syslog = if f.bool("syslog", false) {
            let name = f.get("syslog-facility").unwrap_or("LOCAL0");
            Some(crate::syslog::facility(name).ok_or_else(|| {
                format!("invalid syslog facility {name:?}: use LOCAL0 to LOCAL7, USER, DAEMON, ...")
            })?)
        } else {
            None
        };
        if f.get("role").is_some() {
            warnings.push("Deprecation warning: 'Role' has been replaced with 'Tags'".to_string());
        }
        let profile = f.get("profile").unwrap_or("lan");
        let mut config = Config::profile(profile)
            .ok_or_else(|| format!("unknown profile {profile:?}: use lan, wan or local"))?;
        config = config.with_members(1024);
        // The protocol loop drains events after every datagram, so a short
        // queue is enough (each entry holds a 164-byte node id).
        config.capacity.events = 256;
        config.coordinates = !f.bool("disable-coordinates", false);
        config.resolve_name_conflicts = !f.bool("disable-name-resolution", false);
        apply_limits(&f, &mut config)?;
        if let Some(p) = f.get("protocol") {
            // Serf's protocol versions 2 to 5 all speak the same wire here;
            // the version is announced, and `members -detailed` shows it.
            match p.parse::<u8>() {
                Ok(v @ 2..=5) => config.protocol = v,
                _ => return Err(format!("-protocol must be 2 to 5, got {p:?}")),
            }
        }
        config.wire = match f.get("wire").unwrap_or("hashicorp") {
            "native" => Wire::Native,
            "hashicorp" => Wire::HashiCorp,
            w => return Err(format!("-wire must be hashicorp or native, got {w:?}")),
        };
        config.tag_matcher = &REGEX;
        if let Some(path) = f.get("keyring-file") {
            if f.get("encrypt").is_some() {
                return Err("-encrypt and -keyring-file cannot be used together".into());
            }
            for key in crate::files::read_keyring(std::path::Path::new(path))? {
                config
                    .keyring
                    .install(key)
                    .map_err(|e| format!("{path}: {e:?}"))?;
            }
        }
        if let Some(k) = f.get("encrypt") {
            let bytes = base64_decode(k).ok_or("-encrypt: key is not valid base64")?;
            let key = Key::new(&bytes).map_err(|_| {
                format!(
                    "-encrypt: key must be 16, 24 or 32 bytes, got {}",
                    bytes.len()
                )
            })?;
            config
                .keyring
                .install(key)
                .map_err(|e| format!("-encrypt: {e:?}"))?;
        }
        if let Some(l) = f.get("label") {
            config.label = Some(Label::new(l).ok_or("-label must be 1 to 255 bytes")?);
        }
        let mut tags = Vec::new();
        for t in f.all("tag") {
            // Serf's rule: key=value with a non-empty key.
            let (k, v) = t
                .split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| format!("Invalid tag: '{t}': use key=value"))?;
            tags.retain(|(x, _): &(String, String)| x != k);
            tags.push((k.to_string(), v.to_string()));
        }
        if let Some(role) = f.get("role") {
            tags.push(("role".into(), role.into()));
        }
        let tags_file = f.get("tags-file").map(std::path::PathBuf::from);
        if let Some(path) = &tags_file {
            if !tags.is_empty() {
                return Err("-tags-file cannot be used with -tag or -role".into());
            }
            tags = crate::files::read_tags(path)?;
        }
        let handlers = f
            .all("event-handler")
            .iter()
            .map(|h| Handler::parse(h))
            .collect::<Result<Vec<_>, _>>()?;
        let join = f
            .all("join")
            .iter()
            .map(|j| parse_join_addr(j))
            .collect::<Result<Vec<_>, _>>()?;
        let retry_join = f
            .all("retry-join")
            .iter()
            .map(|j| parse_join_addr(j))
            .collect::<Result<Vec<_>, _>>()?;
        let retry_interval = f
            .get("retry-interval")
            .map(parse_duration)
            .transpose()?
            .unwrap_or(Duration::from_secs(30))
            .max(Duration::from_secs(1));
        let retry_max = f
            .get("retry-max")
            .map(|r| r.parse().map_err(|_| format!("invalid -retry-max {r:?}")))
            .transpose()?
            .unwrap_or(0);
        let rpc_addr: SocketAddr = f
            .get("rpc-addr")
            .unwrap_or(DEFAULT_RPC)
            .parse()
            .map_err(|_| "invalid -rpc-addr: use IP:port".to_string())?;
        let level = f.get("log-level").unwrap_or("info");
        let log_level =
            crate::log::parse_level(level).ok_or_else(|| format!("invalid log level {level:?}"))?;
        // Serf's floor is 1 s.
        let broadcast_timeout = f
            .get("broadcast-timeout")
            .map(parse_duration)
            .transpose()?
            .unwrap_or(Duration::from_secs(5))
            .max(Duration::from_secs(1));
        Ok(AgentConfig {
            broadcast_timeout,
            name,
            bind,
            advertise,
            config,
            tags,
            handlers,
            join,
            retry_join,
            retry_interval,
            retry_max,
            rpc_addr,
            rpc_auth: f.get("rpc-auth").unwrap_or("").to_string(),
            snapshot: f.get("snapshot").map(std::path::PathBuf::from),
            rejoin: f.bool("rejoin", false),
            replay: f.bool("replay", false),
            leave_on_terminate: f.bool("leave-on-terminate", false),
            skip_leave_on_interrupt: f.bool("skip-leave-on-interrupt", false),
            tags_file,
            keyring_file: f.get("keyring-file").map(std::path::PathBuf::from),
            log_level,
            syslog,
            runtime: RuntimeChoice::parse(f.get("runtime").unwrap_or("auto"))?,
            warnings,
        })
    }
}

/// Serf's size limits and reap timeouts (config-file keys), checked against
/// what one datagram and the reassembly buffer can carry.
pub(crate) fn apply_limits(f: &Flags, config: &mut Config) -> Result<(), String> {
    let size = |name: &str, max: usize| -> Result<Option<usize>, String> {
        let Some(v) = f.get(name) else {
            return Ok(None);
        };
        match v.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(Some(n)),
            _ => Err(format!(
                "{name} must be a number from 1 to {max}, got {v:?}"
            )),
        }
    };
    if let Some(n) = size("user-event-size-limit", 1024)? {
        config.user_event_size_limit = n;
    }
    if let Some(n) = size("query-size-limit", 1024)? {
        config.query_size_limit = n;
    }
    if let Some(n) = size(
        "query-response-size-limit",
        config.capacity.reassembly_bytes,
    )? {
        config.query_response_size_limit = n;
    }
    let duration = |name: &str| f.get(name).map(parse_duration).transpose();
    if let Some(d) = duration("reconnect-interval")? {
        config.reconnect_interval = d.max(Duration::from_secs(1));
    }
    if let Some(d) = duration("reconnect-timeout")? {
        config.dead_reap_timeout = d;
    }
    if let Some(d) = duration("tombstone-timeout")? {
        config.left_reap_timeout = d;
    }
    Ok(())
}

/// Full regular expressions for query tag filters (unanchored, as Serf).
#[derive(Debug)]
struct RegexMatcher;
impl serf_core::query::TagMatcher for RegexMatcher {
    fn matches(&self, expr: &str, value: &str) -> bool {
        regex_lite::Regex::new(expr).is_ok_and(|r| r.is_match(value))
    }
}
static REGEX: RegexMatcher = RegexMatcher;

#[cfg(test)]
mod config_file_tests {
    use super::*;

    #[test]
    fn config_files_apply_and_flags_override_them() {
        let dir = std::env::temp_dir().join(format!("serf-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("a.json"),
            r#"{"node_name": "from-file", "profile": "wan", "tags": {"role": "db", "zone": "a"}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("b.json"),
            r#"{"tags": {"zone": "b"}, "event_handlers": ["uptime"]}"#,
        )
        .unwrap();
        let args: Vec<String> = vec![
            format!("-config-dir={}", dir.display()),
            "-node=from-flag".into(),
        ];
        let c = AgentConfig::from_args(&args).unwrap();
        assert_eq!(c.name, "from-flag", "flags override files");
        assert_eq!(
            c.config.probe_interval,
            Duration::from_secs(5),
            "profile from the file"
        );
        assert!(
            c.tags.contains(&("role".into(), "db".into()))
                && c.tags.contains(&("zone".into(), "b".into())),
            "{:?}",
            c.tags
        );
        assert_eq!(c.handlers.len(), 1);
        std::fs::write(dir.join("c.json"), r#"{"bogus": 1}"#).unwrap();
        assert!(AgentConfig::from_args(&args)
            .unwrap_err()
            .contains("unknown configuration key"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn article_flags_parse() {
        let c = AgentConfig::from_args(&args(&[
            "-node=ichabod",
            "-profile=wan",
            "-bind=[::1]:7777",
            "-tag",
            "role=ichabod",
            "-tag",
            "region=syd",
        ]))
        .unwrap();
        assert_eq!(c.name, "ichabod");
        assert_eq!(c.bind, "[::1]:7777".parse().unwrap());
        assert_eq!(
            c.tags,
            vec![
                ("role".into(), "ichabod".into()),
                ("region".into(), "syd".into())
            ]
        );
        assert_eq!(c.config.probe_interval, Duration::from_secs(5));
        assert_eq!(
            c.broadcast_timeout,
            Duration::from_secs(5),
            "Serf's default"
        );
        let quick =
            AgentConfig::from_args(&args(&["-node=a", "-broadcast-timeout=200ms"])).unwrap();
        assert_eq!(
            quick.broadcast_timeout,
            Duration::from_secs(1),
            "Serf's floor"
        );
        let slow = AgentConfig::from_args(&args(&[
            "-node=a",
            "-broadcast-timeout=8s",
            "-user-event-size-limit=800",
            "-tombstone-timeout=1h",
            "-reconnect-timeout=30m",
        ]))
        .unwrap();
        assert_eq!(slow.config.user_event_size_limit, 800);
        assert_eq!(slow.config.left_reap_timeout, Duration::from_secs(3600));
        assert_eq!(slow.config.dead_reap_timeout, Duration::from_secs(1800));
        let err =
            AgentConfig::from_args(&args(&["-node=a", "-user-event-size-limit=5000"])).unwrap_err();
        assert!(err.contains("user-event-size-limit must be"), "{err}");
        assert_eq!(slow.broadcast_timeout, Duration::from_secs(8));
    }

    #[test]
    fn bad_flags_give_clear_errors() {
        for (a, want) in [
            (vec!["-bind=nonsense"], "invalid bind"),
            (vec!["-profile=mars"], "unknown profile"),
            (vec!["-encrypt=!!!"], "base64"),
            (vec!["-encrypt=AAAA"], "16, 24 or 32"),
            (vec!["-tag=novalue"], "key=value"),
            (vec!["-tag==v"], "Invalid tag: '=v'"),
            (vec!["-event-handler=bogus=x"], "invalid event handler"),
            (
                vec!["-config-file=/nonexistent.json"],
                "cannot read config file",
            ),
            (vec!["-keyring-file=/nonexistent"], "cannot read"),
            (
                vec!["-tags-file=/tmp/t.json", "-tag=a=b"],
                "cannot be used with",
            ),
            (vec!["-bogus"], "not defined"),
            (vec!["-rpc-addr=here"], "rpc-addr"),
        ] {
            let e = AgentConfig::from_args(&args(&a)).unwrap_err();
            assert!(e.contains(want), "{a:?}: {e}");
        }
    }
}
