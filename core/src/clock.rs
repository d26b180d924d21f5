//! Lamport clocks (Serf keeps three: member intents, user events, queries).

/// A Lamport clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LamportClock(u64);

impl Default for LamportClock {
    fn default() -> Self {
        LamportClock::new()
    }
}

impl LamportClock {
    /// A clock at 1 (Serf increments once at creation).
    pub fn new() -> Self {
        LamportClock(1)
    }
    /// The current time.
    pub fn time(&self) -> u64 {
        self.0
    }
    /// Advances by one and returns the new time.
    pub fn increment(&mut self) -> u64 {
        self.0 = self.0.saturating_add(1);
        self.0
    }
    /// Moves past a time seen elsewhere: if `v >= time`, time becomes `v + 1`.
    pub fn witness(&mut self, v: u64) {
        if v >= self.0 {
            self.0 = v.saturating_add(1);
        }
    }
    /// Restores a saved time (snapshots): never moves backwards.
    pub fn restore(&mut self, v: u64) {
        self.0 = self.0.max(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_ticks_and_witnesses_higher_times() {
        let mut c = LamportClock::new();
        assert_eq!(c.time(), 1);
        assert_eq!(c.increment(), 2);
        c.witness(10);
        assert_eq!(c.time(), 11);
        c.witness(3);
        assert_eq!(c.time(), 11);
    }
}
