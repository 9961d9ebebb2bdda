//! Ids for new dialogs, from a seeded generator: the core reads no entropy
//! of its own, so a simulation with a fixed seed is reproducible.

/// splitmix64: small, fast, and good enough for unique ids.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A random version-4 uuid in its 36-character text form, the shape of
    /// Python's `str(uuid.uuid4())`.
    pub(crate) fn uuid4(&mut self) -> String {
        let hi = self.next_u64();
        let lo = self.next_u64();
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&hi.to_be_bytes());
        bytes[8..].copy_from_slice(&lo.to_be_bytes());
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [b'-'; 36];
        let mut at = 0;
        for (i, b) in bytes.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                at += 1; // the dash already there
            }
            text[at] = HEX[usize::from(b >> 4)];
            text[at + 1] = HEX[usize::from(b & 0x0f)];
            at += 2;
        }
        String::from_utf8_lossy(&text).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_shape() {
        let mut rng = Rng::new(7);
        let a = rng.uuid4();
        let b = rng.uuid4();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(Rng::new(7).uuid4(), a, "same seed, same ids");
        // The text is the 16 bytes in hex, grouped 8-4-4-4-12.
        let mut rng = Rng::new(7);
        let (hi, lo) = (rng.next_u64(), rng.next_u64());
        let hex = format!("{hi:016x}{lo:016x}");
        let grouped = format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        );
        for (i, (got, want)) in a.chars().zip(grouped.chars()).enumerate() {
            // The version and variant nibbles are set, the rest is as drawn.
            if i != 14 && i != 19 {
                assert_eq!(got, want, "{a} vs {grouped}");
            }
        }
    }
}
