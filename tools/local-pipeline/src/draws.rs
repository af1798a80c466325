//! Reproducible "random" draws for the emulation's choices by rate (which requests a fault rule
//! or a sampling rule picks) and for a chaos run's schedule: a fixed-seed splitmix64 sequence,
//! so a scripted run makes the same choices every time.

/// Numbers in [0, 1), the same sequence for every instance with the same seed (0 by default).
#[derive(Debug, Clone, Default)]
pub struct FixedSeedDraws {
    state: u64,
}

impl FixedSeedDraws {
    /// The sequence that starts from `seed`.
    pub fn seeded(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next number in [0, 1).
    pub fn draw(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// The next whole number in [0, bound); 0 when `bound` is 0.
    pub fn below(&mut self, bound: usize) -> usize {
        match bound {
            0 => 0,
            _ => (self.next_u64() % bound as u64) as usize,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}
