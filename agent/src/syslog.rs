//! `-syslog`: log lines also go to the local syslog daemon's socket
//! (`/dev/log`, RFC 3164 framing), at the facility `syslog_facility` names.

use std::os::unix::net::UnixDatagram;

use tracing::Level;

/// Where the local syslog daemon listens.
pub const SOCKET: &str = "/dev/log";

/// A connection to the local syslog daemon.
pub struct Syslog {
    socket: UnixDatagram,
    facility: u8,
}

/// Syslog facility codes by Serf's names (`LOCAL0` is its default).
pub fn facility(name: &str) -> Option<u8> {
    Some(match name.to_ascii_uppercase().as_str() {
        "KERN" => 0,
        "USER" => 1,
        "MAIL" => 2,
        "DAEMON" => 3,
        "AUTH" => 4,
        "SYSLOG" => 5,
        "LPR" => 6,
        "NEWS" => 7,
        "UUCP" => 8,
        "CRON" => 9,
        "AUTHPRIV" => 10,
        "FTP" => 11,
        "LOCAL0" => 16,
        "LOCAL1" => 17,
        "LOCAL2" => 18,
        "LOCAL3" => 19,
        "LOCAL4" => 20,
        "LOCAL5" => 21,
        "LOCAL6" => 22,
        "LOCAL7" => 23,
        _ => return None,
    })
}

impl Syslog {
    /// Connects to `path` (normally [`SOCKET`]).
    pub fn connect(path: &str, facility: u8) -> Result<Syslog, String> {
        let socket = UnixDatagram::unbound().map_err(|e| format!("Syslog setup failed: {e}"))?;
        socket
            .connect(path)
            .map_err(|e| format!("Syslog setup failed: cannot reach {path}: {e}"))?;
        Ok(Syslog { socket, facility })
    }

    /// Sends one line; a daemon that went away is not fatal (the line is
    /// still on stdout), so the error is returned for counting only.
    pub fn send(&self, level: Level, text: &str) -> std::io::Result<()> {
        let severity = match level {
            Level::ERROR => 3,
            Level::WARN => 4,
            Level::INFO => 6,
            Level::DEBUG | Level::TRACE => 7,
        };
        let pri = u32::from(self.facility) * 8 + severity;
        let msg = format!("<{pri}>serf[{}]: {text}", std::process::id());
        self.socket.send(msg.as_bytes()).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_reach_the_syslog_socket_with_facility_and_severity() {
        let path = std::env::temp_dir().join(format!("serf-syslog-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let daemon = UnixDatagram::bind(&path).unwrap();
        let log = Syslog::connect(path.to_str().unwrap(), facility("local0").unwrap()).unwrap();
        log.send(Level::WARN, "[WARN] agent: hello").unwrap();
        let mut buf = [0u8; 256];
        let n = daemon.recv(&mut buf).unwrap();
        let got = String::from_utf8_lossy(&buf[..n]).to_string();
        // LOCAL0 (16) * 8 + warning (4) = 132.
        assert!(got.starts_with("<132>serf["), "{got}");
        assert!(got.ends_with("]: [WARN] agent: hello"), "{got}");
        assert!(facility("LOCAL9").is_none());
        assert!(Syslog::connect("/nonexistent/log", 16)
            .err()
            .unwrap()
            .contains("Syslog setup failed"));
        let _ = std::fs::remove_file(&path);
    }
}
