//! `serf reachability`: checks that every live member answers a ping query.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::cli::query::run_query;
use crate::cli::{parse_flags, rpc_flags, with_rpc, CliError};
use crate::rpc::{get, get_str, Client};

/// Runs the command.
pub(super) fn run(argv: &[String]) -> Result<i32, CliError> {
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
    .acks;
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
        println!("A member that does not answer may be down, or unable to reach this agent:");
        println!("check firewalls, and that the gossip port is open for UDP both ways.");
        Ok(1)
    }
}
