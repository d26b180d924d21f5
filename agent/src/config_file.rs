//! Serf's JSON configuration files (`-config-file`, `-config-dir`), turned
//! into the equivalent flags placed before the command line's own, so that
//! flags override files and later files override earlier ones. Lists
//! (`event_handlers`, `start_join`, `retry_join`) append and `tags` merge, as
//! Serf merges them. An unknown key is an error. A Serf key this agent does
//! not implement is accepted with a warning while its value asks for nothing
//! (`""`, `false`, `{}`), and refused with the reason otherwise.

use std::path::Path;

use serde_json::Value;

/// Serf keys this agent does not implement, with what they would need.
const UNSUPPORTED: [(&str, &str); 5] = [
    (
        "discover",
        "mDNS discovery is not supported; use start_join or retry_join",
    ),
    (
        "mdns",
        "mDNS discovery is not supported; use start_join or retry_join",
    ),
    (
        "statsite_addr",
        "metrics export to statsite is not supported",
    ),
    ("statsd_addr", "metrics export to statsd is not supported"),
    (
        "profile_path",
        "custom timing profiles are not supported; use profile lan, wan or local",
    ),
];

/// A value that asks for nothing: what Serf's own defaults are.
fn is_neutral(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Object(m) => m.values().all(is_neutral),
        Value::Array(a) => a.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
    }
}

