//! `serf info`: the agent's runtime statistics, as text or JSON.

use std::collections::BTreeMap;

use crate::cli::output::pretty_json;
use crate::cli::{parse_flags, rpc_flags, with_rpc, CliError};
use crate::rpc::Client;

/// Runs the command.
pub(super) fn run(argv: &[String]) -> Result<i32, CliError> {
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
