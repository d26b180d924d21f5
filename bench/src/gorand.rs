//! Go's `math/rand` (the seeded `rngSource` and `Rand.Int31n` / `Intn` /
//! `Float64`), reimplemented so that Serf's coordinate performance tests, whose
//! thresholds were tuned to Go's stream with seed 1, can run on the same stream.
//!
//! The generator is an additive lagged Fibonacci generator,
//! `y[k] = y[k-607] + y[k-273] (mod 2^64)`, whose seeding XORs a "cooked" table:
//! the state of the same recurrence, started from `srand(1)`, after 7.8e12
//! steps. Rather than embedding Go's table we compute it: stepping 7.8e12 times
//! is too slow, so we jump ahead with polynomial arithmetic, `x^N mod
//! (x^607 − x^334 − 1)` over Z/2^64 (≈ 90 products of degree-606 polynomials).

use std::sync::OnceLock;

const LEN: usize = 607;
const TAP: usize = 273;
const MASK63: u64 = (1 << 63) - 1;

/// Park–Miller step used by seeding (Schrage's method, as Go writes it).
fn seedrand(x: i32) -> i32 {
    const A: i32 = 48271;
    const Q: i32 = 44488;
    const R: i32 = 3399;
    const M: i32 = i32::MAX;
    let hi = x / Q;
    let lo = x % Q;
    let mut x = A.wrapping_mul(lo).wrapping_sub(R.wrapping_mul(hi));
    if x < 0 {
        x = x.wrapping_add(M);
    }
    x
}

/// Multiplies two polynomials of degree < 607 modulo x^607 − x^334 − 1.
fn mulmod(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut prod = vec![0u64; 2 * LEN - 1];
    for (i, &ai) in a.iter().enumerate() {
        if ai == 0 {
            continue;
        }
        for (j, &bj) in b.iter().enumerate() {
            prod[i + j] = prod[i + j].wrapping_add(ai.wrapping_mul(bj));
        }
    }
    reduce(prod)
}

/// Reduces using x^607 = x^334 + 1.
fn reduce(mut p: Vec<u64>) -> Vec<u64> {
    for d in (LEN..p.len()).rev() {
        let c = p[d];
        if c != 0 {
            p[d] = 0;
            p[d - LEN + (LEN - TAP)] = p[d - LEN + (LEN - TAP)].wrapping_add(c);
            p[d - LEN] = p[d - LEN].wrapping_add(c);
        }
    }
    p.truncate(LEN);
    p
}

/// x^n mod the characteristic polynomial.
fn xpow(mut n: u64) -> Vec<u64> {
    let mut result = vec![0u64; LEN];
    result[0] = 1;
    let mut base = vec![0u64; LEN];
    base[1] = 1;
    while n > 0 {
        if n & 1 == 1 {
            result = mulmod(&result, &base);
        }
        base = mulmod(&base, &base);
        n >>= 1;
    }
    result
}

/// Go's `rngCooked`, computed (see the module comment).
pub fn cooked() -> &'static [u64; LEN] {
    static TABLE: OnceLock<[u64; LEN]> = OnceLock::new();
    TABLE.get_or_init(|| {
        // gen_cooked.go's srand(1): note its shifts (20, 10) differ from Seed's.
        let mut vec0 = [0u64; LEN];
        let mut x: i32 = 1;
        for i in -20i32..LEN as i32 {
            x = seedrand(x);
            if i >= 0 {
                let mut u = (x as i64) << 20;
                x = seedrand(x);
                u ^= (x as i64) << 10;
                x = seedrand(x);
                u ^= x as i64;
                vec0[i as usize] = u as u64;
            }
        }
        // Step k (1-based) writes y[k] into position (334 − k) mod 607; the
        // initial contents are y[k] for k in −606..=0 at position (334 − k) mod 607.
        let feed0 = (LEN - TAP) as i64;
        let pos = |k: i64| (feed0 - k).rem_euclid(LEN as i64) as usize;
        let base: Vec<u64> = (-(LEN as i64 - 1)..=0).map(|k| vec0[pos(k)]).collect();
        let steps: i64 = 7_800_000_000_000;
        // y[t] = Σ c_i · y[−606 + i] with c = x^(t + 606) mod P.
        let mut table = [0u64; LEN];
        let first = steps - (LEN as i64 - 1);
        let mut poly = xpow((first + LEN as i64 - 1) as u64);
        for t in first..=steps {
            let y = poly
                .iter()
                .zip(&base)
                .fold(0u64, |acc, (c, b)| acc.wrapping_add(c.wrapping_mul(*b)));
            table[pos(t)] = y;
            // Multiply by x for the next index.
            let mut next = vec![0u64; LEN + 1];
            next[1..].copy_from_slice(&poly);
            poly = reduce(next);
        }
        table
    })
}

/// A seeded `math/rand.Rand` over `rngSource`.
#[derive(Clone)]
pub struct GoRand {
    vec: [u64; LEN],
    tap: usize,
    feed: usize,
}

impl GoRand {
    /// `rand.New(rand.NewSource(seed))`.
    pub fn new(seed: i64) -> GoRand {
        let mut seed = seed % i32::MAX as i64;
        if seed < 0 {
            seed += i32::MAX as i64;
        }
        if seed == 0 {
            seed = 89482311;
        }
        let cooked = cooked();
        let mut vec = [0u64; LEN];
        let mut x = seed as i32;
        for i in -20i32..LEN as i32 {
            x = seedrand(x);
            if i >= 0 {
                let mut u = (x as i64) << 40;
                x = seedrand(x);
                u ^= (x as i64) << 20;
                x = seedrand(x);
                u ^= x as i64;
                vec[i as usize] = (u as u64) ^ cooked[i as usize];
            }
        }
        GoRand {
            vec,
            tap: 0,
            feed: LEN - TAP,
        }
    }

