//! A fast, non-cryptographic hasher (the Fx hash of rustc) for the metrics' interning maps:
//! their keys are words of local files, so flooding resistance buys nothing and SipHash showed
//! up at ~7% of a scoring profile. [`ContentHash`] is its streamed 128-bit relative for file
//! contents (B.Score's model files): it keys kept values, not security.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_u32(&mut self, value: u32) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    #[inline]
    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// A map sized for `capacity` entries up front: the interning maps grow to the vocabulary of a
/// whole run, and growing them step by step rehashed every word several times (14% of a profile).
pub fn fast_map_with_capacity<K, V>(capacity: usize) -> FastMap<K, V> {
    FastMap::with_capacity_and_hasher(capacity, BuildHasherDefault::default())
}

/// Entries the interning maps start with. A scoring thread sees a few thousand distinct words on
/// the benchmark; much larger tables cost more in fresh memory pages than growing costs.
pub const VOCABULARY_HINT: usize = 1 << 12;

/// A streamed 128-bit content hash: two Fx-style lanes (different rotations and odd
/// multipliers) over little-endian 8-byte words, then the length. Every step of a lane is a
/// bijection of its state, so changing any one word always changes both lanes; chunks may be fed
/// in any split (a word straddling two `update` calls is assembled first). About a multiply per
/// 4 bytes: a 1.4 GB weights file hashes in a fraction of the time it takes to read it.
#[derive(Clone, Debug)]
pub struct ContentHash {
    lanes: [u64; 2],
    len: u64,
    tail: [u8; 8],
    tail_len: usize,
}

const LANE_MULTIPLIERS: [u64; 2] = [SEED, 0x9e37_79b9_7f4a_7c15];

impl Default for ContentHash {
    fn default() -> ContentHash {
        ContentHash {
            lanes: [0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344],
            len: 0,
            tail: [0; 8],
            tail_len: 0,
        }
    }
}

impl ContentHash {
    #[inline]
    fn word(&mut self, word: u64) {
        self.lanes[0] = (self.lanes[0].rotate_left(5) ^ word).wrapping_mul(LANE_MULTIPLIERS[0]);
        self.lanes[1] = (self.lanes[1].rotate_left(23) ^ word).wrapping_mul(LANE_MULTIPLIERS[1]);
    }

    pub fn update(&mut self, mut bytes: &[u8]) {
        self.len = self.len.wrapping_add(bytes.len() as u64);
        if self.tail_len > 0 {
            let take = (8 - self.tail_len).min(bytes.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&bytes[..take]);
            self.tail_len += take;
            bytes = &bytes[take..];
            if self.tail_len < 8 {
                return;
            }
            self.word(u64::from_le_bytes(self.tail));
            self.tail_len = 0;
        }
        let mut words = bytes.chunks_exact(8);
        for chunk in &mut words {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.word(u64::from_le_bytes(word));
        }
        let rest = words.remainder();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
    }

    /// Feeds `bytes` framed by their length, so that consecutive fields cannot run into each
    /// other (`"ab" + "c"` and `"a" + "bc"` differ).
    pub fn field(&mut self, bytes: &[u8]) {
        self.update(&(bytes.len() as u64).to_le_bytes());
        self.update(bytes);
    }

    /// 32 lowercase hex digits.
    pub fn hex(&self) -> String {
        let mut lanes = self.lanes;
        let mut tail = [0u8; 8];
        tail[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
        let last = u64::from_le_bytes(tail) ^ ((self.tail_len as u64) << 56);
        for (lane, multiplier) in lanes.iter_mut().zip(LANE_MULTIPLIERS) {
            for word in [last, self.len] {
                *lane = (lane.rotate_left(5) ^ word).wrapping_mul(multiplier);
            }
            // A final avalanche, so that nearby inputs do not give nearby digits.
            *lane ^= *lane >> 33;
            *lane = lane.wrapping_mul(0xff51_afd7_ed55_8ccd);
            *lane ^= *lane >> 33;
        }
        format!("{:016x}{:016x}", lanes[0], lanes[1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(bytes: &[u8]) -> String {
        let mut hash = ContentHash::default();
        hash.update(bytes);
        hash.hex()
    }

    #[test]
    fn content_hash_sees_every_byte_and_ignores_how_it_is_fed() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let whole = content(&data);
        assert_eq!(whole.len(), 32);
        for split in [1, 3, 8, 9, 500, 999] {
            let mut hash = ContentHash::default();
            for piece in data.chunks(split) {
                hash.update(piece);
            }
            assert_eq!(hash.hex(), whole, "fed in pieces of {split}");
        }
        for i in [0, 7, 8, 500, 999] {
            let mut changed = data.clone();
            changed[i] ^= 1;
            assert_ne!(content(&changed), whole, "byte {i}");
        }
        assert_ne!(content(&data[..999]), whole);
        assert_ne!(content(b""), content(b"\0"));
        let framed = |parts: &[&[u8]]| {
            let mut hash = ContentHash::default();
            for p in parts {
                hash.field(p);
            }
            hash.hex()
        };
        assert_ne!(framed(&[b"ab", b"c"]), framed(&[b"a", b"bc"]));
    }

    #[test]
    fn distinguishes_words_and_lengths() {
        let hash = |s: &str| {
            let mut h = FxHasher::default();
            h.write(s.as_bytes());
            h.finish()
        };
        assert_ne!(hash("a"), hash("a\0"));
        assert_ne!(hash("lesion"), hash("lesions"));
        let mut map: FastMap<Box<str>, u32> = FastMap::default();
        map.insert("x".into(), 1);
        assert_eq!(map.get("x"), Some(&1));
    }
}
