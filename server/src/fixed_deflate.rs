//! gzip in one DEFLATE block with the fixed Huffman codes (RFC 1951 §3.2.6), for small pages.
//!
//! A general compressor builds Huffman codes fitted to each block: libdeflate's level 1 spends
//! ~50 k instructions a response doing so (sorting symbols, building and then encoding the code
//! lengths), whatever the body's size — about half its cost on a 1.6 KB page. The fixed codes
//! need no construction and no code-length header, for a fifth more output on such a page.
//!
//! The match finder is greedy, with one candidate per 4-byte hash, over a 4 KB table that lives
//! on the stack; bodies up to [`MAX_INPUT`] only, so every distance fits the 32 KB window. Of a
//! match's positions only the last is indexed: indexing them all cost a quarter more
//! instructions for 1.4 % less output on the sign-in page.
//!
//! Checked against a standard decoder (flate2/zlib-rs) in the tests below, on pages and on
//! generated inputs.

/// The largest body this encoder takes: every match distance then fits DEFLATE's 32 KB window,
/// and a position (plus one, 0 meaning empty) fits the hash table's `u16`.
pub const MAX_INPUT: usize = 32 * 1024;

const HASH_BITS: u32 = 11;
const MIN_MATCH: usize = 4;
const MAX_MATCH: usize = 258;

/// Reverses the low `len` bits: Huffman codes go into the stream most significant bit first,
/// everything else least significant bit first.
const fn reverse(code: u32, len: u32) -> u32 {
    let mut out = 0;
    let mut i = 0;
    while i < len {
        out |= ((code >> i) & 1) << (len - 1 - i);
        i += 1;
    }
    out
}

/// The fixed literal/length code of `sym` (0..=287): (bits ready to write, bit count).
const fn litlen_code(sym: u32) -> (u32, u32) {
    let (code, len) = match sym {
        0..=143 => (0x30 + sym, 8),
        144..=255 => (0x190 + sym - 144, 9),
        256..=279 => (sym - 256, 7),
        _ => (0xC0 + sym - 280, 8),
    };
    (reverse(code, len), len)
}

const LEN_BASE: [u32; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEN_EXTRA: [u32; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];

/// Literal bytes: (bits, count).
static LITERALS: [(u32, u32); 256] = {
    let mut t = [(0, 0); 256];
    let mut i = 0;
    while i < 256 {
        t[i] = litlen_code(i as u32);
        i += 1;
    }
    t
};

/// Match lengths 0..=258 (entries below 3 unused): the length symbol's code and its extra bits,
/// as one group of bits.
static LENGTHS: [(u32, u32); MAX_MATCH + 1] = {
    let mut t = [(0, 0); MAX_MATCH + 1];
    let mut len = 3;
    while len <= MAX_MATCH {
        // 258 has a symbol of its own (285); 284's range stops at 257.
        let mut i = 0;
        while i < 28 && !(len as u32 >= LEN_BASE[i] && (len as u32) < LEN_BASE[i + 1]) {
            i += 1;
        }
        let (code, n) = litlen_code(257 + i as u32);
        t[len] = (code | ((len as u32 - LEN_BASE[i]) << n), n + LEN_EXTRA[i]);
        len += 1;
    }
    t
};

/// The five fixed bits of each distance code 0..=29, reversed.
static DISTANCES: [u32; 30] = {
    let mut t = [0; 30];
    let mut i = 0;
    while i < 30 {
        t[i] = reverse(i as u32, 5);
        i += 1;
    }
    t
};

const END_OF_BLOCK: (u32, u32) = litlen_code(256);

/// Distance 1..=32768 as one group of bits: its code, then its extra bits.
fn distance_bits(dist: usize) -> (u64, u32) {
    let d = dist as u32 - 1;
    if d < 4 {
        return (DISTANCES[d as usize] as u64, 5);
    }
    let top = 31 - d.leading_zeros(); // ≥ 2
    let extra = top - 1;
    let code = 2 * top + ((d >> extra) & 1);
    let value = d & ((1 << extra) - 1);
    (
        DISTANCES[code as usize] as u64 | (value as u64) << 5,
        5 + extra,
    )
}

/// Little-endian bit packer.
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    /// At most 32 bits at a time (a length, its extra bits, a distance and its extra bits are
    /// at most 31).
    #[inline(always)]
    fn put(&mut self, bits: u64, count: u32) {
        self.acc |= bits << self.n;
        self.n += count;
        if self.n >= 32 {
            self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.n -= 32;
        }
    }

    fn finish(mut self) -> Vec<u8> {
        let bytes = self.n.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.acc.to_le_bytes()[..bytes]);
        self.out
    }
}

#[inline(always)]
fn read32(data: &[u8], at: usize) -> u32 {
    match data[at..at + 4].try_into() {
        Ok(b) => u32::from_le_bytes(b),
        Err(_) => 0, // cannot happen: the slice has 4 bytes
    }
}

#[inline(always)]
fn read64(data: &[u8], at: usize) -> u64 {
    match data[at..at + 8].try_into() {
        Ok(b) => u64::from_le_bytes(b),
        Err(_) => 0, // cannot happen: the slice has 8 bytes
    }
}

