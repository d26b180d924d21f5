//! Vivaldi network coordinates as Serf computes them: up to 8 Euclidean
//! dimensions plus a height, Lee et al.'s adjustment term, gravity towards the
//! origin, and a per-peer median latency filter. All values are seconds.
//!
//! Distances are truncated to whole nanoseconds exactly where Serf's Go code
//! converts to `time.Duration`, so the update steps match its unit tests.

pub(crate) mod cache;
use rand_core::RngCore;
use serde::{Deserialize, Serialize};

/// Largest dimensionality supported.
pub const MAX_DIMS: usize = 8;
/// Largest adjustment window.
pub const MAX_WINDOW: usize = 32;
/// Largest latency filter.
pub const MAX_FILTER: usize = 5;
/// Serf's threshold below which vectors count as coincident.
const ZERO_THRESHOLD: f64 = 1.0e-6;
/// RTTs above this are rejected.
pub const MAX_RTT_SECS: f64 = 10.0;

/// Tuning of the coordinate client.
///
/// `default()` is Serf's `coordinate.DefaultConfig` except for the latency
/// filter: we keep 5 samples and use the second smallest (Ledlie et al.'s
/// moving-percentile filter) instead of Serf's median of 3, which ignores
/// queueing spikes and cuts the tail error under jitter. On noise-free RTTs
/// both filters return the same value, so Serf's tests are unaffected;
/// [`VivaldiConfig::serf`] is Serf's exact configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct VivaldiConfig {
    /// Euclidean dimensions (1..=8).
    pub dims: usize,
    /// Error estimate ceiling.
    pub error_max: f64,
    /// Error update weight.
    pub ce: f64,
    /// Coordinate update weight.
    pub cc: f64,
    /// Adjustment samples kept (0 disables the adjustment term).
    pub adjustment_window: usize,
    /// Smallest height, seconds.
    pub height_min: f64,
    /// RTT samples kept per peer (at most [`MAX_FILTER`]).
    pub latency_filter: usize,
    /// Which order statistic of the kept samples feeds an update: the sample
    /// at index `floor(len × p)` of the sorted window. 0.5 is Serf's median;
    /// lower values are Ledlie et al.'s moving-percentile filter, which
    /// ignores queueing spikes.
    pub latency_percentile: f64,
    /// Gravity constant (pulls coordinates back towards the origin).
    pub gravity_rho: f64,
}

impl Default for VivaldiConfig {
    fn default() -> Self {
        VivaldiConfig {
            dims: 8,
            error_max: 1.5,
            ce: 0.25,
            cc: 0.25,
            adjustment_window: 20,
            height_min: 10.0e-6,
            latency_filter: 5,
            latency_percentile: 0.25,
            gravity_rho: 150.0,
        }
    }
}

impl VivaldiConfig {
    /// Serf's `coordinate.DefaultConfig` exactly (median of 3 samples).
    pub fn serf() -> Self {
        VivaldiConfig {
            latency_filter: 3,
            latency_percentile: 0.5,
            ..VivaldiConfig::default()
        }
    }
}

/// A network coordinate.
///
/// ```
/// use serf_core::vivaldi::{Coordinate, VivaldiConfig};
/// let cfg = VivaldiConfig { dims: 3, height_min: 0.0, ..VivaldiConfig::default() };
/// let mut a = Coordinate::new(&cfg);
/// let mut b = Coordinate::new(&cfg);
/// a.vec[..3].copy_from_slice(&[-0.5, 1.3, 2.4]);
/// b.vec[..3].copy_from_slice(&[1.2, -2.3, 3.4]);
/// assert!((a.distance_to(&b) - 4.104875150354758).abs() < 1e-6);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Coordinate {
    /// Dimensions in use (the rest of `vec` is zero).
    pub dims: u8,
    /// Euclidean part, seconds.
    pub vec: [f64; MAX_DIMS],
    /// Confidence: the smaller the more trusted.
    pub error: f64,
    /// Adjustment term, seconds.
    pub adjustment: f64,
    /// Height (access-link latency), seconds.
    pub height: f64,
}

