//! RESP, the Redis serialization protocol (version 2), both ways: commands as
//! arrays of bulk strings, and replies parsed as a pure function over the
//! bytes received so far (the Redis protocol specification, "RESP protocol
//! description").
//!
//! ```text
//! command  SET k v       *3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n
//! replies  simple        +OK\r\n
//!          error         -ERR unknown command\r\n
//!          integer       :1000\r\n
//!          bulk          $5\r\nhello\r\n        null: $-1\r\n
//!          array         *2\r\n:1\r\n:2\r\n     null: *-1\r\n
//! ```
//!
//! Lengths are checked before anything is allocated for them: a bulk string
//! over the caller's limit, an array with more elements than bytes could
//! follow, or arrays nested deeper than [`MAX_DEPTH`] are errors, so a
//! confused or hostile server cannot make the client allocate at will.
//!
//! ```
//! use realtime_web::codec::resp::{command, parse, Reply};
//! use realtime_web::codec::Parsed;
//!
//! let mut out = Vec::new();
//! command(&mut out, &[b"GET", b"key"]);
//! assert_eq!(out, b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n");
//!
//! let reply = parse(b"$5\r\nhello\r\n", 1 << 20).unwrap();
//! assert_eq!(reply, Parsed::Complete { value: Reply::Bulk(Some(b"hello".to_vec())), consumed: 11 });
//! assert_eq!(parse(b"$5\r\nhel", 1 << 20).unwrap(), Parsed::NeedMore);
//! ```

use super::number::decimal;
use super::Parsed;
use std::fmt;

/// The deepest nesting of arrays a reply may have (replies to the commands
/// this crate sends nest three deep at most).
pub const MAX_DEPTH: usize = 8;

/// One reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+…`: a short status text, such as `OK`.
    Simple(String),
    /// `-…`: an error, such as `ERR unknown command`.
    Error(String),
    /// `:…`: a signed 64-bit integer.
    Integer(i64),
    /// `$…`: binary-safe bytes, or `None` for the null bulk string.
    Bulk(Option<Vec<u8>>),
    /// `*…`: replies, or `None` for the null array (such as a blocking read
    /// that timed out).
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The bytes of a bulk string, or of a simple string.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(Some(bytes)) => Some(bytes),
            Reply::Simple(text) => Some(text.as_bytes()),
            _ => None,
        }
    }

    /// The elements of an array; `None` for anything else, the null array
    /// included.
    pub fn items(&self) -> Option<&[Reply]> {
        match self {
            Reply::Array(Some(items)) => Some(items),
            _ => None,
        }
    }
}

/// Why bytes are not a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RespError {
    /// A first byte that starts no RESP2 type.
    UnknownType(u8),
    /// A length or integer that is not a decimal number (with `-` for the
    /// integer and the null lengths).
    BadNumber,
    /// A line or a bulk string not ended by CRLF.
    MissingCrlf,
    /// A bulk string longer than the caller's limit.
    TooLong,
    /// Arrays nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A simple string or error that is not UTF-8.
    NotUtf8,
}

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RespError::UnknownType(b) => write!(f, "unknown RESP type byte 0x{b:02x}"),
            RespError::BadNumber => f.write_str("malformed RESP number"),
            RespError::MissingCrlf => f.write_str("RESP line not ended by CRLF"),
            RespError::TooLong => f.write_str("RESP bulk string over the limit"),
            RespError::TooDeep => f.write_str("RESP arrays nested too deep"),
            RespError::NotUtf8 => f.write_str("RESP simple string not UTF-8"),
        }
    }
}

impl std::error::Error for RespError {}

/// Appends a command, `args[0]` being its name, as an array of bulk strings
/// (how clients send every command).
pub fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Parses the reply at the start of `buf`: [`Parsed::NeedMore`] until it has
/// arrived whole, then the reply and how many bytes it took. Bulk strings
/// longer than `max_bulk` are refused.
///
/// # Errors
///
/// A [`RespError`] when the bytes cannot be a reply, whatever follows.
pub fn parse(buf: &[u8], max_bulk: usize) -> Result<Parsed<Reply>, RespError> {
    let mut at = 0;
    Ok(match reply(buf, &mut at, max_bulk, 0)? {
        Some(value) => Parsed::Complete {
            value,
            consumed: at,
        },
        None => Parsed::NeedMore,
    })
}