#[inline(always)]
fn hash(v: u32) -> usize {
    (v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
}

/// How many bytes from `a` and `b` (`a < b`) agree, up to `max`.
#[inline(always)]
fn match_len(data: &[u8], a: usize, b: usize, max: usize) -> usize {
    let mut len = 0;
    while len + 8 <= max {
        let x = read64(data, a + len);
        let y = read64(data, b + len);
        let diff = x ^ y;
        if diff != 0 {
            return len + (diff.trailing_zeros() / 8) as usize;
        }
        len += 8;
    }
    while len < max && data[a + len] == data[b + len] {
        len += 1;
    }
    len
}

/// `data` (at most [`MAX_INPUT`] bytes) in the gzip file format (RFC 1952); `None` if it is
/// longer.
pub fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() > MAX_INPUT {
        return None;
    }
    // A gzip header with no name, time or flags (OS: unknown), then one final fixed block.
    let mut bits = Bits {
        out: Vec::with_capacity(data.len() / 2 + 64),
        acc: 0,
        n: 0,
    };
    bits.out
        .extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    bits.put(0b011, 3); // BFINAL = 1, BTYPE = 01 (fixed codes)

    let mut table = [0u16; 1 << HASH_BITS];
    let n = data.len();
    let mut i = 0;
    while i + MIN_MATCH <= n {
        let v = read32(data, i);
        let h = hash(v);
        let cand = table[h] as usize;
        table[h] = (i + 1) as u16;
        if cand != 0 && read32(data, cand - 1) == v {
            let from = cand - 1;
            let len = MIN_MATCH
                + match_len(
                    data,
                    from + MIN_MATCH,
                    i + MIN_MATCH,
                    (n - i).min(MAX_MATCH) - MIN_MATCH,
                );
            let (lbits, lcount) = LENGTHS[len];
            let (dbits, dcount) = distance_bits(i - from);
            bits.put(lbits as u64 | dbits << lcount, lcount + dcount);
            // Index the match's last position, so the text after it can refer back into it.
            let last = i + len - 1;
            if last + MIN_MATCH <= n {
                table[hash(read32(data, last))] = (last + 1) as u16;
            }
            i += len;
        } else {
            let (b, c) = LITERALS[data[i] as usize];
            bits.put(b as u64, c);
            i += 1;
        }
    }
    for &byte in &data[i..] {
        let (b, c) = LITERALS[byte as usize];
        bits.put(b as u64, c);
    }
    bits.put(END_OF_BLOCK.0 as u64, END_OF_BLOCK.1);

    let mut out = bits.finish();
    out.extend_from_slice(&libdeflater::crc32(data).to_le_bytes());
    out.extend_from_slice(&(n as u32).to_le_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Read;

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut back)
            .expect("a standard decoder reads it");
        back
    }

    #[test]
    fn round_trips_edge_inputs() {
        let mut cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"a".to_vec(),
            b"abc".to_vec(),
            b"abcd".to_vec(),
            b"abcdabcd".to_vec(),
            vec![0; 1000], // distance 1, every length up to 258 and a short tail
            vec![0xff; MAX_INPUT], // 9-bit literals, the largest input
            (0..=255u8).cycle().take(MAX_INPUT).collect(), // distance 256 throughout
        ];
        // Every match length 4..=258 once, at a distance past 4 KB (extra distance bits).
        let mut lengths = Vec::new();
        let base: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
        lengths.extend_from_slice(&base);
        for len in 4..=258 {
            lengths.extend_from_slice(&base[..len]);
            lengths.push(0xfe);
        }
        lengths.truncate(MAX_INPUT);
        cases.push(lengths);
        for data in cases {
            let gz = gzip(&data).unwrap();
            assert_eq!(gunzip(&gz), data, "input of {} bytes", data.len());
        }
        assert!(gzip(&vec![0; MAX_INPUT + 1]).is_none());
    }

    #[test]
    fn compresses_markup() {
        let page = br#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"/><title>Sign in</title></head><body><main class="auth"><form method="post" action="/api/sign_in"><label for="email">Email</label><input id="email" name="email" type="email"/><label for="password">Password</label><input id="password" name="password" type="password"/><button type="submit">Sign in</button></form></main></body></html>"#
            .repeat(4);
        let gz = gzip(&page).unwrap();
        assert_eq!(gunzip(&gz), page);
        assert!(gz.len() < page.len() / 3, "{} of {}", gz.len(), page.len());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        // Text from a small alphabet has many matches of every length and distance.
        #[test]
        fn round_trips_generated_input(
            data in prop::collection::vec(prop::sample::select(b"<>ab /=\"\n\xff".to_vec()), 0..6000),
            chunks in prop::collection::vec((0usize..6000, 0usize..300), 0..40),
        ) {
            let mut data = data;
            // Copy earlier stretches forward, as markup repeats itself.
            for (from, len) in chunks {
                if from < data.len() {
                    let piece: Vec<u8> = data[from..(from + len).min(data.len())].to_vec();
                    data.extend_from_slice(&piece);
                }
            }
            data.truncate(MAX_INPUT);
            let gz = gzip(&data).unwrap();
            prop_assert_eq!(gunzip(&gz), data);
        }
    }
}
