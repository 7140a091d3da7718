//! How much memory a download reserves. A server's Content-Length is a hint, not a promise: a
//! wrong or hostile header must not make the worker allocate gigabytes up front (an abort in
//! wasm), so the header is trusted only a bounded step ahead of the bytes that have arrived.

/// The most a declared length may reserve beyond the bytes already received.
pub const AHEAD: usize = 64 << 20;

/// The capacity to start with: the declared length, at most [`AHEAD`].
pub fn initial(declared: Option<u64>) -> usize {
    declared.map_or(0, |total| {
        usize::try_from(total.min(AHEAD as u64)).unwrap_or(AHEAD)
    })
}

/// The capacity to hold `len + chunk` bytes, given the current `capacity`.
///
/// Growth is geometric (as `Vec`'s own), so copying stays linear in the body's size. A declared
/// length that covers the bytes so far caps each step at itself, so a truthful header ends with
/// an exact fit and no doubling past it, and lets a step run up to [`AHEAD`] beyond `len`. A header
/// the body has outgrown (a lie, or a compressed length) is ignored.
pub fn next(len: usize, capacity: usize, chunk: usize, declared: Option<u64>) -> usize {
    let needed = len.saturating_add(chunk);
    if needed <= capacity {
        return capacity;
    }
    let doubled = capacity.saturating_mul(2).max(needed);
    match declared {
        Some(total) if total >= needed as u64 => {
            let total = usize::try_from(total).unwrap_or(usize::MAX);
            doubled.max(len.saturating_add(AHEAD).min(total)).min(total)
        }
        _ => doubled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn a_huge_header_reserves_at_most_ahead() {
        assert_eq!(initial(Some(u64::MAX)), AHEAD);
        assert_eq!(initial(Some(1 << 40)), AHEAD);
        assert_eq!(initial(Some(1000)), 1000);
        assert_eq!(initial(None), 0);
        // 10 MiB arrived against a claimed 1 TiB: the next step is bounded by what arrived.
        let step = next(10 * MIB, AHEAD, 60 * MIB, Some(1 << 40));
        assert_eq!(step, 128 * MIB);
    }

    #[test]
    fn a_truthful_header_ends_with_an_exact_fit() {
        let total = 500 * MIB + 123;
        let mut capacity = initial(Some(total as u64));
        let mut len = 0;
        let mut reallocations = 0;
        while len < total {
            let chunk = (total - len).min(MIB);
            let grown = next(len, capacity, chunk, Some(total as u64));
            if grown != capacity {
                reallocations += 1;
                assert!(grown <= total);
            }
            capacity = grown;
            len += chunk;
        }
        assert_eq!(capacity, total);
        assert!(reallocations <= 4, "{reallocations}");
    }

    #[test]
    fn an_outgrown_header_falls_back_to_doubling() {
        // The header said 100 bytes; 4,000 have come. Growth stays geometric, not chunk by chunk.
        assert_eq!(next(4000, 4096, 1000, Some(100)), 8192);
        assert_eq!(next(0, 0, 16, None), 16);
        assert_eq!(next(16, 16, 16, None), 32);
        assert_eq!(next(10, 64, 5, None), 64);
    }
}