/// How many bytes the reply at the start of `buf` takes, once it has arrived
/// whole (`None` before): [`parse`]'s checks, without building the reply or
/// copying a byte. A client reading a large reply a piece at a time asks
/// this after each piece, and parses once, so that its work grows with the
/// reply's elements, not with its bytes times the pieces.
///
/// # Errors
///
/// As [`parse`].
pub fn scan(buf: &[u8], max_bulk: usize) -> Result<Option<usize>, RespError> {
    let mut at = 0;
    Ok(skip(buf, &mut at, max_bulk, 0)?.then_some(at))
}

/// Moves `*at` past the reply there; false when `buf` ends first.
fn skip(buf: &[u8], at: &mut usize, max_bulk: usize, depth: usize) -> Result<bool, RespError> {
    let Some((kind, line)) = line(buf, *at)? else {
        return Ok(false);
    };
    let after_line = *at + 1 + line.len() + 2;
    match kind {
        b'+' | b'-' => {
            std::str::from_utf8(line).map_err(|_| RespError::NotUtf8)?;
        }
        b':' => {
            signed(line)?;
        }
        b'$' => {
            if let Some(len) = length(line)? {
                if len > max_bulk {
                    return Err(RespError::TooLong);
                }
                let end = after_line + len;
                if buf.len() < end + 2 {
                    return Ok(false);
                }
                if &buf[end..end + 2] != b"\r\n" {
                    return Err(RespError::MissingCrlf);
                }
                *at = end + 2;
                return Ok(true);
            }
        }
        b'*' => {
            if let Some(count) = length(line)? {
                if depth >= MAX_DEPTH {
                    return Err(RespError::TooDeep);
                }
                *at = after_line;
                for _ in 0..count {
                    if !skip(buf, at, max_bulk, depth + 1)? {
                        return Ok(false);
                    }
                }
                return Ok(true);
            }
        }
        other => return Err(RespError::UnknownType(other)),
    }
    *at = after_line;
    Ok(true)
}

/// The reply at `*at`, moving `*at` past it; `None` when `buf` ends first.
fn reply(
    buf: &[u8],
    at: &mut usize,
    max_bulk: usize,
    depth: usize,
) -> Result<Option<Reply>, RespError> {
    let Some((kind, line)) = line(buf, *at)? else {
        return Ok(None);
    };
    let after_line = *at + 1 + line.len() + 2;
    let text = || String::from_utf8(line.to_vec()).map_err(|_| RespError::NotUtf8);
    let value = match kind {
        b'+' => Reply::Simple(text()?),
        b'-' => Reply::Error(text()?),
        b':' => Reply::Integer(signed(line)?),
        b'$' => match length(line)? {
            None => Reply::Bulk(None),
            Some(len) if len > max_bulk => return Err(RespError::TooLong),
            Some(len) => {
                let end = after_line + len;
                if buf.len() < end + 2 {
                    return Ok(None);
                }
                if &buf[end..end + 2] != b"\r\n" {
                    return Err(RespError::MissingCrlf);
                }
                *at = end + 2;
                return Ok(Some(Reply::Bulk(Some(buf[after_line..end].to_vec()))));
            }
        },
        b'*' => match length(line)? {
            None => Reply::Array(None),
            Some(count) => {
                if depth >= MAX_DEPTH {
                    return Err(RespError::TooDeep);
                }
                // Each element takes three bytes at least (`:0\r\n` is four):
                // more elements than the bytes could hold have not arrived.
                let mut items = Vec::with_capacity(count.min((buf.len() - after_line) / 3));
                *at = after_line;
                for _ in 0..count {
                    match reply(buf, at, max_bulk, depth + 1)? {
                        Some(item) => items.push(item),
                        None => return Ok(None),
                    }
                }
                return Ok(Some(Reply::Array(Some(items))));
            }
        },
        other => return Err(RespError::UnknownType(other)),
    };
    *at = after_line;
    Ok(Some(value))
}

