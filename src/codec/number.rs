//! Numbers written in text: the decimal digits of a `Content-Length`, a
//! cursor or an event id, and the hexadecimal digits of a chunk size or a
//! percent escape. Each is checked byte by byte, so a sign, a space or an
//! overflow is refused instead of read by a forgiving parser.

/// Why a text is not a decimal number that fits in 64 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotDecimal {
    /// Empty, or a byte other than an ASCII digit (a sign, a space, a dot).
    NotDigits,
    /// Digits only, but more than `u64::MAX`.
    TooLarge,
}

/// `1*DIGIT` (RFC 9110 §8.6's `Content-Length`, and every id of the wire
/// contract) as a `u64`.
///
/// # Errors
///
/// [`NotDecimal::NotDigits`] unless every byte is a digit and there is at
/// least one; [`NotDecimal::TooLarge`] when the digits pass `u64::MAX`.
///
/// ```
/// use realtime_web::codec::number::{decimal, NotDecimal};
///
/// assert_eq!(decimal(b"18446744073709551615"), Ok(u64::MAX));
/// assert_eq!(decimal(b"18446744073709551616"), Err(NotDecimal::TooLarge));
/// assert_eq!(decimal(b"+1"), Err(NotDecimal::NotDigits));
/// assert_eq!(decimal(b""), Err(NotDecimal::NotDigits));
/// ```
pub fn decimal(text: &[u8]) -> Result<u64, NotDecimal> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return Err(NotDecimal::NotDigits);
    }
    text.iter().try_fold(0u64, |n, &b| {
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(NotDecimal::TooLarge)
    })
}

/// The value of one `HEXDIG` (RFC 5234 B.1, either case), or `None`.
pub fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        assert_eq!(decimal(b"0"), Ok(0));
        assert_eq!(decimal(b"007"), Ok(7));
        for bad in [&b"-1"[..], b" 1", b"1 ", b"1.0", b"0x1", b"\xd9\xa1"] {
            assert_eq!(decimal(bad), Err(NotDecimal::NotDigits), "{bad:?}");
        }
        assert_eq!(decimal(&[b'9'; 40]), Err(NotDecimal::TooLarge));
    }

    #[test]
    fn hex_digits() {
        let all: Vec<Option<u8>> = b"09afAFgG/:@`".iter().map(|&b| hex_digit(b)).collect();
        assert_eq!(
            all,
            [
                Some(0),
                Some(9),
                Some(10),
                Some(15),
                Some(10),
                Some(15),
                None,
                None,
                None,
                None,
                None,
                None
            ]
        );
    }
}
