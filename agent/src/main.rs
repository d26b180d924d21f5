//! The `serf` command.

use std::process::ExitCode;

const HELP: &str = "usage: serf [--version] [--help] <command> [<args>]

Available commands are:
    agent           Runs a Serf agent
    event           Send a custom event through the Serf cluster
    force-leave     Forces a member of the cluster to enter the \"left\" state
    info            Provides debugging information for operators
    join            Tell Serf agent to join cluster
    keygen          Generates a new encryption key
    keys            Manipulate the internal encryption keyring used by Serf
    leave           Gracefully leaves the Serf cluster and shuts down
    members         Lists the members of a Serf cluster
    monitor         Stream logs from a Serf agent
    query           Send a query to the Serf cluster
    reachability    Test network reachability
    rtt             Estimates network round trip time between nodes
    tags            Modify tags of a running Serf agent
    version         Prints the Serf version";

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv
        .iter()
        .any(|a| a == "-v" || a == "--version" || a == "-version")
    {
        return ExitCode::from(serf_agent::cli::run("version", &[]) as u8);
    }
    let Some(cmd) = argv.first() else {
        eprintln!("{HELP}");
        return ExitCode::from(1);
    };
    let rest = &argv[1..];
    let code = match cmd.as_str() {
        "-h" | "--help" | "help" => {
            println!("{HELP}");
            0
        }
        "agent" => serf_agent::agent::run(rest),
        c => serf_agent::cli::run(c, rest),
    };
    ExitCode::from(code.clamp(0, 255) as u8)
}
