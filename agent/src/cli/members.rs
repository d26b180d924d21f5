//! `serf members`: the member list, filtered by status, name, tags or role, as text or JSON (with `-nearest`, sorted by estimated RTT).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cli::output::{
    columnize, member_addr, member_tags, pretty_json, JsonMember, JsonMembers,
};
use crate::cli::rtt::coordinate;
use crate::cli::{parse_flags, rpc_flags, with_rpc, CliError};
use crate::rpc::{get, get_str, get_u64, Client};

/// Runs the command.
pub(super) fn run(argv: &[String]) -> Result<i32, CliError> {
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
        members.sort_by(|a, b| rtts[&get_str(a, "Name")].total_cmp(&rtts[&get_str(b, "Name")]));
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
