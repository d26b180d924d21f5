//! `serf leave`: asks the agent to leave the cluster gracefully and stop.

use crate::cli::{parse_flags, rpc_flags, with_rpc, CliError};
use crate::rpc::Client;

/// Runs the command.
pub(super) fn run(argv: &[String]) -> Result<i32, CliError> {
    let f = parse_flags(argv, &[], &with_rpc(&[]))?;
    let (addr, auth) = rpc_flags(&f);
    let mut c = Client::connect(&addr, &auth)?;
    c.call::<()>("leave", None)
        .map_err(|e| format!("Error leaving: {e}"))?;
    println!("Graceful leave complete");
    Ok(0)
}
