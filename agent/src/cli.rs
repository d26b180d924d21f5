//! The `serf` command line: Go-style flags (`-flag=value`, `-flag value`,
//! `--flag`), the client commands over the RPC port, and their output in
//! HashiCorp Serf's format.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use serde::Serialize;

use crate::rpc::{get, get_bytes, get_str, get_u64, Client};
use serf_core::vivaldi::Coordinate;

/// Default RPC address.
pub const DEFAULT_RPC: &str = "127.0.0.1:7373";
/// Default gossip port.
pub const DEFAULT_PORT: u16 = 7946;

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

fn rpc_flags(f: &Flags) -> (String, String) {
    let addr = f
        .get("rpc-addr")
        .map(str::to_string)
        .or_else(|| std::env::var("SERF_RPC_ADDR").ok())
        .unwrap_or_else(|| DEFAULT_RPC.into());
    let auth = f
        .get("rpc-auth")
        .map(str::to_string)
        .or_else(|| std::env::var("SERF_RPC_AUTH").ok())
        .unwrap_or_default();
    (addr, auth)
}

/// Lays out rows of `|`-separated cells in aligned columns (Serf's columnize).
pub fn columnize(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{:<w$}  ", cell, w = widths[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// How a command failed, which decides what is printed around the message.
#[derive(Debug, PartialEq)]
pub enum CliError {
    /// A failure: the message alone, on stderr.
    Msg(String),
    /// Wrong arguments: the message, then the command's usage (stderr).
    Usage(String),
    /// An unknown or malformed flag: the message on stderr, usage on stdout.
    Flag(String),
    /// `-h`, `-help` or `--help`: the usage on stderr, exit 0.
    Help,
}

impl From<String> for CliError {
    fn from(s: String) -> Self {
        CliError::Msg(s)
    }
}

impl From<&str> for CliError {
    fn from(s: &str) -> Self {
        CliError::Msg(s.to_string())
    }
}

/// True if `argv` asks for help before any `--` terminator.
pub fn wants_help(argv: &[String]) -> bool {
    argv.iter()
        .take_while(|a| *a != "--")
        .any(|a| matches!(a.as_str(), "-h" | "-help" | "--help"))
}

/// Parses a command's flags, mapping help requests and bad flags to the
/// errors that print usage.
fn parse_flags(argv: &[String], bools: &[&str], valued: &[&str]) -> Result<Flags, CliError> {
    if wants_help(argv) {
        return Err(CliError::Help);
    }
    Flags::parse(argv, bools, valued).map_err(CliError::Flag)
}

/// Prints what `e` calls for about `cmd`; returns the exit code.
pub fn report(cmd: &str, e: CliError) -> i32 {
    let usage = crate::usage::of(cmd).unwrap_or_default();
    match e {
        CliError::Help => {
            eprintln!("{usage}");
            0
        }
        CliError::Flag(m) => {
            eprintln!("{m}");
            println!("{usage}");
            1
        }
        CliError::Usage(m) => {
            eprintln!("{m}");
            eprintln!();
            eprintln!("{usage}");
            1
        }
        CliError::Msg(m) => {
            eprintln!("{m}");
            1
        }
    }
}

/// Runs a client subcommand; returns the process exit code.
pub fn run(cmd: &str, argv: &[String]) -> i32 {
    if crate::usage::of(cmd).is_none() {
        eprintln!("serf: unknown command {cmd:?}; see 'serf --help'");
        return 1;
    }
    match client_command(cmd, argv) {
        Ok(code) => code,
        Err(e) => report(cmd, e),
    }
}

const RPC: [&str; 2] = ["rpc-addr", "rpc-auth"];

fn with_rpc<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = extra.to_vec();
    v.extend(RPC);
    v
}

fn member_addr(m: &rmpv::Value) -> String {
    let ip = get_bytes(m, "Addr");
    let port = get_u64(m, "Port");
    match ip.len() {
        4 => format!("{}.{}.{}.{}:{port}", ip[0], ip[1], ip[2], ip[3]),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&ip);
            format!("[{}]:{port}", std::net::Ipv6Addr::from(a))
        }
        _ => format!(":{port}"),
    }
}

