//! `handshake`, `auth` and `stop`: the connection's own state.

use super::connection::Connection;

impl Connection {
    /// Checks the IPC version (once per connection).
    pub(super) fn handshake(&mut self, seq: u64) -> Result<(), String> {
        let b = self.body()?;
        if self.handshake {
            return self.reply(seq, "Handshake already performed");
        }
        if b.signed("Version")? != 1 {
            return self.reply(seq, "Unsupported IPC version");
        }
        self.handshake = true;
        self.reply(seq, "")
    }

    /// Checks the shared secret.
    pub(super) fn auth(&mut self, seq: u64) -> Result<(), String> {
        let b = self.body()?;
        if b.string("AuthKey")? == self.config.auth_key {
            self.authed = true;
            self.reply(seq, "")
        } else {
            self.reply(seq, "Invalid authentication token")
        }
    }

    /// Ends a stream or monitor (Serf accepts it and answers).
    pub(super) fn stop(&mut self, seq: u64) -> Result<(), String> {
        let _ = self.body()?;
        self.reply(seq, "")
    }
}