impl Default for Coordinate {
    fn default() -> Self {
        Coordinate::new(&VivaldiConfig::default())
    }
}

fn magnitude(v: &[f64]) -> f64 {
    libm::sqrt(v.iter().map(|x| x * x).sum())
}

/// Serf truncates distances to whole nanoseconds (`time.Duration`).
fn truncate_ns(secs: f64) -> f64 {
    let ns = secs * 1.0e9;
    if !ns.is_finite() || ns.abs() >= 9.2e18 {
        return secs;
    }
    libm::trunc(ns) / 1.0e9
}

impl Coordinate {
    /// A coordinate at the origin with maximal error.
    pub fn new(cfg: &VivaldiConfig) -> Self {
        Coordinate {
            dims: cfg.dims.clamp(1, MAX_DIMS) as u8,
            vec: [0.0; MAX_DIMS],
            error: cfg.error_max,
            adjustment: 0.0,
            height: cfg.height_min,
        }
    }

    fn v(&self) -> &[f64] {
        &self.vec[..(self.dims as usize).min(MAX_DIMS)]
    }

    /// True if every component is finite and the dimension is in range.
    pub fn is_valid(&self) -> bool {
        (1..=MAX_DIMS).contains(&(self.dims as usize))
            && self.vec.iter().all(|x| x.is_finite())
            && self.error.is_finite()
            && self.adjustment.is_finite()
            && self.height.is_finite()
    }

    /// True if `other` has the same dimensionality.
    pub fn is_compatible_with(&self, other: &Coordinate) -> bool {
        self.dims == other.dims
    }

    /// Distance without adjustments: `|a − b| + a.height + b.height`.
    pub fn raw_distance_to(&self, other: &Coordinate) -> f64 {
        let mut sq = 0.0;
        for (a, b) in self.v().iter().zip(other.v()) {
            sq += (a - b) * (a - b);
        }
        libm::sqrt(sq) + self.height + other.height
    }

    /// Estimated RTT in seconds (adjusted when that stays positive), truncated
    /// to whole nanoseconds as Serf does.
    pub fn distance_to(&self, other: &Coordinate) -> f64 {
        let dist = self.raw_distance_to(other);
        let adjusted = dist + self.adjustment + other.adjustment;
        truncate_ns(if adjusted > 0.0 { adjusted } else { dist })
    }

    /// Moves this coordinate by `force` along the unit vector from `other`
    /// towards it (a random direction when they coincide), updating the height.
    pub fn apply_force(
        &mut self,
        cfg: &VivaldiConfig,
        force: f64,
        other: &Coordinate,
        rng: &mut impl Uniform,
    ) {
        let d = self.dims as usize;
        let (unit, mag) = unit_vector_at(&self.vec[..d], &other.vec[..d], rng);
        for (x, u) in self.vec[..d].iter_mut().zip(unit.iter()) {
            *x += u * force;
        }
        if mag > ZERO_THRESHOLD {
            self.height = (self.height + other.height) * force / mag + self.height;
            self.height = self.height.max(cfg.height_min);
        }
    }
}

/// Unit vector from `b` towards `a` and the distance between them.
fn unit_vector_at(a: &[f64], b: &[f64], rng: &mut impl Uniform) -> ([f64; MAX_DIMS], f64) {
    let mut ret = [0.0; MAX_DIMS];
    let d = a.len();
    for i in 0..d {
        ret[i] = a[i] - b[i];
    }
    let mag = magnitude(&ret[..d]);
    if mag > ZERO_THRESHOLD {
        // Times the reciprocal, as Serf's `mul(ret, 1.0/mag)`: dividing
        // rounds differently in the last bit, and coordinates drift apart
        // from Serf's over a run.
        let inv = 1.0 / mag;
        for x in ret[..d].iter_mut() {
            *x *= inv;
        }
        return (ret, mag);
    }
    for x in ret[..d].iter_mut() {
        *x = rng.uniform() - 0.5;
    }
    let mag = magnitude(&ret[..d]);
    if mag > ZERO_THRESHOLD {
        let inv = 1.0 / mag;
        for x in ret[..d].iter_mut() {
            *x *= inv;
        }
        return (ret, 0.0);
    }
    ret = [0.0; MAX_DIMS];
    ret[0] = 1.0;
    (ret, 0.0)
}

