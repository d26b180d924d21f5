//! Agent logging through `tracing`: lines go to stdout (at `-log-level`) and
//! to a log thread that keeps the last 512 lines and feeds `monitor` clients.
//! The tracing layer only sends on a channel; the ring and the subscriber
//! list belong to the log thread (no shared mutable state).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::mpsc::{self, Receiver, Sender};

use crate::lossy::{LossySender, Offer};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Lines kept for new monitors (Serf keeps 512).
const RING: usize = 512;

/// A log line with its level.
#[derive(Clone, Debug)]
pub struct Line {
    /// Severity.
    pub level: Level,
    /// Formatted text, e.g. `[INFO] agent: Received event: member-join`.
    pub text: String,
}

enum Msg {
    Line(Line),
    Subscribe(LossySender<Line>),
    SetLevel(Level),
    Flush(mpsc::SyncSender<()>),
}

/// Handle to the log thread (cheap to clone).
#[derive(Clone)]
pub struct Logs {
    tx: Sender<Msg>,
}

impl Logs {
    /// A monitor for `client`: the last lines first, then new ones, until
    /// dropped. Lines it does not read in time are dropped and logged.
    pub fn subscribe(&self, client: String) -> Receiver<Line> {
        let (tx, rx) = LossySender::new(client, crate::lossy::BUFFER);
        let _ = self.tx.send(Msg::Subscribe(tx));
        rx
    }
    /// Changes the most verbose level printed on stdout (SIGHUP reload).
    pub fn set_level(&self, level: Level) {
        let _ = self.tx.send(Msg::SetLevel(level));
    }
    /// Waits (up to `timeout`) until every line logged before this call is
    /// written, so an exiting agent's last lines are not lost.
    pub fn flush(&self, timeout: std::time::Duration) {
        let (tx, rx) = mpsc::sync_channel(1);
        if self.tx.send(Msg::Flush(tx)).is_ok() {
            let _ = rx.recv_timeout(timeout);
        }
    }
}

/// Parses Serf's level names.
pub fn parse_level(s: &str) -> Option<Level> {
    match s.to_lowercase().as_str() {
        "trace" => Some(Level::TRACE),
        "debug" => Some(Level::DEBUG),
        "info" => Some(Level::INFO),
        "warn" => Some(Level::WARN),
        "err" | "error" => Some(Level::ERROR),
        _ => None,
    }
}

struct Message(String);
impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

/// The global subscriber: formats each event and sends it to the log
/// thread. The agent uses no spans, so span calls are no-ops.
struct ChannelSubscriber {
    tx: Sender<Msg>,
}

impl Subscriber for ChannelSubscriber {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        // Every level: `monitor -log-level=trace` may ask for anything.
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut m = Message(String::new());
        event.record(&mut m);
        let level = *event.metadata().level();
        let tag = match level {
            Level::ERROR => "ERR",
            Level::WARN => "WARN",
            Level::INFO => "INFO",
            Level::DEBUG => "DEBUG",
            Level::TRACE => "TRACE",
        };
        let text = format!(
            "{} [{tag}] {}: {}",
            timestamp(std::time::SystemTime::now()),
            event
                .metadata()
                .target()
                .rsplit("::")
                .next()
                .unwrap_or("agent"),
            m.0
        );
        let _ = self.tx.send(Msg::Line(Line { level, text }));
    }
}

/// Serf's log time stamp, `2006/01/02 15:04:05`, in UTC, with milliseconds.
fn timestamp(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}/{month:02}/{day:02} {:02}:{:02}:{:02}.{:03}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Installs the global subscriber (once per process) and starts the log
/// thread, which prints lines up to `stdout_max` (changeable with
/// [`Logs::set_level`]) and, with `-syslog`, sends them to syslog too.
pub fn init(mut stdout_max: Level, syslog: Option<crate::syslog::Syslog>) -> Logs {
    let (tx, rx) = mpsc::channel::<Msg>();
    std::thread::spawn(move || {
        let mut ring: VecDeque<Line> = VecDeque::with_capacity(RING);
        let mut subs: Vec<LossySender<Line>> = Vec::new();
        let mut syslog_failures = 0u64;
        while let Ok(m) = rx.recv() {
            match m {
                Msg::Line(l) => {
                    if l.level <= stdout_max {
                        let _ = writeln!(std::io::stdout(), "    {}", l.text);
                        if let Some(sys) = &syslog {
                            if let Err(e) = sys.send(l.level, &l.text) {
                                syslog_failures += 1;
                                if syslog_failures == 1 {
                                    let _ = writeln!(std::io::stdout(), "    [WARN] agent: syslog write failed: {e} (further failures are not reported)");
                                }
                            }
                        }
                    }
                    if ring.len() == RING {
                        ring.pop_front();
                    }
                    // A drop warning goes through tracing (queued behind this
                    // line), once per episode: no feedback loop.
                    subs.retain_mut(|s| s.offer_or_warn(l.clone(), "logs"));
                    ring.push_back(l);
                }
                Msg::Subscribe(mut s) => {
                    // The ring fits the buffer: a new monitor gets it whole.
                    if ring.iter().all(|l| s.offer(l.clone()) != Offer::Gone) {
                        subs.push(s);
                    }
                }
                Msg::SetLevel(l) => stdout_max = l,
                Msg::Flush(done) => {
                    let _ = std::io::stdout().flush();
                    let _ = done.send(());
                }
            }
        }
    });
    let _ = tracing::subscriber::set_global_default(ChannelSubscriber { tx: tx.clone() });
    Logs { tx }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn timestamps_are_serfs_format_in_utc() {
        let t = |s: u64, ms: u64| timestamp(UNIX_EPOCH + Duration::from_millis(s * 1000 + ms));
        assert_eq!(t(0, 0), "1970/01/01 00:00:00.000");
        // 2024-02-29 23:59:59 UTC (a leap day).
        assert_eq!(t(1_709_251_199, 250), "2024/02/29 23:59:59.250");
        assert_eq!(t(1_795_000_000, 0), "2026/11/18 11:06:40.000");
    }
}
