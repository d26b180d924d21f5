//! Serf's six phantom performance tests with Serf's exact thresholds.
//!
//! Serf tuned its thresholds to Go's `math/rand` stream seeded with 1 (reseeded
//! by every `Simulate` and `GenerateRandom` call), so the primary assertions run
//! on our reimplementation of that stream (`serf_bench::gorand`). A second pass
//! over 20 seeds of our own generator checks that the results are not an
//! artefact of one lucky stream (medians, with the margins measured for a
//! faithful port in the reference notes).

use serf_bench::gorand::GoRand;
use serf_bench::phantom::{self, Phantom, Source, Truth};
use serf_bench::rng::SimRng;
use serf_core::vivaldi::VivaldiConfig;
use serf_tests::median;

/// Serf's exact coordinate configuration (these are its conformance tests).
fn cfg(dims: usize) -> VivaldiConfig {
    VivaldiConfig {
        dims,
        ..VivaldiConfig::serf()
    }
}

/// One Serf-shaped run: `Simulate(clients, truth, 1000)` then `Evaluate`.
fn run(n: usize, dims: usize, truth: &Truth, rng: &mut impl Source) -> (f64, f64, Phantom) {
    let mut p = Phantom::new(n, &cfg(dims));
    p.simulate(truth, 1000, rng);
    let (avg, max) = p.evaluate(truth);
    (avg, max, p)
}

fn go_run(n: usize, dims: usize, truth: &Truth) -> (f64, f64, Phantom) {
    run(n, dims, truth, &mut GoRand::new(1))
}

/// Median (avg, max) over 20 seeds of our own generator.
fn seeds(n: usize, dims: usize, truth: impl Fn(&mut SimRng) -> Truth) -> (f64, f64) {
    let (mut a, mut m) = (Vec::new(), Vec::new());
    for seed in 1..=20 {
        let mut rng = SimRng::new(seed);
        let t = truth(&mut rng);
        let (avg, max, _) = run(n, dims, &t, &mut rng);
        a.push(avg);
        m.push(max);
    }
    (median(a), median(m))
}

#[test]
fn phantom_line_meets_serf_thresholds() {
    let t = phantom::line(10, 0.010);
    let (avg, max, _) = go_run(10, 8, &t);
    let (ma, mm) = seeds(10, 8, |_| t.clone());
    println!("line: go-seed-1 ErrorAvg {avg:.6} (≤ 0.0031) ErrorMax {max:.6} (≤ 0.0130); 20-seed medians {ma:.5} {mm:.5}");
    assert!(avg <= 0.0031 && max <= 0.0130);
    assert!(ma <= 0.0031 && mm <= 0.0130);
}

#[test]
fn phantom_grid_meets_serf_thresholds() {
    let t = phantom::grid(25, 0.010);
    let (avg, max, _) = go_run(25, 8, &t);
    let (ma, mm) = seeds(25, 8, |_| t.clone());
    println!("grid: go-seed-1 ErrorAvg {avg:.6} (≤ 0.0016) ErrorMax {max:.6} (≤ 0.0230); 20-seed medians {ma:.5} {mm:.5}");
    assert!(avg <= 0.0016 && max <= 0.0230);
    assert!(ma <= 0.0016 * 1.1 && mm <= 0.0230);
}

#[test]
fn phantom_split_meets_serf_thresholds() {
    let t = phantom::split(25, 0.001, 0.010);
    let (avg, max, _) = go_run(25, 8, &t);
    let (ma, mm) = seeds(25, 8, |_| t.clone());
    println!("split: go-seed-1 ErrorAvg {avg:.7} (≤ 0.000060) ErrorMax {max:.6} (≤ 0.00048); 20-seed medians {ma:.7} {mm:.6}");
    assert!(avg <= 0.000060 && max <= 0.00048);
    assert!(ma <= 0.000060 * 1.2 && mm <= 0.00048 * 1.2);
}