    /// `Uint64`.
    pub fn uint64(&mut self) -> u64 {
        self.tap = if self.tap == 0 { LEN - 1 } else { self.tap - 1 };
        self.feed = if self.feed == 0 {
            LEN - 1
        } else {
            self.feed - 1
        };
        let x = self.vec[self.feed].wrapping_add(self.vec[self.tap]);
        self.vec[self.feed] = x;
        x
    }
    /// `Int63`.
    pub fn int63(&mut self) -> i64 {
        (self.uint64() & MASK63) as i64
    }
    /// `Int31`.
    pub fn int31(&mut self) -> i32 {
        (self.int63() >> 32) as i32
    }
    /// `Int31n` (n > 0).
    pub fn int31n(&mut self, n: i32) -> i32 {
        if n & (n - 1) == 0 {
            return self.int31() & (n - 1);
        }
        let max = (i32::MAX as u32 - (1u32 << 31) % n as u32) as i32;
        let mut v = self.int31();
        while v > max {
            v = self.int31();
        }
        v % n
    }
    /// `Intn` for n < 2^31.
    pub fn intn(&mut self, n: usize) -> usize {
        self.int31n(n as i32) as usize
    }
    /// `Float64`.
    pub fn float64(&mut self) -> f64 {
        loop {
            let f = self.int63() as f64 / (1u64 << 63) as f64;
            if f < 1.0 {
                return f;
            }
        }
    }
}

/// The ziggurat tables of Marsaglia & Tsang (2000) for the normal
/// distribution, 128 strips, built from their published recipe.
struct Ziggurat {
    kn: [u32; 128],
    wn: [f32; 128],
    fn_: [f32; 128],
}

const RN: f64 = 3.442619855899;

fn ziggurat() -> &'static Ziggurat {
    static Z: OnceLock<Ziggurat> = OnceLock::new();
    Z.get_or_init(|| {
        let m1 = 2147483648.0f64;
        let vn = 9.91256303526217e-3f64;
        let mut dn = RN;
        let mut tn = dn;
        let q = vn / (-0.5 * dn * dn).exp();
        let mut kn = [0u32; 128];
        let mut wn = [0f64; 128];
        let mut fnv = [0f64; 128];
        kn[0] = ((dn / q) * m1) as u32;
        kn[1] = 0;
        wn[0] = q / m1;
        wn[127] = dn / m1;
        fnv[0] = 1.0;
        fnv[127] = (-0.5 * dn * dn).exp();
        for i in (1..=126).rev() {
            dn = (-2.0 * (vn / dn + (-0.5 * dn * dn).exp()).ln()).sqrt();
            kn[i + 1] = ((dn / tn) * m1) as u32;
            tn = dn;
            fnv[i] = (-0.5 * dn * dn).exp();
            wn[i] = dn / m1;
        }
        Ziggurat {
            kn,
            wn: wn.map(|x| x as f32),
            fn_: fnv.map(|x| x as f32),
        }
    })
}

impl GoRand {
    /// `Uint32`.
    pub fn uint32(&mut self) -> u32 {
        (self.int63() >> 31) as u32
    }

    /// `NormFloat64` (ziggurat).
    pub fn norm_float64(&mut self) -> f64 {
        let z = ziggurat();
        loop {
            let j = self.uint32() as i32;
            let i = (j & 0x7F) as usize;
            let mut x = j as f64 * z.wn[i] as f64;
            if j.unsigned_abs() < z.kn[i] {
                return x;
            }
            if i == 0 {
                loop {
                    x = -self.float64().ln() * (1.0 / RN);
                    let y = -self.float64().ln();
                    if y + y >= x * x {
                        break;
                    }
                }
                return if j > 0 { RN + x } else { -RN - x };
            }
            let f = z.fn_[i] + (self.float64() as f32) * (z.fn_[i - 1] - z.fn_[i]);
            if f < (-0.5 * x * x).exp() as f32 {
                return x;
            }
        }
    }
}

/// Lets the Vivaldi client draw its random directions from the Go stream
/// (`rand.Float64`), as Serf's client does.
impl serf_core::vivaldi::Uniform for GoRand {
    fn uniform(&mut self) -> f64 {
        self.float64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computed_cooked_table_matches_go_first_entries() {
        let t = cooked();
        // Go's table (63-bit form) starts 5041579894721019882, 4646389086726545243,
        // 1395769623340756751; ends 4152330101494654406.
        assert_eq!(t[0] & MASK63, 5041579894721019882);
        assert_eq!(t[1] & MASK63, 4646389086726545243);
        assert_eq!(t[2] & MASK63, 1395769623340756751);
        assert_eq!(t[606] & MASK63, 4152330101494654406);
    }

    #[test]
    fn computed_ziggurat_tables_match_go_anchors() {
        let z = ziggurat();
        assert_eq!(z.kn[0], 0x76ad2212);
        assert_eq!(z.kn[2], 0x600f1b53);
        assert_eq!(z.kn[64], 0x7eddc78e);
        assert_eq!(z.kn[127], 0x77d664e5);
        assert_eq!(z.wn[0], 1.7290405e-09);
        assert_eq!(z.wn[1], 1.2680929e-10);
        assert_eq!(z.wn[127], 1.6030948e-09);
        assert_eq!(z.fn_[1], 0.9635997);
        assert_eq!(z.fn_[127], 0.0026696292);
    }

    #[test]
    fn seed_one_gives_gos_famous_first_values() {
        let mut r = GoRand::new(1);
        assert_eq!(r.int63(), 5577006791947779410);
        assert_eq!(r.int63(), 8674665223082153551);
    }
}
