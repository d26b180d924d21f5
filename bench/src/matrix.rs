//! RTT matrices: parsing the whitespace-separated format `vivaldi-eval` reads,
//! and a generator of Internet-like matrices for tests and evaluation.
//!
//! Generated hosts sit around real metro areas on the globe; an RTT is twice
//! the great-circle propagation delay in fibre (≈ 200 km/ms) times a per-pair
//! route inflation, plus both hosts' access delays, with per-pair noise and a
//! share of badly routed pairs that violate the triangle inequality.

use std::fmt;

use crate::rng::SimRng;

/// A square RTT matrix; `None` marks a missing measurement.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    /// `rtt[i][j]` in the file's units.
    pub rtt: Vec<Vec<Option<f64>>>,
}

/// Why a matrix file was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum MatrixError {
    /// Not a number at (line, column), both 1-based.
    NotANumber {
        line: usize,
        column: usize,
        token: String,
    },
    /// A row whose length differs from the first row's.
    Ragged {
        line: usize,
        expected: usize,
        found: usize,
    },
    /// Row count differs from column count.
    NotSquare { rows: usize, columns: usize },
    /// No rows at all.
    Empty,
}

impl fmt::Display for MatrixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatrixError::NotANumber {
                line,
                column,
                token,
            } => {
                write!(f, "line {line}, column {column}: {token:?} is not a number")
            }
            MatrixError::Ragged {
                line,
                expected,
                found,
            } => {
                write!(
                    f,
                    "line {line}: {found} values, but the first row has {expected}"
                )
            }
            MatrixError::NotSquare { rows, columns } => {
                write!(f, "matrix is not square: {rows} rows of {columns} values")
            }
            MatrixError::Empty => write!(f, "matrix file has no rows"),
        }
    }
}

impl std::error::Error for MatrixError {}

impl Matrix {
    /// Parses whitespace-separated rows (blank lines ignored). Zero, negative
    /// or non-finite entries off the diagonal are missing measurements.
    pub fn parse(text: &str) -> Result<Matrix, MatrixError> {
        let mut rows: Vec<Vec<Option<f64>>> = Vec::new();
        let mut width = None;
        for (ln, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let mut row = Vec::new();
            for (col, tok) in line.split_whitespace().enumerate() {
                let v: f64 = tok.parse().map_err(|_| MatrixError::NotANumber {
                    line: ln + 1,
                    column: col + 1,
                    token: tok.to_string(),
                })?;
                row.push((v.is_finite() && v > 0.0).then_some(v));
            }
            match width {
                None => width = Some(row.len()),
                Some(w) if w != row.len() => {
                    return Err(MatrixError::Ragged {
                        line: ln + 1,
                        expected: w,
                        found: row.len(),
                    })
                }
                _ => {}
            }
            rows.push(row);
        }
        let Some(w) = width else {
            return Err(MatrixError::Empty);
        };
        if rows.len() != w {
            return Err(MatrixError::NotSquare {
                rows: rows.len(),
                columns: w,
            });
        }
        for (i, row) in rows.iter_mut().enumerate() {
            row[i] = None;
        }
        Ok(Matrix { rtt: rows })
    }

    /// Number of hosts.
    pub fn len(&self) -> usize {
        self.rtt.len()
    }
    /// True for an empty matrix.
    pub fn is_empty(&self) -> bool {
        self.rtt.is_empty()
    }
    /// The same matrix scaled (e.g. ms → s).
    pub fn scaled(&self, k: f64) -> Matrix {
        Matrix {
            rtt: self
                .rtt
                .iter()
                .map(|r| r.iter().map(|v| v.map(|x| x * k)).collect())
                .collect(),
        }
    }
    /// Writes the file format (missing entries as 0).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for row in &self.rtt {
            let cells: Vec<String> = row
                .iter()
                .map(|v| format!("{:.3}", v.unwrap_or(0.0)))
                .collect();
            s.push_str(&cells.join(" "));
            s.push('\n');
        }
        s
    }
}

/// Metro areas (latitude, longitude, relative weight).
const METROS: [(f64, f64, f64); 20] = [
    (40.7, -74.0, 3.0),  // New York
    (37.8, -122.4, 3.0), // San Francisco
    (41.9, -87.6, 2.0),  // Chicago
    (32.8, -96.8, 1.5),  // Dallas
    (43.7, -79.4, 1.0),  // Toronto
    (51.5, -0.1, 3.0),   // London
    (50.1, 8.7, 2.5),    // Frankfurt
    (52.4, 4.9, 2.0),    // Amsterdam
    (48.9, 2.4, 1.5),    // Paris
    (59.3, 18.1, 0.8),   // Stockholm
    (40.4, -3.7, 0.8),   // Madrid
    (55.8, 37.6, 1.0),   // Moscow
    (35.7, 139.7, 2.0),  // Tokyo
    (37.6, 127.0, 1.0),  // Seoul
    (22.3, 114.2, 1.2),  // Hong Kong
    (1.35, 103.8, 1.5),  // Singapore
    (19.1, 72.9, 1.0),   // Mumbai
    (-33.9, 151.2, 1.0), // Sydney
    (-23.5, -46.6, 1.0), // São Paulo
    (-26.2, 28.0, 0.5),  // Johannesburg
];