/// A source of uniform floats in `[0, 1)` for random directions. Every
/// `RngCore` is one; a test harness can supply another stream (Go's
/// `rand.Float64`, to replay Serf's tuned tests exactly).
pub trait Uniform {
    /// A uniform float in `[0, 1)`.
    fn uniform(&mut self) -> f64;
}

impl<R: RngCore> Uniform for R {
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The last few RTT samples to one peer; updates use their median.
///
/// ```
/// use serf_core::vivaldi::LatencyFilter;
/// let mut f = LatencyFilter::default();
/// assert_eq!(f.push(0.201, 3), 0.201);
/// assert_eq!(f.push(0.200, 3), 0.201);
/// assert_eq!(f.push(0.207, 3), 0.201);
/// assert_eq!(f.push(1.9, 3), 0.207);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LatencyFilter {
    samples: [f64; MAX_FILTER],
    len: u8,
}

impl LatencyFilter {
    /// Adds a sample (keeping the last `size`) and returns the median.
    pub fn push(&mut self, rtt: f64, size: usize) -> f64 {
        self.push_percentile(rtt, size, 0.5)
    }

    /// Adds a sample (keeping the last `size`) and returns the sample at index
    /// `floor(len × p)` of the sorted window.
    pub fn push_percentile(&mut self, rtt: f64, size: usize, p: f64) -> f64 {
        let size = size.clamp(1, MAX_FILTER);
        let n = self.len as usize;
        if n < size {
            self.samples[n] = rtt;
            self.len += 1;
        } else {
            self.samples.copy_within(n + 1 - size..n, 0);
            self.samples[size - 1] = rtt;
            self.len = size as u8;
        }
        let n = self.len as usize;
        let mut sorted = [0.0; MAX_FILTER];
        sorted[..n].copy_from_slice(&self.samples[..n]);
        sorted[..n].sort_unstable_by(|a, b| a.total_cmp(b));
        let at = (n as f64 * p.clamp(0.0, 1.0)) as usize;
        sorted[at.min(n - 1)]
    }
}

/// Why an update was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateError {
    /// The peer's coordinate has a different dimensionality.
    Dimensions,
    /// The peer's coordinate has NaN or infinite components.
    Invalid,
    /// The RTT is negative, above 10 s, or not a number.
    Rtt,
}

/// Counters of a client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VivaldiStats {
    /// Times the own coordinate turned invalid and was reset.
    pub resets: u64,
    /// Updates refused.
    pub rejected: u64,
    /// Updates applied.
    pub updates: u64,
}

/// One node's coordinate and the state that updates it.
///
/// ```
/// use serf_core::vivaldi::{Client, Coordinate, LatencyFilter, VivaldiConfig};
/// # struct R(u64);
/// # impl rand_core::RngCore for R {
/// #   fn next_u32(&mut self) -> u32 { self.next_u64() as u32 }
/// #   fn next_u64(&mut self) -> u64 { self.0 = serf_core::mix64(self.0); self.0 }
/// #   fn fill_bytes(&mut self, d: &mut [u8]) { for b in d { *b = self.next_u32() as u8 } }
/// # }
/// let cfg = VivaldiConfig::default();
/// let mut c = Client::new(cfg.clone());
/// let mut filter = LatencyFilter::default();
/// let peer = Coordinate::new(&cfg);
/// c.update(&peer, 0.020, &mut filter, &mut R(1)).unwrap();
/// assert!(c.coordinate().distance_to(&peer) > 0.0);
/// assert!(c.update(&peer, 11.0, &mut filter, &mut R(1)).is_err());
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    cfg: VivaldiConfig,
    coord: Coordinate,
    origin: Coordinate,
    adjustment: [f64; MAX_WINDOW],
    adjustment_index: usize,
    stats: VivaldiStats,
}

