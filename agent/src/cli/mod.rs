//! The `serf` command line: Go-style flags (`-flag=value`, `-flag value`,
//! `--flag`), the client commands over the RPC port, and their output in
//! HashiCorp Serf's format.

mod event;
pub mod flags;
mod force_leave;
mod info;
mod join;
mod keygen;
mod keys;
mod leave;
mod members;
mod monitor;
mod output;
mod query;
mod reachability;
mod rtt;
mod tags;
mod version;

pub use flags::{flag_value, parse_duration, parse_join_addr, split_flag, Flags};

/// Default RPC address.
pub const DEFAULT_RPC: &str = "127.0.0.1:7373";
/// Default gossip port.
pub const DEFAULT_PORT: u16 = 7946;

pub(crate) fn rpc_flags(f: &Flags) -> (String, String) {
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
pub(crate) fn parse_flags(
    argv: &[String],
    bools: &[&str],
    valued: &[&str],
) -> Result<Flags, CliError> {
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

pub(crate) fn with_rpc<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = extra.to_vec();
    v.extend(RPC);
    v
}

/// The name and optional payload of `event` and `query`, with Serf's usage
/// errors for too few or too many arguments.
pub(crate) fn name_and_payload(
    args: &[String],
    missing: &str,
) -> Result<(String, Vec<u8>), CliError> {
    match args {
        [] => Err(CliError::Usage(missing.into())),
        [n] => Ok((n.clone(), Vec::new())),
        [n, p] => Ok((n.clone(), p.as_bytes().to_vec())),
        _ => Err(CliError::Usage(
            "Too many command line arguments. Only a name and payload must be specified.".into(),
        )),
    }
}

/// Runs client command `cmd` (one module per command).
fn client_command(cmd: &str, argv: &[String]) -> Result<i32, CliError> {
    match cmd {
        "members" => members::run(argv),
        "join" => join::run(argv),
        "leave" => leave::run(argv),
        "force-leave" => force_leave::run(argv),
        "event" => event::run(argv),
        "rtt" => rtt::run(argv),
        "tags" => tags::run(argv),
        "info" => info::run(argv),
        "keys" => keys::run(argv),
        "keygen" => keygen::run(argv),
        "monitor" => monitor::run(argv),
        "reachability" => reachability::run(argv),
        "version" => version::run(argv),
        "query" => query::run(argv),
        _ => Err(CliError::Msg(format!("serf: unknown command {cmd:?}"))),
    }
}