/// The type byte at `at` and the rest of its line, without CRLF; `None` if
/// the line has not ended yet.
fn line(buf: &[u8], at: usize) -> Result<Option<(u8, &[u8])>, RespError> {
    let Some(&kind) = buf.get(at) else {
        return Ok(None);
    };
    let rest = &buf[at + 1..];
    match rest.iter().position(|&b| b == b'\n') {
        None => Ok(None),
        Some(lf) if lf == 0 || rest[lf - 1] != b'\r' => Err(RespError::MissingCrlf),
        Some(lf) => Ok(Some((kind, &rest[..lf - 1]))),
    }
}

/// A length: digits, or `-1` for null.
fn length(text: &[u8]) -> Result<Option<usize>, RespError> {
    if text == b"-1" {
        return Ok(None);
    }
    let n = decimal(text).map_err(|_| RespError::BadNumber)?;
    usize::try_from(n)
        .map(Some)
        .map_err(|_| RespError::BadNumber)
}

/// An integer reply: digits with an optional `-`.
fn signed(text: &[u8]) -> Result<i64, RespError> {
    let (negative, digits) = match text.strip_prefix(b"-") {
        Some(digits) => (true, digits),
        None => (false, text),
    };
    let n = decimal(digits).map_err(|_| RespError::BadNumber)?;
    if negative {
        0i64.checked_sub_unsigned(n).ok_or(RespError::BadNumber)
    } else {
        i64::try_from(n).map_err(|_| RespError::BadNumber)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(bytes: &[u8]) -> Reply {
        match parse(bytes, 1 << 20) {
            Ok(Parsed::Complete { value, consumed }) => {
                assert_eq!(consumed, bytes.len(), "{bytes:?}");
                value
            }
            other => panic!("{bytes:?}: {other:?}"),
        }
    }

    fn bulk(bytes: &[u8]) -> Reply {
        Reply::Bulk(Some(bytes.to_vec()))
    }

    /// The examples of the protocol specification, one per type.
    #[test]
    fn the_specifications_examples() {
        assert_eq!(complete(b"+OK\r\n"), Reply::Simple("OK".into()));
        assert_eq!(
            complete(b"-Error message\r\n"),
            Reply::Error("Error message".into())
        );
        assert_eq!(
            complete(b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
            Reply::Error(
                "WRONGTYPE Operation against a key holding the wrong kind of value".into()
            )
        );
        assert_eq!(complete(b":0\r\n"), Reply::Integer(0));
        assert_eq!(complete(b":1000\r\n"), Reply::Integer(1000));
        assert_eq!(complete(b":-1\r\n"), Reply::Integer(-1));
        assert_eq!(complete(b"$5\r\nhello\r\n"), bulk(b"hello"));
        assert_eq!(complete(b"$0\r\n\r\n"), bulk(b""));
        assert_eq!(complete(b"$-1\r\n"), Reply::Bulk(None));
        assert_eq!(complete(b"*0\r\n"), Reply::Array(Some(vec![])));
        assert_eq!(
            complete(b"*2\r\n$5\r\nhello\r\n$5\r\nworld\r\n"),
            Reply::Array(Some(vec![bulk(b"hello"), bulk(b"world")]))
        );
        assert_eq!(
            complete(b"*3\r\n:1\r\n:2\r\n:3\r\n"),
            Reply::Array(Some(vec![
                Reply::Integer(1),
                Reply::Integer(2),
                Reply::Integer(3)
            ]))
        );
        assert_eq!(
            complete(b"*5\r\n:1\r\n:2\r\n:3\r\n:4\r\n$5\r\nhello\r\n"),
            Reply::Array(Some(vec![
                Reply::Integer(1),
                Reply::Integer(2),
                Reply::Integer(3),
                Reply::Integer(4),
                bulk(b"hello")
            ]))
        );
        assert_eq!(complete(b"*-1\r\n"), Reply::Array(None));
        assert_eq!(
            complete(b"*2\r\n*3\r\n:1\r\n:2\r\n:3\r\n*2\r\n+Hello\r\n-World\r\n"),
            Reply::Array(Some(vec![
                Reply::Array(Some(vec![
                    Reply::Integer(1),
                    Reply::Integer(2),
                    Reply::Integer(3)
                ])),
                Reply::Array(Some(vec![
                    Reply::Simple("Hello".into()),
                    Reply::Error("World".into())
                ])),
            ]))
        );
        assert_eq!(
            complete(b"*3\r\n$5\r\nhello\r\n$-1\r\n$5\r\nworld\r\n"),
            Reply::Array(Some(vec![
                bulk(b"hello"),
                Reply::Bulk(None),
                bulk(b"world")
            ]))
        );
        // A bulk string is binary-safe: CRLF inside it is data.
        assert_eq!(complete(b"$4\r\na\r\nb\r\n"), bulk(b"a\r\nb"));
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        command(&mut out, &[b"LLEN", b"mylist"]);
        assert_eq!(out, b"*2\r\n$4\r\nLLEN\r\n$6\r\nmylist\r\n");
        out.clear();
        command(&mut out, &[b"SET", b"k", b"a\r\nb", b""]);
        assert_eq!(
            out,
            b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n$0\r\n\r\n"
        );
    }

    #[test]
    fn every_split_needs_more_then_completes() {
        let whole: &[u8] = b"*3\r\n$5\r\nhello\r\n*1\r\n:-42\r\n+OK\r\n";
        let expected = complete(whole);
        for split in 0..whole.len() {
            assert_eq!(
                parse(&whole[..split], 1 << 20),
                Ok(Parsed::NeedMore),
                "{split}"
            );
        }
        assert_eq!(
            parse(&[whole, b"+next\r\n"].concat(), 1 << 20),
            Ok(Parsed::Complete {
                value: expected,
                consumed: whole.len()
            })
        );
    }

    #[test]
    fn malformed_and_hostile_replies_are_errors() {
        for (bytes, error) in [
            (&b"?x\r\n"[..], RespError::UnknownType(b'?')),
            (b"+OK\n", RespError::MissingCrlf),
            (b":12a\r\n", RespError::BadNumber),
            (b":9223372036854775808\r\n", RespError::BadNumber),
            (b"$-2\r\n", RespError::BadNumber),
            (b"$3\r\nabcd\r\n", RespError::MissingCrlf),
            (b"*+1\r\n", RespError::BadNumber),
            (b"$99999999999\r\n", RespError::TooLong),
            (b"+\xff\r\n", RespError::NotUtf8),
        ] {
            assert_eq!(parse(bytes, 1 << 20), Err(error), "{bytes:?}");
        }
        assert_eq!(
            parse(b":-9223372036854775808\r\n", 16),
            Ok(Parsed::Complete {
                value: Reply::Integer(i64::MIN),
                consumed: 23
            })
        );
        let deep = "*1\r\n".repeat(MAX_DEPTH + 1) + ":1\r\n";
        assert_eq!(parse(deep.as_bytes(), 16), Err(RespError::TooDeep));
        // A huge count with nothing behind it allocates nothing and waits.
        assert_eq!(parse(b"*4000000000\r\n", 16), Ok(Parsed::NeedMore));
    }

    #[test]
    fn scan_agrees_with_parse_on_every_prefix() {
        let whole: &[u8] = b"*3\r\n$5\r\nhello\r\n*1\r\n:-42\r\n+OK\r\n";
        for end in 0..=whole.len() {
            let scanned = scan(&whole[..end], 1 << 20);
            match parse(&whole[..end], 1 << 20) {
                Ok(Parsed::Complete { consumed, .. }) => assert_eq!(scanned, Ok(Some(consumed))),
                Ok(Parsed::NeedMore) => assert_eq!(scanned, Ok(None), "{end}"),
                Err(error) => assert_eq!(scanned, Err(error)),
            }
        }
        assert_eq!(scan(b"$99999999999\r\n", 16), Err(RespError::TooLong));
        assert_eq!(scan(b"?\r\n", 16), Err(RespError::UnknownType(b'?')));
    }
}
