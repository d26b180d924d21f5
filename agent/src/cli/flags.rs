//! Go-style flags, as the `serf` command and HashiCorp's CLI parse them:
//! `-flag=value`, `-flag value`, `--flag`, booleans without values, `--` ends
//! the flags; and the values they carry (durations, join addresses).

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::cli::DEFAULT_PORT;

/// Parsed flags: repeated values kept in order, plus positional arguments.
#[derive(Debug, Default)]
pub struct Flags {
    values: BTreeMap<String, Vec<String>>,
    /// Positional arguments.
    pub args: Vec<String>,
}

impl Flags {
    /// Parses `argv` given which flags are booleans and which take values.
    pub fn parse(argv: &[String], bools: &[&str], valued: &[&str]) -> Result<Flags, String> {
        let mut f = Flags::default();
        let mut it = argv.iter();
        while let Some(a) = it.next() {
            // As Go's flag package: flags end at the first argument that is
            // not one ("-" included) or after a "--" terminator, so a
            // payload may start with '-'.
            if a == "--" {
                f.args.extend(it.cloned());
                break;
            }
            if !a.starts_with('-') || a == "-" {
                f.args.push(a.clone());
                f.args.extend(it.cloned());
                break;
            }
            let (name, inline) = split_flag(a);
            if bools.contains(&name) {
                let v = inline.unwrap_or_else(|| "true".into());
                if !matches!(v.as_str(), "true" | "false" | "1" | "0") {
                    return Err(format!("invalid boolean value {v:?} for -{name}"));
                }
                f.values.entry(name.into()).or_default().push(v);
            } else if valued.contains(&name) {
                let v = flag_value(name, inline, &mut it)?;
                f.values.entry(name.into()).or_default().push(v);
            } else {
                return Err(format!("flag provided but not defined: -{name}"));
            }
        }
        Ok(f)
    }
    /// Last value of a flag.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }
    /// All values of a repeated flag.
    pub fn all(&self, name: &str) -> &[String] {
        self.values.get(name).map_or(&[], Vec::as_slice)
    }
    /// A boolean flag.
    pub fn bool(&self, name: &str, default: bool) -> bool {
        self.get(name).map_or(default, |v| v == "true" || v == "1")
    }
}

/// A flag argument's name and `=value` part (`-name=v`, `--name`).
pub fn split_flag(arg: &str) -> (&str, Option<String>) {
    let body = arg.trim_start_matches('-');
    match body.split_once('=') {
        Some((n, v)) => (n, Some(v.to_string())),
        None => (body, None),
    }
}

/// A valued flag's value: inline (`-name=v`) or the next argument.
pub fn flag_value<'a>(
    name: &str,
    inline: Option<String>,
    rest: &mut impl Iterator<Item = &'a String>,
) -> Result<String, String> {
    match inline {
        Some(v) => Ok(v),
        None => rest
            .next()
            .cloned()
            .ok_or_else(|| format!("flag needs an argument: -{name}")),
    }
}

/// Parses a Go duration (`500ms`, `5s`, `1m30s`, `2h`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {s:?}");
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let n: f64 = rest[..num_end].parse().map_err(|_| bad())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    Ok(Duration::from_secs_f64(total))
}

/// Parses a join address: `host`, `host:port`, `[v6]:port`, or `name/host:port`.
pub fn parse_join_addr(s: &str) -> Result<SocketAddr, String> {
    let s = s.rsplit_once('/').map_or(s, |(_, a)| a);
    let with_port = if s.parse::<SocketAddr>().is_ok()
        || (s.contains(':') && !s.contains('[') && s.matches(':').count() == 1)
    {
        s.to_string()
    } else if s.starts_with('[') && s.ends_with(']') {
        format!("{s}:{DEFAULT_PORT}")
    } else if s.contains("]:") {
        s.to_string()
    } else if s.matches(':').count() > 1 {
        format!("[{s}]:{DEFAULT_PORT}")
    } else {
        format!("{s}:{DEFAULT_PORT}")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("invalid address {s:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("address {s:?} did not resolve"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_flags_parse_and_refuse_unknown_ones() {
        let argv: Vec<String> = ["-tag", "role=web", "-tag=region=syd", "--detailed", "x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let f = Flags::parse(&argv, &["detailed"], &["tag"]).unwrap();
        assert_eq!(f.all("tag"), ["role=web", "region=syd"]);
        assert!(f.bool("detailed", false));
        assert_eq!(f.args, ["x"]);
        assert!(Flags::parse(&["-nope".to_string()], &[], &[])
            .unwrap_err()
            .contains("not defined"));
        assert!(Flags::parse(&["-tag".to_string()], &[], &["tag"])
            .unwrap_err()
            .contains("needs an argument"));
    }

    #[test]
    fn durations_and_join_addresses_parse_like_serf() {
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(
            parse_join_addr("127.0.0.5").unwrap(),
            "127.0.0.5:7946".parse().unwrap()
        );
        assert_eq!(
            parse_join_addr("node1/127.0.0.5:8000").unwrap(),
            "127.0.0.5:8000".parse().unwrap()
        );
        assert_eq!(
            parse_join_addr("[::1]:7000").unwrap(),
            "[::1]:7000".parse().unwrap()
        );
        assert_eq!(
            parse_join_addr("::1").unwrap(),
            "[::1]:7946".parse().unwrap()
        );
    }
}