fn member_tags(m: &rmpv::Value) -> Vec<(String, String)> {
    let mut t: Vec<(String, String)> = get(m, "Tags")
        .and_then(|t| t.as_map())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    t.sort();
    t
}

fn client_command(cmd: &str, argv: &[String]) -> Result<i32, CliError> {
    match cmd {
        "members" => {
            let f = parse_flags(
                argv,
                &["detailed"],
                &with_rpc(&["status", "name", "tag", "format", "role", "nearest"]),
            )?;
            let (addr, auth) = rpc_flags(&f);
            let mut tags: BTreeMap<String, String> = BTreeMap::new();
            for t in f.all("tag") {
                let (k, v) = t
                    .split_once('=')
                    .ok_or_else(|| format!("invalid tag filter {t:?}, use key=regexp"))?;
                tags.insert(k.into(), v.into());
            }
            if let Some(role) = f.get("role") {
                tags.insert("role".into(), role.into());
            }
            let format = f.get("format").unwrap_or("text");
            if !matches!(format, "text" | "json") {
                return Err(format!("Invalid output format: {format}").into());
            }
            let mut c = Client::connect(&addr, &auth)?;
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Filter<'a> {
                tags: &'a BTreeMap<String, String>,
                status: &'a str,
                name: &'a str,
            }
            c.send(
                "members-filtered",
                Some(&Filter {
                    tags: &tags,
                    status: f.get("status").unwrap_or(""),
                    name: f.get("name").unwrap_or(""),
                }),
            )?;
            let header = c.header();
            let body = c.value()?;
            header.map_err(|e| format!("Error retrieving members: {e}"))?;
            let mut members = get(&body, "Members")
                .and_then(|m| m.as_array())
                .cloned()
                .unwrap_or_default();
            let mut rtts: BTreeMap<String, f64> = BTreeMap::new();
            if let Some(n) = f.get("nearest") {
                let n: usize = n
                    .parse()
                    .map_err(|_| format!("-nearest must be a number, got {n:?}"))?;
                c.call::<()>("stats", None)?;
                let stats = c.value()?;
                let me = get(&stats, "agent")
                    .map(|a| get_str(a, "name"))
                    .unwrap_or_default();
                let mine = coordinate(&mut c, &me)?;
                for m in &members {
                    let name = get_str(m, "Name");
                    if name == me || get_str(m, "Status") != "alive" {
                        continue;
                    }
                    if let Ok(theirs) = coordinate(&mut c, &name) {
                        if mine.is_compatible_with(&theirs) {
                            rtts.insert(name, mine.distance_to(&theirs));
                        }
                    }
                }
                members.retain(|m| rtts.contains_key(&get_str(m, "Name")));
                members.sort_by(|a, b| {
                    rtts[&get_str(a, "Name")].total_cmp(&rtts[&get_str(b, "Name")])
                });
                members.truncate(n);
            }
            if format == "json" {
                let list: Vec<JsonMember> = members.iter().map(JsonMember::from_rpc).collect();
                println!("{}", pretty_json(&JsonMembers { members: list }));
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = members
                .iter()
                .map(|m| {
                    let tags = member_tags(m)
                        .into_iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(",");
                    let mut row = vec![
                        get_str(m, "Name"),
                        member_addr(m),
                        get_str(m, "Status"),
                        tags,
                    ];
                    if f.bool("detailed", false) {
                        row.push(format!("Protocol Version: {}", get_u64(m, "DelegateCur")));
                        row.push(format!(
                            "Available Protocol Range: [{}, {}]",
                            get_u64(m, "DelegateMin"),
                            get_u64(m, "DelegateMax")
                        ));
                    }
                    if let Some(rtt) = rtts.get(&get_str(m, "Name")) {
                        row.push(format!("rtt={:.3}ms", rtt * 1000.0));
                    }
                    row
                })
                .collect();
            print!("{}", columnize(&rows));
            Ok(0)
        }
        "join" => {
            let f = parse_flags(argv, &["replay"], &with_rpc(&[]))?;
            if f.args.is_empty() {
                return Err(CliError::Usage(
                    "At least one address to join must be specified.".into(),
                ));
            }
            let (addr, auth) = rpc_flags(&f);
            let mut c = Client::connect(&addr, &auth)?;
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Join<'a> {
                existing: &'a [String],
                replay: bool,
            }
            c.send(
                "join",
                Some(&Join {
                    existing: &f.args,
                    replay: f.bool("replay", false),
                }),
            )?;
            let header = c.header();
            let body = c.value()?;
            header.map_err(|e| format!("Error joining the cluster: {e}"))?;
            println!(
                "Successfully joined cluster by contacting {} nodes.",
                get_u64(&body, "Num")
            );
            Ok(0)
        }
        "leave" => {
            let f = parse_flags(argv, &[], &with_rpc(&[]))?;
            let (addr, auth) = rpc_flags(&f);
            let mut c = Client::connect(&addr, &auth)?;
            c.call::<()>("leave", None)
                .map_err(|e| format!("Error leaving: {e}"))?;
            println!("Graceful leave complete");
            Ok(0)
        }
        "force-leave" => {
            let f = parse_flags(argv, &["prune"], &with_rpc(&[]))?;
            if f.args.len() != 1 {
                return Err(CliError::Usage(
                    "A node name must be specified to force leave.".into(),
                ));
            }
            let (addr, auth) = rpc_flags(&f);
            let mut c = Client::connect(&addr, &auth)?;
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Fl<'a> {
                node: &'a str,
                prune: bool,
            }
            c.call(
                "force-leave",
                Some(&Fl {
                    node: &f.args[0],
                    prune: f.bool("prune", false),
                }),
            )
            .map_err(|e| format!("Error force leaving: {e}"))?;
            Ok(0)
        }
        "event" => {
            let f = parse_flags(argv, &["coalesce"], &with_rpc(&[]))?;
            let (name, payload) = name_and_payload(&f.args, "An event name must be specified.")?;
            let coalesce = f.bool("coalesce", true);
            let (addr, auth) = rpc_flags(&f);
            let mut c = Client::connect(&addr, &auth)?;
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Ev<'a> {
                name: &'a str,
                #[serde(with = "serde_bytes")]
                payload: &'a [u8],
                coalesce: bool,
            }
            c.call(
                "event",
                Some(&Ev {
                    name: &name,
                    payload: &payload,
                    coalesce,
                }),
            )
            .map_err(|e| format!("Error sending event: {e}"))?;
            println!("Event '{name}' dispatched! Coalescing enabled: {coalesce}");
            Ok(0)
        }
        "query" => query(argv),
        "rtt" => {
            let f = parse_flags(argv, &[], &with_rpc(&[]))?;
            let (addr, auth) = rpc_flags(&f);
            if f.args.is_empty() || f.args.len() > 2 {
                return Err(CliError::Usage(
                    "One or two node names must be specified.".into(),
                ));
            }
            let mut c = Client::connect(&addr, &auth)?;
            let (a, b) = match f.args.as_slice() {
                [a] => {
                    c.call::<()>("stats", None)?;
                    let stats = c.value()?;
                    let me = get(&stats, "agent")
                        .map(|a| get_str(a, "name"))
                        .unwrap_or_default();
                    (a.clone(), me)
                }
                [a, b] => (a.clone(), b.clone()),
                _ => unreachable!("checked above"),
            };
            let (ca, cb) = (coordinate(&mut c, &a)?, coordinate(&mut c, &b)?);
            if !ca.is_compatible_with(&cb) {
                return Err("Coordinates have different dimensions".into());
            }
            let secs = ca.distance_to(&cb);
            println!("Estimated {a} <-> {b} rtt: {:.3} ms", secs * 1000.0);
            Ok(0)
        }
        "tags" => {
            let f = parse_flags(argv, &[], &with_rpc(&["set", "delete"]))?;
            if f.all("set").is_empty() && f.all("delete").is_empty() {
                return Err(CliError::Usage(
                    "At least one of -set or -delete must be given.".into(),
                ));
            }
            let mut set = BTreeMap::new();
            for t in f.all("set") {
                // Serf's rule: a tag needs a non-empty key.
                match t.split_once('=') {
                    Some((k, v)) if !k.is_empty() => {
                        set.insert(k.to_string(), v.to_string());
                    }
                    _ => return Err(format!("Error: Invalid tag: '{t}'").into()),
                }
            }
            let (addr, auth) = rpc_flags(&f);
            let mut c = Client::connect(&addr, &auth)?;
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct T<'a> {
                tags: &'a BTreeMap<String, String>,
                delete_tags: &'a [String],
            }
            c.call(
                "tags",
                Some(&T {
                    tags: &set,
                    delete_tags: f.all("delete"),
                }),
            )
            .map_err(|e| format!("Error setting tags: {e}"))?;
            println!("Successfully updated agent tags");
            Ok(0)
        }
        "info" => {
            let f = parse_flags(argv, &[], &with_rpc(&["format"]))?;
            let (addr, auth) = rpc_flags(&f);
            let json = match f.get("format").unwrap_or("text") {
                "json" => true,
                "text" => false,
                other => return Err(format!("Invalid output format: {other}").into()),
            };
            let mut c = Client::connect(&addr, &auth)?;
            c.call::<()>("stats", None)
                .map_err(|e| format!("Error querying agent: {e}"))?;
            let stats = c.value()?;
            let mut sections: Vec<(String, Vec<(String, String)>)> = stats
                .as_map()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| {
                            let mut kv: Vec<(String, String)> = v
                                .as_map()?
                                .iter()
                                .filter_map(|(a, b)| {
                                    Some((a.as_str()?.to_string(), b.as_str()?.to_string()))
                                })
                                .collect();
                            kv.sort();
                            Some((k.as_str()?.to_string(), kv))
                        })
                        .collect()
                })
                .unwrap_or_default();
            sections.sort();
            if json {
                let map: BTreeMap<&str, BTreeMap<&str, &str>> = sections
                    .iter()
                    .map(|(k, kv)| {
                        (
                            k.as_str(),
                            kv.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect(),
                        )
                    })
                    .collect();
                println!("{}", pretty_json(&map));
            } else {
                for (name, kv) in sections {
                    println!("{name}:");
                    for (k, v) in kv {
                        println!("\t{k} = {v}");
                    }
                }
            }
            Ok(0)
        }
        "keys" => {
            let f = parse_flags(argv, &["list"], &with_rpc(&["install", "use", "remove"]))?;
            let given = |n: &str| f.get(n).is_some_and(|v| !v.is_empty());
            let ops = [
                given("install"),
                given("use"),
                given("remove"),
                f.bool("list", false),
            ];
            match ops.iter().filter(|x| **x).count() {
                0 => {
                    return Err(CliError::Usage(
                        "One of -install, -use, -remove or -list must be given.".into(),
                    ))
                }
                1 => {}
                _ => return Err("Only one of -install, -use, -remove, or -list allowed".into()),
            }
            let (addr, auth) = rpc_flags(&f);
            let mut c = Client::connect(&addr, &auth)?;
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct K<'a> {
                key: &'a str,
            }
            // (command, what it says first, its error prefix, its success line)
            let (cmd, key, start, fail, done) =
                if let Some(k) = f.get("install").filter(|k| !k.is_empty()) {
                    (
                        "install-key",
                        Some(k),
                        "Installing key on all members...",
                        "Error installing key",
                        "Successfully installed key!",
                    )
                } else if let Some(k) = f.get("use").filter(|k| !k.is_empty()) {
                    (
                        "use-key",
                        Some(k),
                        "Changing primary key on all members...",
                        "Error changing primary key",
                        "Successfully changed primary key!",
                    )
                } else if let Some(k) = f.get("remove").filter(|k| !k.is_empty()) {
                    (
                        "remove-key",
                        Some(k),
                        "Removing key on all members...",
                        "Error removing key",
                        "Successfully removed key!",
                    )
                } else {
                    (
                        "list-keys",
                        None,
                        "Asking all members for installed keys...",
                        "Failed to gather member keys",
                        "Keys gathered, listing cluster keys...",
                    )
                };
            println!("==> {start}");
            c.send(cmd, key.map(|k| K { key: k }).as_ref())?;
            let header = c.header();
            let body = c.value()?;
            if let Err(e) = header {
                let failures: Vec<Vec<String>> = get(&body, "Messages")
                    .and_then(|m| m.as_map())
                    .map(|msgs| {
                        msgs.iter()
                            .map(|(node, msg)| {
                                vec![
                                    "failed:".to_string(),
                                    node.as_str().unwrap_or("").to_string(),
                                    msg.as_str().unwrap_or("").to_string(),
                                ]
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if !failures.is_empty() {
                    eprint!("{}", columnize(&failures));
                }
                eprintln!();
                eprintln!("{fail}: {e}");
                return Ok(1);
            }
            println!("==> {done}");
            if cmd == "list-keys" {
                let total = get_u64(&body, "NumNodes");
                let rows: Vec<Vec<String>> = get(&body, "Keys")
                    .and_then(|k| k.as_map())
                    .map(|keys| {
                        keys.iter()
                            .map(|(k, n)| {
                                vec![
                                    k.as_str().unwrap_or("").to_string(),
                                    format!("[{}/{total}]", n.as_u64().unwrap_or(0)),
                                ]
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                println!();
                print!("{}", columnize(&rows));
            }
            Ok(0)
        }
        "keygen" => {
            parse_flags(argv, &[], &[])?;
            let mut key = [0u8; 32];
            use rand_core::RngCore;
            serf_runtime_std::member::Rng::from_os().fill_bytes(&mut key);
            use base64::Engine;
            println!("{}", base64::engine::general_purpose::STANDARD.encode(key));
            Ok(0)
        }
        "monitor" => {
            let f = parse_flags(argv, &[], &with_rpc(&["log-level"]))?;
            let (addr, auth) = rpc_flags(&f);
            let mut c = Client::connect(&addr, &auth)?;
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct M<'a> {
                log_level: &'a str,
            }
            let level = f.get("log-level").unwrap_or("INFO");
            c.call("monitor", Some(&M { log_level: level }))
                .map_err(|e| format!("Error starting monitor: {e}"))?;
            // Lines until the agent goes away.
            while c.header().is_ok() {
                let Ok(v) = c.value() else { break };
                println!("{}", get_str(&v, "Log"));
            }
            println!();
            println!("Remote side ended the monitor: the agent has exited or crashed.");
            Ok(1)
        }
        "reachability" => {
            let f = parse_flags(argv, &["verbose"], &with_rpc(&[]))?;
            let verbose = f.bool("verbose", false);
            let (addr, auth) = rpc_flags(&f);
            let mut c = Client::connect(&addr, &auth)?;
            c.call::<()>("members", None)
                .map_err(|e| format!("Error getting members: {e}"))?;
            let body = c.value()?;
            let members = get(&body, "Members")
                .and_then(|m| m.as_array())
                .cloned()
                .unwrap_or_default();
            let live: Vec<String> = members
                .iter()
                .filter(|m| get_str(m, "Status") == "alive")
                .map(|m| get_str(m, "Name"))
                .collect();
            println!(
                "Total members: {}, live members: {}",
                members.len(),
                live.len()
            );
            println!("Starting reachability test...");
            let started = std::time::Instant::now();
            let mut last = Duration::ZERO;
            let acks = run_query(
                &mut c,
                "_serf_ping",
                &[],
                &[],
                &BTreeMap::new(),
                true,
                0,
                Duration::ZERO,
                || {},
                |v| {
                    if get_str(v, "Type") == "ack" {
                        last = started.elapsed();
                        if verbose {
                            println!("\tAck from '{}'", get_str(v, "From"));
                        }
                    }
                },
            )
            .map_err(|e| format!("Error sending query: {e}"))?
            .0;
            if verbose {
                println!(
                    "Query time: {:.2} sec, time to last response: {:.2} sec",
                    started.elapsed().as_secs_f64(),
                    last.as_secs_f64()
                );
            }
            let missing: Vec<&String> = live.iter().filter(|n| !acks.contains(n)).collect();
            if missing.is_empty() {
                println!("Successfully contacted all live nodes");
                Ok(0)
            } else {
                println!("Failed to contact all live nodes! Missing acks from:");
                for m in missing {
                    println!("\t{m}");
                }
                println!();
                println!(
                    "A member that does not answer may be down, or unable to reach this agent:"
                );
                println!("check firewalls, and that the gossip port is open for UDP both ways.");
                Ok(1)
            }
        }
        "version" => {
            parse_flags(argv, &[], &[])?;
            println!("Serf v{} (Rust)", env!("CARGO_PKG_VERSION"));
            println!("Agent Protocol: 5 (Understands back to: 2)");
            Ok(0)
        }
        other => Err(format!("unknown command {other:?}; see 'serf --help'").into()),
    }
}

/// The name and optional payload of `event` and `query`, with Serf's usage
/// errors for too few or too many arguments.
fn name_and_payload(args: &[String], missing: &str) -> Result<(String, Vec<u8>), CliError> {
    match args {
        [] => Err(CliError::Usage(missing.into())),
        [n] => Ok((n.clone(), Vec::new())),
        [n, p] => Ok((n.clone(), p.as_bytes().to_vec())),
        _ => Err(CliError::Usage(
            "Too many command line arguments. Only a name and payload must be specified.".into(),
        )),
    }
}

/// Acks (names) and responses (name, payload) of a query.
type QueryResult = (Vec<String>, Vec<(String, Vec<u8>)>);

/// A member's coordinate, through `get-coordinate`, as the core's type (so
/// estimates use the core's Vivaldi distance).
fn coordinate(c: &mut Client, node: &str) -> Result<Coordinate, String> {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Q<'a> {
        node: &'a str,
    }
    c.call("get-coordinate", Some(&Q { node }))?;
    let v = c.value()?;
    if !get(&v, "Ok").and_then(|o| o.as_bool()).unwrap_or(false) {
        return Err(format!("Could not find a coordinate for node {node:?}"));
    }
    let co = get(&v, "Coord").ok_or("missing coordinate")?;
    let num = |k: &str| get(co, k).and_then(|x| x.as_f64()).unwrap_or(0.0);
    let parts: Vec<f64> = get(co, "Vec")
        .and_then(|x| x.as_array())
        .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
        .unwrap_or_default();
    if parts.len() > serf_core::vivaldi::MAX_DIMS {
        return Err(format!(
            "coordinate of {node:?} has {} dimensions",
            parts.len()
        ));
    }
    let mut out = Coordinate {
        dims: parts.len() as u8,
        vec: [0.0; serf_core::vivaldi::MAX_DIMS],
        error: num("Error"),
        adjustment: num("Adjustment"),
        height: num("Height"),
    };
    out.vec[..parts.len()].copy_from_slice(&parts);
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn run_query(
    c: &mut Client,
    name: &str,
    payload: &[u8],
    nodes: &[String],
    tags: &BTreeMap<String, String>,
    ack: bool,
    relay_factor: u8,
    timeout: Duration,
    dispatched: impl FnOnce(),
    mut on: impl FnMut(&rmpv::Value),
) -> Result<QueryResult, String> {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Q<'a> {
        filter_nodes: &'a [String],
        filter_tags: &'a BTreeMap<String, String>,
        request_ack: bool,
        relay_factor: u8,
        timeout: i64,
        name: &'a str,
        #[serde(with = "serde_bytes")]
        payload: &'a [u8],
    }
    c.call(
        "query",
        Some(&Q {
            filter_nodes: nodes,
            filter_tags: tags,
            request_ack: ack,
            relay_factor,
            timeout: timeout.as_nanos() as i64,
            name,
            payload,
        }),
    )?;
    // Only an accepted query counts as dispatched.
    dispatched();
    let (mut acks, mut responses) = (Vec::new(), Vec::new());
    loop {
        c.header()?;
        let v = c.value()?;
        on(&v);
        match get_str(&v, "Type").as_str() {
            "ack" => acks.push(get_str(&v, "From")),
            "response" => responses.push((get_str(&v, "From"), get_bytes(&v, "Payload"))),
            _ => return Ok((acks, responses)),
        }
    }
}

fn query(argv: &[String]) -> Result<i32, CliError> {
    let f = parse_flags(
        argv,
        &["no-ack"],
        &with_rpc(&["node", "tag", "timeout", "relay-factor", "format"]),
    )?;
    let (name, payload) = name_and_payload(&f.args, "A query name must be specified.")?;
    let mut tags = BTreeMap::new();
    for t in f.all("tag") {
        let (k, v) = t
            .split_once('=')
            .ok_or_else(|| format!("invalid tag filter {t:?}, use key=regexp"))?;
        tags.insert(k.to_string(), v.to_string());
    }
    let timeout = f
        .get("timeout")
        .map(parse_duration)
        .transpose()?
        .unwrap_or(Duration::ZERO);
    let relay: u8 = f
        .get("relay-factor")
        .map(|r| {
            r.parse()
                .map_err(|_| format!("-relay-factor must be 0..255, got {r:?}"))
        })
        .transpose()?
        .unwrap_or(0);
    let json = match f.get("format").unwrap_or("text") {
        "json" => true,
        "text" => false,
        other => return Err(format!("Invalid output format: {other}").into()),
    };
    let (addr, auth) = rpc_flags(&f);
    let mut c = Client::connect(&addr, &auth)?;
    let (acks, responses) = run_query(
        &mut c,
        &name,
        &payload,
        f.all("node"),
        &tags,
        !f.bool("no-ack", false),
        relay,
        timeout,
        || {
            if !json {
                println!("Query '{name}' dispatched");
            }
        },
        |v| {
            if json {
                return;
            }
            match get_str(v, "Type").as_str() {
                "ack" => println!("Ack from '{}'", get_str(v, "From")),
                "response" => {
                    let p = get_bytes(v, "Payload");
                    let mut s = String::from_utf8_lossy(&p).to_string();
                    if s.ends_with('\n') {
                        s.pop();
                    }
                    println!("Response from '{}': {s}", get_str(v, "From"));
                }
                _ => {}
            }
        },
    )
    .map_err(|e| format!("Error sending query: {e}"))?;
    if json {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct QueryJson {
            /// `null` when acks were not asked for, as Serf prints it.
            acks: Option<Vec<String>>,
            responses: BTreeMap<String, String>,
        }
        let out = QueryJson {
            acks: (!f.bool("no-ack", false)).then_some(acks),
            responses: responses
                .iter()
                .map(|(n, p)| (n.clone(), String::from_utf8_lossy(p).into_owned()))
                .collect(),
        };
        println!("{}", pretty_json(&out));
    } else {
        if !f.bool("no-ack", false) {
            println!("Total Acks: {}", acks.len());
        }
        println!("Total Responses: {}", responses.len());
    }
    Ok(0)
}

/// JSON as Serf prints it (two-space indentation).
fn pretty_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// `members -format=json`: Serf's layout, field for field.
#[derive(Serialize)]
struct JsonMembers {
    members: Vec<JsonMember>,
}

#[derive(Serialize)]
struct JsonMember {
    name: String,
    /// `ip:port`, as Serf prints it.
    addr: String,
    port: u64,
    tags: BTreeMap<String, String>,
    status: String,
    protocol: JsonProtocol,
}

#[derive(Serialize)]
struct JsonProtocol {
    max: u64,
    min: u64,
    version: u64,
}

impl JsonMember {
    fn from_rpc(m: &rmpv::Value) -> JsonMember {
        JsonMember {
            name: get_str(m, "Name"),
            addr: member_addr(m),
            port: get_u64(m, "Port"),
            tags: member_tags(m).into_iter().collect(),
            status: get_str(m, "Status"),
            protocol: JsonProtocol {
                max: get_u64(m, "DelegateMax"),
                min: get_u64(m, "DelegateMin"),
                version: get_u64(m, "DelegateCur"),
            },
        }
    }
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

    #[test]
    fn columns_align_like_columnize() {
        let rows = vec![
            vec![
                "a".into(),
                "10.0.0.1:7946".into(),
                "alive".into(),
                "".into(),
            ],
            vec![
                "long-name".into(),
                "1.2.3.4:1".into(),
                "failed".into(),
                "k=v".into(),
            ],
        ];
        assert_eq!(
            columnize(&rows),
            "a          10.0.0.1:7946  alive\nlong-name  1.2.3.4:1      failed  k=v\n"
        );
    }
}