/// The flags a configuration file stands for, and warnings about keys it
/// accepted without acting on them.
#[derive(Debug, Default, PartialEq)]
pub struct FileFlags {
    /// Flags, in the file's order.
    pub flags: Vec<String>,
    /// One line per accepted-but-ignored key.
    pub warnings: Vec<String>,
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Flags equivalent to one configuration file's contents.
pub fn to_flags(text: &str, origin: &str) -> Result<FileFlags, String> {
    let doc: Value =
        serde_json::from_str(text).map_err(|e| format!("{origin}: invalid JSON: {e}"))?;
    let Value::Object(map) = doc else {
        return Err(format!("{origin}: the configuration must be a JSON object"));
    };
    let mut flags = Vec::new();
    let mut warnings = Vec::new();
    let bad = |key: &str, want: &str| format!("{origin}: {key} must be {want}");
    for (key, value) in &map {
        let flag = match key.as_str() {
            "node_name" => "node",
            "bind" => "bind",
            "advertise" => "advertise",
            "encrypt_key" => "encrypt",
            "log_level" => "log-level",
            "rpc_addr" => "rpc-addr",
            "rpc_auth" => "rpc-auth",
            "profile" => "profile",
            "snapshot_path" => "snapshot",
            "retry_interval" => "retry-interval",
            "retry_max_attempts" => "retry-max",
            "broadcast_timeout" => "broadcast-timeout",
            "role" => "role",
            "tags_file" => "tags-file",
            "keyring_file" => "keyring-file",
            "protocol" => "protocol",
            "runtime" => "runtime",
            "wire" => "wire",
            "interface" => "iface",
            "syslog_facility" => "syslog-facility",
            "rejoin_after_leave"
            | "replay_on_join"
            | "leave_on_terminate"
            | "skip_leave_on_interrupt"
            | "disable_coordinates"
            | "enable_syslog"
            | "disable_name_resolution"
            | "validate_node_names" => {
                let flag = match key.as_str() {
                    "rejoin_after_leave" => "rejoin",
                    "replay_on_join" => "replay",
                    "enable_syslog" => "syslog",
                    k => &k.replace('_', "-"),
                };
                let on = value.as_bool().ok_or_else(|| bad(key, "true or false"))?;
                flags.push(format!("-{flag}={on}"));
                continue;
            }
            "tags" => {
                let obj = value
                    .as_object()
                    .ok_or_else(|| bad(key, "an object of strings"))?;
                for (k, v) in obj {
                    let v = v.as_str().ok_or_else(|| bad(key, "an object of strings"))?;
                    flags.push(format!("-tag={k}={v}"));
                }
                continue;
            }
            "event_handlers" | "start_join" | "retry_join" => {
                let list = value
                    .as_array()
                    .ok_or_else(|| bad(key, "a list of strings"))?;
                let flag = match key.as_str() {
                    "event_handlers" => "event-handler",
                    "start_join" => "join",
                    _ => "retry-join",
                };
                for item in list {
                    let s = item.as_str().ok_or_else(|| bad(key, "a list of strings"))?;
                    flags.push(format!("-{flag}={s}"));
                }
                continue;
            }
            "query_response_size_limit"
            | "query_size_limit"
            | "user_event_size_limit"
            | "reconnect_interval"
            | "reconnect_timeout"
            | "tombstone_timeout" => {
                // No Serf command-line flag; the agent takes them as
                // flags of the same name.
                let v = scalar(value).ok_or_else(|| bad(key, "a number or a duration"))?;
                flags.push(format!("-{}={v}", key.replace('_', "-")));
                continue;
            }
            "enable_compression" => {
                // Accepted: this implementation sends no compressed messages.
                value.as_bool().ok_or_else(|| bad(key, "true or false"))?;
                continue;
            }
            k => match UNSUPPORTED.iter().find(|(u, _)| *u == k) {
                Some((_, why)) if is_neutral(value) => {
                    warnings.push(format!("{origin}: {k:?} ignored ({why})"));
                    continue;
                }
                Some((_, why)) => return Err(format!("{origin}: {k:?}: {why}")),
                None => return Err(format!("{origin}: unknown configuration key {k:?}")),
            },
        };
        let v = scalar(value).ok_or_else(|| bad(key, "a string"))?;
        flags.push(format!("-{flag}={v}"));
    }
    Ok(FileFlags { flags, warnings })
}

/// Flags from every `-config-file` and `-config-dir` (its `*.json`, in
/// alphabetical order), in command-line order.
pub fn load(files: &[(bool, String)]) -> Result<FileFlags, String> {
    let mut flags = FileFlags::default();
    for (is_dir, path) in files {
        if *is_dir {
            let mut entries: Vec<_> = std::fs::read_dir(path)
                .map_err(|e| format!("cannot read config dir {path}: {e}"))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            entries.sort();
            for p in entries {
                flags.append(read(&p)?);
            }
        } else {
            flags.append(read(Path::new(path))?);
        }
    }
    Ok(flags)
}

impl FileFlags {
    fn append(&mut self, mut other: FileFlags) {
        self.flags.append(&mut other.flags);
        self.warnings.append(&mut other.warnings);
    }
}

fn read(p: &Path) -> Result<FileFlags, String> {
    let text = std::fs::read_to_string(p)
        .map_err(|e| format!("cannot read config file {}: {e}", p.display()))?;
    to_flags(&text, &p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serf_keys_become_flags_and_unknown_keys_are_errors() {
        let f = to_flags(
            r#"{"node_name": "web-1", "tags": {"role": "web"}, "event_handlers": ["query:load=uptime"],
                "start_join": ["10.0.0.1"], "rejoin_after_leave": true, "query_size_limit": 2048,
                "replay_on_join": true, "leave_on_terminate": false, "tags_file": "/t.json"}"#,
            "a.json",
        )
        .unwrap()
        .flags;
        assert!(f.contains(&"-node=web-1".to_string()));
        assert!(f.contains(&"-tag=role=web".to_string()));
        assert!(f.contains(&"-event-handler=query:load=uptime".to_string()));
        assert!(f.contains(&"-join=10.0.0.1".to_string()));
        assert!(f.contains(&"-rejoin=true".to_string()));
        assert!(f.contains(&"-replay=true".to_string()));
        assert!(f.contains(&"-leave-on-terminate=false".to_string()));
        assert!(f.contains(&"-tags-file=/t.json".to_string()));
        assert!(f.contains(&"-query-size-limit=2048".to_string()));
        assert!(to_flags(r#"{"nodename": "x"}"#, "b.json")
            .unwrap_err()
            .contains("unknown configuration key"));
        assert!(to_flags(r#"{"statsd_addr": "x"}"#, "b.json")
            .unwrap_err()
            .contains("not supported"));
        assert!(to_flags(r#"{"discover": "cluster"}"#, "b.json")
            .unwrap_err()
            .contains("mDNS discovery is not supported"));
        assert!(to_flags(r#"{"tags": ["x"]}"#, "b.json")
            .unwrap_err()
            .contains("tags must be"));
        assert!(to_flags("{not json", "c.json")
            .unwrap_err()
            .contains("invalid JSON"));
        assert!(to_flags("[1]", "d.json")
            .unwrap_err()
            .contains("JSON object"));
    }

    #[test]
    fn serf_keys_at_neutral_values_are_accepted_with_a_warning() {
        // A configuration HashiCorp's agent starts with (its keys at their
        // defaults) starts this agent too.
        let f = to_flags(
            r#"{"enable_syslog": false, "statsd_addr": "", "statsite_addr": "",
                "interface": "", "discover": "", "syslog_facility": "LOCAL0",
                "disable_name_resolution": false, "mdns": {}, "profile_path": ""}"#,
            "neutral.json",
        )
        .unwrap();
        assert!(f.flags.contains(&"-syslog=false".to_string()));
        assert!(f.flags.contains(&"-syslog-facility=LOCAL0".to_string()));
        assert!(f
            .flags
            .contains(&"-disable-name-resolution=false".to_string()));
        assert_eq!(f.warnings.len(), 5, "{:?}", f.warnings);
        assert!(f
            .warnings
            .iter()
            .any(|w| w.contains("\"statsd_addr\" ignored")));
    }
}
