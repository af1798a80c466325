//! Reproducible "random" draws for the emulation's choices by rate (which requests a fault rule
//! or a sampling rule picks): a fixed-seed splitmix64 sequence, so a scripted run makes the same
//! choices every time.

/// Numbers in [0, 1), the same sequence for every instance.
#[derive(Debug, Clone, Default)]
pub struct FixedSeedDraws {
    state: u64,
}

impl FixedSeedDraws {
    /// The next number in [0, 1).
    pub fn draw(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1_u64 << 53) as f64
    }
}