impl Client {
    /// A client at the origin. Out-of-range settings are clamped.
    pub fn new(mut cfg: VivaldiConfig) -> Self {
        cfg.dims = cfg.dims.clamp(1, MAX_DIMS);
        cfg.adjustment_window = cfg.adjustment_window.min(MAX_WINDOW);
        cfg.latency_filter = cfg.latency_filter.clamp(1, MAX_FILTER);
        let coord = Coordinate::new(&cfg);
        Client {
            origin: coord,
            coord,
            cfg,
            adjustment: [0.0; MAX_WINDOW],
            adjustment_index: 0,
            stats: VivaldiStats::default(),
        }
    }

    /// The current coordinate.
    pub fn coordinate(&self) -> &Coordinate {
        &self.coord
    }
    /// Replaces the coordinate (tests and restores).
    pub fn set_coordinate(&mut self, c: Coordinate) {
        self.coord = c;
    }
    /// The configuration in force.
    pub fn config(&self) -> &VivaldiConfig {
        &self.cfg
    }
    /// Counters.
    pub fn stats(&self) -> VivaldiStats {
        self.stats
    }

    /// Estimated RTT to `other`, seconds.
    pub fn distance_to(&self, other: &Coordinate) -> f64 {
        self.coord.distance_to(other)
    }

    /// Checks a peer coordinate and RTT as [`Client::update`] would, counting a
    /// rejection, without changing anything else.
    pub fn validate(&mut self, other: &Coordinate, rtt: f64) -> Result<(), UpdateError> {
        let check = if !other.is_compatible_with(&self.coord) {
            Err(UpdateError::Dimensions)
        } else if !other.is_valid() {
            Err(UpdateError::Invalid)
        } else if !(0.0..=MAX_RTT_SECS).contains(&rtt) {
            Err(UpdateError::Rtt)
        } else {
            Ok(())
        };
        if check.is_err() {
            self.stats.rejected += 1;
        }
        check
    }

    /// Feeds one RTT measurement (seconds) to a peer whose coordinate is `other`;
    /// `filter` is that peer's latency filter.
    pub fn update(
        &mut self,
        other: &Coordinate,
        rtt: f64,
        filter: &mut LatencyFilter,
        rng: &mut impl Uniform,
    ) -> Result<(), UpdateError> {
        self.validate(other, rtt)?;
        let rtt = filter.push_percentile(rtt, self.cfg.latency_filter, self.cfg.latency_percentile);
        self.update_vivaldi(other, rtt, rng);
        self.update_adjustment(other, rtt);
        self.update_gravity(rng);
        if !self.coord.is_valid() {
            self.stats.resets += 1;
            self.coord = Coordinate::new(&self.cfg);
        }
        self.stats.updates += 1;
        Ok(())
    }

    fn update_vivaldi(&mut self, other: &Coordinate, rtt: f64, rng: &mut impl Uniform) {
        let dist = self.coord.distance_to(other);
        let rtt = rtt.max(ZERO_THRESHOLD);
        let wrongness = (dist - rtt).abs() / rtt;
        let total = (self.coord.error + other.error).max(ZERO_THRESHOLD);
        let weight = self.coord.error / total;
        let c = &self.cfg;
        self.coord.error =
            (c.ce * weight * wrongness + self.coord.error * (1.0 - c.ce * weight)).min(c.error_max);
        let force = c.cc * weight * (rtt - dist);
        let cfg = self.cfg.clone();
        self.coord.apply_force(&cfg, force, other, rng);
    }

    fn update_adjustment(&mut self, other: &Coordinate, rtt: f64) {
        let w = self.cfg.adjustment_window;
        if w == 0 {
            return;
        }
        self.adjustment[self.adjustment_index] = rtt - self.coord.raw_distance_to(other);
        self.adjustment_index = (self.adjustment_index + 1) % w;
        let sum: f64 = self.adjustment[..w].iter().sum();
        self.coord.adjustment = sum / (2.0 * w as f64);
    }

