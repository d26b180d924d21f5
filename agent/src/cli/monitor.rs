//! `serf monitor`: streams the agent's log at a level.

use serde::Serialize;

use crate::cli::{parse_flags, rpc_flags, with_rpc, CliError};
use crate::rpc::{get_str, Client};

/// Runs the command.
pub(super) fn run(argv: &[String]) -> Result<i32, CliError> {
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
