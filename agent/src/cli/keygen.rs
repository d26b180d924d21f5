//! `serf keygen`: prints a new random encryption key.

use crate::cli::{parse_flags, CliError};

/// Runs the command.
pub(super) fn run(argv: &[String]) -> Result<i32, CliError> {
    parse_flags(argv, &[], &[])?;
    let mut key = [0u8; 32];
    use rand_core::RngCore;
    serf_runtime_std::member::Rng::from_os().fill_bytes(&mut key);
    use base64::Engine;
    println!("{}", base64::engine::general_purpose::STANDARD.encode(key));
    Ok(0)
}