    fn update_gravity(&mut self, rng: &mut impl Uniform) {
        let d = self.origin.distance_to(&self.coord);
        let r = d / self.cfg.gravity_rho;
        let force = -(r * r);
        let origin = self.origin;
        let cfg = self.cfg.clone();
        self.coord.apply_force(&cfg, force, &origin, rng);
    }
}

#[cfg(test)]
mod tests {
    //! Serf's `coordinate_test.go` / `client_test.go` anchors (tolerance 1e-6).
    use super::*;
    use crate::storage::test_support::TestRng;

    fn cfg(dims: usize, height_min: f64) -> VivaldiConfig {
        VivaldiConfig {
            dims,
            height_min,
            ..VivaldiConfig::default()
        }
    }
    fn at(c: &VivaldiConfig, v: &[f64]) -> Coordinate {
        let mut x = Coordinate::new(c);
        x.vec[..v.len()].copy_from_slice(v);
        x
    }
    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-6, "{a} != {b}");
    }

    #[test]
    fn distance_matches_serf_anchors() {
        let c = cfg(3, 0.0);
        let mut a = at(&c, &[-0.5, 1.3, 2.4]);
        let mut b = at(&c, &[1.2, -2.3, 3.4]);
        close(a.distance_to(&a), 0.0);
        close(a.distance_to(&b), 4.104875150354758);
        close(b.distance_to(&a), 4.104875150354758);
        a.adjustment = -1.0e6;
        close(a.distance_to(&b), 4.104875150354758);
        a.adjustment = 0.1;
        b.adjustment = 0.2;
        close(a.distance_to(&b), 4.104875150354758 + 0.3);
        a.height = 0.7;
        b.height = 0.1;
        close(a.distance_to(&b), 4.104875150354758 + 0.3 + 0.8);
    }

    #[test]
    fn magnitude_and_unit_vector_match_serf_anchors() {
        close(magnitude(&[1.0, -2.0, 3.0]), 3.7416573867739413);
        let (u, mag) = unit_vector_at(&[1.0, 2.0, 3.0], &[0.5, 0.6, 0.7], &mut TestRng(1));
        close(u[0], 0.18257418583505536);
        close(u[1], 0.511207720338155);
        close(u[2], 0.8398412548412546);
        assert!(mag > 0.0);
        let (u, mag) = unit_vector_at(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0], &mut TestRng(1));
        close(magnitude(&u[..3]), 1.0);
        assert_eq!(mag, 0.0);
    }

    #[test]
    fn apply_force_matches_serf_anchors() {
        let mut rng = TestRng(2);
        let c = cfg(3, 0.0);
        let origin = Coordinate::new(&c);
        let above = at(&c, &[0.0, 0.0, 2.9]);
        let mut x = origin;
        x.apply_force(&c, 5.3, &above, &mut rng);
        assert_eq!(&x.vec[..3], &[0.0, 0.0, -5.3]);
        let right = at(&c, &[3.4, 0.0, -5.3]);
        x.apply_force(&c, 2.0, &right, &mut rng);
        assert_eq!(&x.vec[..3], &[-2.0, 0.0, -5.3]);
        let mut y = origin;
        y.apply_force(&c, 1.0, &origin, &mut rng);
        close(origin.distance_to(&y), 1.0);
        // Heights (HeightMin 1e-5).
        // `above` keeps height 0 (made before the minimum height was set).
        let h = cfg(3, 10.0e-6);
        let origin = Coordinate::new(&h);
        let mut z = origin;
        z.apply_force(&h, 5.3, &above, &mut rng);
        close(z.vec[2], -5.3);
        close(z.height, 10.0e-6 + 5.3 * 10.0e-6 / 2.9);
        let mut w = origin;
        w.apply_force(&h, -5.3, &above, &mut rng);
        close(w.vec[2], 5.3);
        close(w.height, 10.0e-6);
    }

    #[test]
    fn client_with_serf_config_filters_by_median_of_three() {
        let mut c = Client::new(VivaldiConfig::serf());
        let peer = Coordinate::new(c.config());
        let mut f = LatencyFilter::default();
        for rtt in [0.201, 0.200, 0.207, 1.9] {
            c.update(&peer, rtt, &mut f, &mut TestRng(9)).unwrap();
        }
        // The window now holds 0.200, 0.207, 1.9: its median is 0.207.
        let mut probe = f;
        assert_eq!(probe.push_percentile(0.207, 3, 0.5), 0.207);
    }

    #[test]
    fn default_filter_ignores_queueing_spikes() {
        let mut f = LatencyFilter::default();
        let cfg = VivaldiConfig::default();
        let mut last = 0.0;
        for rtt in [0.050, 0.090, 0.051, 0.120, 0.052] {
            last = f.push_percentile(rtt, cfg.latency_filter, cfg.latency_percentile);
        }
        assert_eq!(last, 0.051, "second smallest of five");
    }

    #[test]
    fn latency_filter_follows_serf_sequence() {
        let mut f = LatencyFilter::default();
        let seq = [
            (0.201, 0.201),
            (0.200, 0.201),
            (0.207, 0.201),
            (1.9, 0.207),
            (0.203, 0.207),
            (0.199, 0.203),
            (0.211, 0.203),
        ];
        for (input, want) in seq {
            assert_eq!(f.push(input, 3), want);
        }
        let mut other = LatencyFilter::default();
        assert_eq!(other.push(0.310, 3), 0.310);
        let mut forgotten = LatencyFilter::default();
        assert_eq!(forgotten.push(0.888, 3), 0.888);
    }

    #[test]
    fn client_distance_and_update_direction_match_serf() {
        let c = cfg(3, 0.0);
        let client = Client::new(c.clone());
        let other = at(&c, &[0.0, 0.0, 12.345]);
        close(client.distance_to(&other), 12.345);
        let mut client = Client::new(cfg(3, 10.0e-6));
        let mut peer = at(client.config(), &[0.0, 0.0, 0.001]);
        peer.height = 10.0e-6;
        let mut f = LatencyFilter::default();
        client
            .update(&peer, 0.002, &mut f, &mut TestRng(3))
            .unwrap();
        assert!(client.coordinate().vec[2] < 0.0);
    }

    #[test]
    fn invalid_rtts_are_rejected_and_leave_the_estimate_unchanged() {
        let mut client = Client::new(VivaldiConfig::serf());
        let peer = Coordinate::new(client.config());
        let mut f = LatencyFilter::default();
        let before = *client.coordinate();
        for rtt in [(i64::MAX as f64) * 1.0e9, -35.0, 11.0, f64::NAN] {
            assert_eq!(
                client.update(&peer, rtt, &mut f, &mut TestRng(4)),
                Err(UpdateError::Rtt)
            );
        }
        assert_eq!(*client.coordinate(), before);
        assert_eq!(client.stats().rejected, 4);
    }

    #[test]
    fn bad_peer_coordinates_are_rejected() {
        let mut client = Client::new(VivaldiConfig::default());
        let mut f = LatencyFilter::default();
        let mut nan = Coordinate::new(client.config());
        nan.vec[3] = f64::NAN;
        assert_eq!(
            client.update(&nan, 0.01, &mut f, &mut TestRng(5)),
            Err(UpdateError::Invalid)
        );
        let mut inf = Coordinate::new(client.config());
        inf.height = f64::INFINITY;
        assert_eq!(
            client.update(&inf, 0.01, &mut f, &mut TestRng(5)),
            Err(UpdateError::Invalid)
        );
        let small = Coordinate::new(&cfg(2, 10.0e-6));
        assert_eq!(
            client.update(&small, 0.01, &mut f, &mut TestRng(5)),
            Err(UpdateError::Dimensions)
        );
    }

    #[test]
    fn poisoned_coordinate_is_reset_and_counted() {
        let mut client = Client::new(VivaldiConfig::default());
        let mut c = *client.coordinate();
        c.vec[0] = f64::NAN;
        client.set_coordinate(c);
        let peer = Coordinate::new(client.config());
        let mut f = LatencyFilter::default();
        client.update(&peer, 0.25, &mut f, &mut TestRng(6)).unwrap();
        assert_eq!(client.stats().resets, 1);
        assert!(client.coordinate().is_valid());
    }
}
