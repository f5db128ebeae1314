//! Latency samples (µs) and their summary.

#[derive(Default)]
pub struct Samples {
    pub micros: Vec<u32>,
    pub errors: u64,
}

impl Samples {
    pub fn merge(&mut self, other: Samples) {
        self.micros.extend(other.micros);
        self.errors += other.errors;
    }

    /// The `p`-th percentile in milliseconds (nearest rank).
    pub fn percentile_ms(&mut self, p: f64) -> f64 {
        if self.micros.is_empty() {
            return f64::NAN;
        }
        self.micros.sort_unstable();
        let rank = ((p / 100.0) * self.micros.len() as f64).ceil() as usize;
        f64::from(self.micros[rank.clamp(1, self.micros.len()) - 1]) / 1000.0
    }
}
