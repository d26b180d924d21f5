//! Command-line parsing shared by the bench tools (`clap`), with the tools'
//! own wording for an unknown flag.

use clap::error::{ContextKind, ErrorKind};
use clap::Parser;

/// Parses the process arguments into `T`, or prints why not (and the usage)
/// and exits: 0 for `--help`, 2 for a bad command line.
pub fn parse<T: Parser>(tool: &str) -> T {
    match T::try_parse() {
        Ok(args) => args,
        Err(e) => {
            if e.kind() == ErrorKind::UnknownArgument {
                if let Some(arg) = e.get(ContextKind::InvalidArg) {
                    eprintln!("{tool}: unknown flag {arg}");
                }
            }
            e.exit()
        }
    }
}