/// Great-circle distance in km.
fn great_circle_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1, la2, lo2) = (
        a.0.to_radians(),
        a.1.to_radians(),
        b.0.to_radians(),
        b.1.to_radians(),
    );
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().min(1.0).asin()
}

/// Knobs of the generator.
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// Hosts.
    pub hosts: usize,
    /// Mean access (last-mile) delay per host, ms one way.
    pub access_ms: f64,
    /// Share of pairs routed badly (triangle-inequality violations).
    pub detour_share: f64,
    /// Per-pair multiplicative noise (standard deviation).
    pub noise: f64,
    /// Share of pairs left unmeasured.
    pub missing_share: f64,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            hosts: 200,
            access_ms: 3.0,
            detour_share: 0.05,
            noise: 0.05,
            missing_share: 0.01,
        }
    }
}

/// An Internet-like RTT matrix in milliseconds.
pub fn generate(cfg: &GenConfig, seed: u64) -> Matrix {
    let mut rng = SimRng::new(seed);
    let total: f64 = METROS.iter().map(|m| m.2).sum();
    let hosts: Vec<((f64, f64), f64)> = (0..cfg.hosts)
        .map(|_| {
            let mut pick = rng.unit() * total;
            let mut metro = METROS[0];
            for m in METROS {
                if pick < m.2 {
                    metro = m;
                    break;
                }
                pick -= m.2;
            }
            let lat = metro.0 + (rng.unit() - 0.5) * 4.0;
            let lon = metro.1 + (rng.unit() - 0.5) * 4.0;
            // Exponential access delay with a 0.2 ms floor.
            let access = 0.2 - cfg.access_ms * (1.0 - rng.unit()).ln();
            ((lat, lon), access)
        })
        .collect();
    let n = cfg.hosts;
    let mut rtt = vec![vec![None; n]; n];
    for i in 0..n {
        for j in i + 1..n {
            if rng.unit() < cfg.missing_share {
                continue;
            }
            let km = great_circle_km(hosts[i].0, hosts[j].0);
            let inflation = 1.3 + 0.5 * rng.unit();
            let mut v = 2.0 * km / 200.0 * inflation + 2.0 * (hosts[i].1 + hosts[j].1);
            v *= (1.0 + cfg.noise * crate::phantom::normal(&mut rng)).max(0.5);
            if rng.unit() < cfg.detour_share {
                v *= 1.5 + 1.5 * rng.unit();
            }
            let v = (v * 1000.0).round() / 1000.0;
            rtt[i][j] = Some(v.max(0.1));
            rtt[j][i] = Some(v.max(0.1));
        }
    }
    Matrix { rtt }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_square_numeric_matrices_and_marks_missing() {
        let m = Matrix::parse("0 10 0\n10 0 5.5\n-1 5.5 0\n\n").unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m.rtt[0][1], Some(10.0));
        assert_eq!(m.rtt[0][2], None);
        assert_eq!(m.rtt[2][0], None);
        assert_eq!(m.rtt[1][1], None);
    }

    #[test]
    fn parse_rejects_bad_files_with_clear_errors() {
        assert_eq!(
            Matrix::parse("0 1\n1 x\n"),
            Err(MatrixError::NotANumber {
                line: 2,
                column: 2,
                token: "x".into()
            })
        );
        assert_eq!(
            Matrix::parse("0 1 2\n1 0\n"),
            Err(MatrixError::Ragged {
                line: 2,
                expected: 3,
                found: 2
            })
        );
        assert_eq!(
            Matrix::parse("0 1 2\n1 0 2\n"),
            Err(MatrixError::NotSquare {
                rows: 2,
                columns: 3
            })
        );
        assert_eq!(Matrix::parse("\n \n"), Err(MatrixError::Empty));
        assert!(Matrix::parse("0 1\n1 0 9\n")
            .unwrap_err()
            .to_string()
            .contains("line 2"));
    }

    #[test]
    fn generated_matrix_is_symmetric_internet_like_and_violates_triangles() {
        let m = generate(
            &GenConfig {
                hosts: 60,
                ..GenConfig::default()
            },
            4,
        );
        let text = m.to_text();
        assert_eq!(Matrix::parse(&text).unwrap().len(), 60);
        let mut values = Vec::new();
        let mut violations = 0;
        for i in 0..60 {
            for j in 0..60 {
                assert_eq!(m.rtt[i][j], m.rtt[j][i]);
                if let Some(v) = m.rtt[i][j] {
                    values.push(v);
                    for k in 0..60 {
                        if let (Some(a), Some(b)) = (m.rtt[i][k], m.rtt[k][j]) {
                            violations += (a + b < v) as usize;
                        }
                    }
                }
            }
        }
        values.sort_by(|a, b| a.total_cmp(b));
        let median = values[values.len() / 2];
        assert!((20.0..300.0).contains(&median), "median RTT {median} ms");
        assert!(
            values[values.len() - 1] > 200.0,
            "some intercontinental pairs"
        );
        assert!(violations > 0, "triangle inequality violations present");
    }
}