#[test]
fn phantom_height_meets_serf_thresholds() {
    let radius = 0.100;
    let t = phantom::circle(25, radius);
    let (avg, max, p) = go_run(25, 2, &t);
    let centre = p.clients[0].coordinate().height;
    let other = p.clients[1..]
        .iter()
        .map(|c| c.coordinate().height)
        .fold(0.0, f64::max);
    let (ma, mm) = seeds(25, 2, |_| t.clone());
    println!(
        "height: go-seed-1 centre {centre:.4} s (≥ 0.097), highest other {other:.5} s (≤ 0.003), \
         ErrorAvg {avg:.6} (≤ 0.0028), ErrorMax {max:.5} (≤ 0.064); 20-seed medians {ma:.5} {mm:.4}"
    );
    assert!(centre >= 0.97 * radius);
    assert!(other <= 0.03 * radius);
    assert!(avg <= 0.0028 && max <= 0.064);
    // Over other streams a faithful port's median sits near 0.0033 / 0.06.
    assert!(ma <= 0.0040 && mm <= 0.080);
}

/// Serf's drift test: four nodes in a square, pair (0, 2) on the diagonal;
/// returns the centre error after 10,000 more cycles over the one after 1,000.
fn drift_ratio<S: Source>(fresh: impl Fn() -> S) -> f64 {
    let d = 0.5;
    let truth: Truth = (0..4)
        .map(|i| {
            (0..4)
                .map(|j| match (i, j) {
                    _ if i == j => None,
                    _ if i % 2 == 0 && j % 2 == 0 => {
                        Some((std::f64::consts::SQRT_2 * d * 1e9).trunc() / 1e9)
                    }
                    _ => Some(d),
                })
                .collect()
        })
        .collect();
    let centre_error = |p: &Phantom| {
        let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
        for c in &p.clients {
            for k in 0..2 {
                lo[k] = lo[k].min(c.coordinate().vec[k]);
                hi[k] = hi[k].max(c.coordinate().vec[k]);
            }
        }
        let mid = [lo[0] + (hi[0] - lo[0]) / 2.0, lo[1] + (hi[1] - lo[1]) / 2.0];
        (mid[0] * mid[0] + mid[1] * mid[1]).sqrt()
    };
    let mut p = Phantom::new(4, &cfg(2));
    // Nodes 2 and 3 start on the same spot, as in Serf's test.
    for (c, v) in p
        .clients
        .iter_mut()
        .zip([[0.0, 0.0], [0.0, d], [d, d], [d, d]])
    {
        let mut x = *c.coordinate();
        x.vec[..2].copy_from_slice(&v);
        c.set_coordinate(x);
    }
    // Serf's Simulate reseeds on every call.
    p.simulate(&truth, 1000, &mut fresh());
    let baseline = centre_error(&p);
    p.simulate(&truth, 10000, &mut fresh());
    centre_error(&p) / baseline
}

#[test]
fn phantom_drift_is_pulled_back_by_gravity() {
    let go = drift_ratio(|| GoRand::new(1));
    let worst = (1..=20u64)
        .map(|seed| drift_ratio(|| SimRng::new(seed)))
        .fold(0.0, f64::max);
    println!("drift: go-seed-1 centre-error ratio {go:.4} (≤ 0.8); worst over 20 seeds of our generator {worst:.4}");
    assert!(go <= 0.8);
    assert!(worst <= 0.85);
}

#[test]
fn phantom_random_meets_serf_thresholds() {
    // GenerateRandom reseeds with 1, then Simulate reseeds with 1 again.
    let t = phantom::random(25, 0.100, 0.010, &mut GoRand::new(1));
    let (avg, max, _) = go_run(25, 8, &t);
    let (ma, mm) = seeds(25, 8, |rng| phantom::random(25, 0.100, 0.010, rng));
    println!("random: go-seed-1 ErrorAvg {avg:.5} (≤ 0.075) ErrorMax {max:.4} (≤ 0.33); 20-seed medians {ma:.4} {mm:.4}");
    assert!(avg <= 0.075 && max <= 0.33);
    assert!(ma <= 0.075 && mm <= 0.33);
}

#[test]
fn default_filter_leaves_serf_results_unchanged_on_noise_free_rtts() {
    // Our default keeps 5 samples and takes the second smallest; on constant
    // RTTs every order statistic is the same sample, so Serf's runs replay
    // bit for bit.
    let t = phantom::circle(25, 0.100);
    let (a1, m1, _) = go_run(25, 2, &t);
    let mut p = Phantom::new(
        25,
        &VivaldiConfig {
            dims: 2,
            ..VivaldiConfig::default()
        },
    );
    p.simulate(&t, 1000, &mut GoRand::new(1));
    let (a2, m2) = p.evaluate(&t);
    assert_eq!((a1, m1), (a2, m2));
}
