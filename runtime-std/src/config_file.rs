//! Serf's JSON configuration files (`-config-file`, `-config-dir`), turned
//! into the equivalent flags placed before the command line's own, so that
//! flags override files and later files override earlier ones. Lists
//! (`event_handlers`, `start_join`, `retry_join`) append and `tags` merge, as
//! Serf merges them. An unknown key is an error.

use std::path::Path;

use serde_json::Value;

/// Known Serf keys this agent does not implement yet (refused clearly).
const UNSUPPORTED: [&str; 9] = [
    "discover",
    "mdns",
    "interface",
    "disable_name_resolution",
    "enable_syslog",
    "syslog_facility",
    "statsite_addr",
    "statsd_addr",
    "validate_node_names",
];

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Flags equivalent to one configuration file's contents.
pub fn to_flags(text: &str, origin: &str) -> Result<Vec<String>, String> {
    let doc: Value =
        serde_json::from_str(text).map_err(|e| format!("{origin}: invalid JSON: {e}"))?;
    let Value::Object(map) = doc else {
        return Err(format!("{origin}: the configuration must be a JSON object"));
    };
    let mut flags = Vec::new();
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
            "rejoin_after_leave"
            | "replay_on_join"
            | "leave_on_terminate"
            | "skip_leave_on_interrupt"
            | "disable_coordinates" => {
                let flag = match key.as_str() {
                    "rejoin_after_leave" => "rejoin",
                    "replay_on_join" => "replay",
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
            k if UNSUPPORTED.contains(&k) => {
                return Err(format!(
                    "{origin}: configuration key {k:?} is not supported by this agent yet"
                ))
            }
            k => return Err(format!("{origin}: unknown configuration key {k:?}")),
        };
        let v = scalar(value).ok_or_else(|| bad(key, "a string"))?;
        flags.push(format!("-{flag}={v}"));
    }
    Ok(flags)
}

/// Flags from every `-config-file` and `-config-dir` (its `*.json`, in
/// alphabetical order), in command-line order.
pub fn load(files: &[(bool, String)]) -> Result<Vec<String>, String> {
    let mut flags = Vec::new();
    for (is_dir, path) in files {
        if *is_dir {
            let mut entries: Vec<_> = std::fs::read_dir(path)
                .map_err(|e| format!("cannot read config dir {path}: {e}"))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            entries.sort();
            for p in entries {
                flags.extend(read(&p)?);
            }
        } else {
            flags.extend(read(Path::new(path))?);
        }
    }
    Ok(flags)
}

fn read(p: &Path) -> Result<Vec<String>, String> {
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
        .unwrap();
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
}
