//! A catalogue of malformed and hostile HTTP/1.1 requests over raw sockets: each
//! with the status it must get and whether the connection must close, and after
//! each, proof that the server still serves — on the same connection when it
//! stays open, and on a fresh one always.
//!
//! The shapes are the ones request smuggling and parser confusion are built from
//! (RFC 9112 §2.2, §3, §5, §6.1, §6.3, §7.1), plus limits and odd-but-valid forms
//! that must still work.

mod common;

use common::*;
use std::io::{BufReader, Read, Write};

/// (what, raw request, status, whether the server closes the connection)
type Case = (&'static str, Vec<u8>, u16, bool);

const GOOD: &[u8] = b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n";

fn publish(headers: &str, body: &str) -> Vec<u8> {
    format!("POST /channels/h/publish HTTP/1.1\r\nHost: t\r\n{headers}\r\n{body}").into_bytes()
}

fn get(line_and_headers: &str) -> Vec<u8> {
    format!("{line_and_headers}\r\n\r\n").into_bytes()
}

fn catalogue() -> Vec<Case> {
    let long_line =
        format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(9 * 1024)).into_bytes();
    let big_header = format!(
        "GET /health HTTP/1.1\r\nHost: t\r\nX: {}\r\n\r\n",
        "v".repeat(17 * 1024)
    )
    .into_bytes();
    let mut many = String::from("GET /health HTTP/1.1\r\nHost: t\r\n");
    for i in 0..100 {
        many.push_str(&format!("X-{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let long_ext = format!("1;{}\r\na\r\n0\r\n\r\n", "e".repeat(2000));
    let endless_zeros = format!("{}5\r\nhello\r\n0\r\n\r\n", "0".repeat(8 * 1024));
    vec![
        // Smuggling shapes: Content-Length (RFC 9112 §6.3).
        (
            "CL and TE",
            publish(
                "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                "0\r\n\r\n",
            ),
            400,
            true,
        ),
        (
            "TE and CL",
            publish(
                "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                "0\r\n\r\n",
            ),
            400,
            true,
        ),
        (
            "two different CLs",
            publish("Content-Length: 3\r\nContent-Length: 4\r\n", "abcd"),
            400,
            true,
        ),
        (
            "a CL list that differs",
            publish("Content-Length: 3, 4\r\n", "abcd"),
            400,
            true,
        ),
        (
            "a signed CL",
            publish("Content-Length: +3\r\n", "abc"),
            400,
            true,
        ),
        (
            "a negative CL",
            publish("Content-Length: -1\r\n", ""),
            400,
            true,
        ),
        (
            "a hex CL",
            publish("Content-Length: 0x3\r\n", "abc"),
            400,
            true,
        ),
        (
            "a CL past 2^64",
            publish("Content-Length: 18446744073709551616\r\n", ""),
            400,
            true,
        ),
        (
            "a CL with a space inside",
            publish("Content-Length: 1 2\r\n", "abc"),
            400,
            true,
        ),
        ("an empty CL", publish("Content-Length:\r\n", ""), 400, true),
        (
            "a CL with an underscore",
            publish("Content-Length: 1_0\r\n", ""),
            400,
            true,
        ),
        (
            "the same CL twice (allowed)",
            publish("Content-Length: 3\r\nContent-Length: 3\r\n", "abc"),
            200,
            false,
        ),
        (
            "a CL with OWS (allowed)",
            publish("Content-Length:   3  \r\n", "abc"),
            200,
            false,
        ),
        // Transfer-Encoding (RFC 9112 §6.1, §7).
        (
            "TE gzip",
            publish("Transfer-Encoding: gzip\r\n", ""),
            501,
            true,
        ),
        (
            "TE chunked then gzip",
            publish("Transfer-Encoding: chunked, gzip\r\n", ""),
            501,
            true,
        ),
        (
            "TE gzip then chunked",
            publish("Transfer-Encoding: gzip, chunked\r\n", ""),
            501,
            true,
        ),
        (
            "TE chunked twice",
            publish("Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n"),
            400,
            true,
        ),
        (
            "TE identity",
            publish("Transfer-Encoding: identity\r\n", ""),
            501,
            true,
        ),
        (
            "an empty TE",
            publish("Transfer-Encoding:\r\n", ""),
            400,
            true,
        ),
        (
            "a quoted TE",
            publish("Transfer-Encoding: \"chunked\"\r\n", ""),
            400,
            true,
        ),
        (
            "TE xchunked",
            publish("Transfer-Encoding: xchunked\r\n", ""),
            501,
            true,
        ),
        (
            "TE split over two lines",
            publish(
                "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
                "",
            ),
            501,
            true,
        ),
        (
            "TE in HTTP/1.0",
            b"POST /channels/h/publish HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                .to_vec(),
            400,
            true,
        ),
        (
            "TE Chunked, any case (allowed)",
            publish("Transfer-Encoding: Chunked\r\n", "2\r\nhi\r\n0\r\n\r\n"),
            200,
            false,
        ),
        // Chunked bodies (RFC 9112 §7.1).
        (
            "a chunk size that is not hex",
            publish("Transfer-Encoding: chunked\r\n", "zz\r\n"),
            400,
            true,
        ),
        (
            "a chunk size past 2^64",
            publish("Transfer-Encoding: chunked\r\n", "10000000000000000\r\n"),
            400,
            true,
        ),
        (
            "a chunk size of 17 digits, all zeros but the last",
            publish(
                "Transfer-Encoding: chunked\r\n",
                "00000000000000005\r\nhello\r\n0\r\n\r\n",
            ),
            400,
            true,
        ),
        (
            "a chunk size of 16 digits (allowed)",
            publish(
                "Transfer-Encoding: chunked\r\n",
                "0000000000000005\r\nhello\r\n0\r\n\r\n",
            ),
            200,
            false,
        ),
        (
            "a chunk-size line of endless zeros",
            publish("Transfer-Encoding: chunked\r\n", &endless_zeros),
            400,
            true,
        ),
        (
            "a negative chunk size",
            publish("Transfer-Encoding: chunked\r\n", "-1\r\n"),
            400,
            true,
        ),
        (
            "a 0x chunk size",
            publish("Transfer-Encoding: chunked\r\n", "0x5\r\n"),
            400,
            true,
        ),
        (
            "NUL in a chunk extension",
            publish("Transfer-Encoding: chunked\r\n", "1;\0\r\na\r\n0\r\n\r\n"),
            400,
            true,
        ),
        (
            "an endless chunk extension",
            publish("Transfer-Encoding: chunked\r\n", &long_ext),
            400,
            true,
        ),
        (
            "chunk data longer than its size",
            publish("Transfer-Encoding: chunked\r\n", "2\r\nabc\r\n0\r\n\r\n"),
            400,
            true,
        ),
        (
            "a bare LF after a chunk size",
            publish("Transfer-Encoding: chunked\r\n", "2\nab\r\n0\r\n\r\n"),
            400,
            true,
        ),
        (
            "a chunk over the body limit",
            publish("Transfer-Encoding: chunked\r\n", "100001\r\n"),
            413,
            true,
        ),
        (
            "a malformed trailer",
            publish(
                "Transfer-Encoding: chunked\r\n",
                "0\r\nBad Trailer: x\r\n\r\n",
            ),
            400,
            true,
        ),
        (
            "extensions and trailers (allowed)",
            publish(
                "Transfer-Encoding: chunked\r\n",
                "2;a=b\r\nhi\r\n0\r\nT: v\r\n\r\n",
            ),
            200,
            false,
        ),
        // Line endings and field syntax (RFC 9112 §2.2, §5).
        (
            "obs-fold with a space",
            get("GET /health HTTP/1.1\r\nHost: t\r\nX: a\r\n b"),
            400,
            true,
        ),
        (
            "obs-fold with a tab",
            get("GET /health HTTP/1.1\r\nHost: t\r\nX: a\r\n\tb"),
            400,
            true,
        ),
        (
            "whitespace before the first field",
            get("GET /health HTTP/1.1\r\n Host: t"),
            400,
            true,
        ),
        (
            "a space before the colon",
            get("GET /health HTTP/1.1\r\nHost : t"),
            400,
            true,
        ),
        (
            "a tab before the colon",
            get("GET /health HTTP/1.1\r\nHost\t: t"),
            400,
            true,
        ),
        (
            "a bare LF ending the request line",
            b"GET /health HTTP/1.1\nHost: t\r\n\r\n".to_vec(),
            400,
            true,
        ),
        (
            "bare LFs everywhere",
            b"GET /health HTTP/1.1\nHost: t\n\n".to_vec(),
            400,
            true,
        ),
        (
            "a bare CR in a value",
            get("GET /health HTTP/1.1\r\nHost: t\rX: y"),
            400,
            true,
        ),
        (
            "NUL in a value",
            get("GET /health HTTP/1.1\r\nHost: t\r\nX: a\0b"),
            400,
            true,
        ),
        (
            "NUL in the target",
            get("GET /he\0alth HTTP/1.1\r\nHost: t"),
            400,
            true,
        ),
        (
            "DEL in a value",
            get("GET /health HTTP/1.1\r\nHost: t\r\nX: a\x7fb"),
            400,
            true,
        ),
        (
            "a control character in a value",
            get("GET /health HTTP/1.1\r\nHost: t\r\nX: a\x01b"),
            400,
            true,
        ),
        (
            "a field without a colon",
            get("GET /health HTTP/1.1\r\nHost: t\r\nNoColon"),
            400,
            true,
        ),
        (
            "an empty field name",
            get("GET /health HTTP/1.1\r\nHost: t\r\n: x"),
            400,
            true,
        ),
        (
            "a field name with a bracket",
            get("GET /health HTTP/1.1\r\nHost: t\r\nX(y): z"),
            400,
            true,
        ),
        // Methods, targets, versions (RFC 9112 §3).
        (
            "a method with a bracket",
            get("G(ET /health HTTP/1.1\r\nHost: t"),
            400,
            true,
        ),
        (
            "a lowercase method (a token: 405)",
            get("get /health HTTP/1.1\r\nHost: t"),
            405,
            false,
        ),
        (
            "an unknown method (405)",
            get("BREW /health HTTP/1.1\r\nHost: t"),
            405,
            false,
        ),
        (
            "an empty method",
            get(" /health HTTP/1.1\r\nHost: t"),
            400,
            true,
        ),
        (
            "two spaces in the request line",
            get("GET  /health HTTP/1.1\r\nHost: t"),
            400,
            true,
        ),
        (
            "the asterisk-form with GET",
            get("GET * HTTP/1.1\r\nHost: t"),
            400,
            false,
        ),
        (
            "a relative target",
            get("GET health HTTP/1.1\r\nHost: t"),
            400,
            true,
        ),
        (
            "a fragment in the target",
            get("GET /health#x HTTP/1.1\r\nHost: t"),
            400,
            true,
        ),
        (
            "a space inside the target",
            get("GET /hea lth HTTP/1.1\r\nHost: t"),
            400,
            true,
        ),
        (
            "a bad percent escape",
            get("GET /health%zz HTTP/1.1\r\nHost: t"),
            400,
            true,
        ),
        (
            "raw UTF-8 in the target",
            get("GET /h\u{e9}alth HTTP/1.1\r\nHost: t"),
            400,
            true,
        ),
        (
            "the absolute-form (allowed)",
            get("GET http://t/health HTTP/1.1\r\nHost: t"),
            200,
            false,
        ),
        (
            "the absolute-form with https (allowed)",
            get("GET https://t/health HTTP/1.1\r\nHost: t"),
            200,
            false,
        ),
        (
            "the absolute-form without a host",
            get("GET http:///health HTTP/1.1\r\nHost: t"),
            400,
            true,
        ),
        (
            "the authority-form",
            get("GET t:80 HTTP/1.1\r\nHost: t"),
            400,
            true,
        ),
        (
            "HTTP/2.0",
            get("GET /health HTTP/2.0\r\nHost: t"),
            505,
            true,
        ),
        (
            "HTTP/1.2",
            get("GET /health HTTP/1.2\r\nHost: t"),
            505,
            true,
        ),
        (
            "a lowercase version",
            get("GET /health http/1.1\r\nHost: t"),
            400,
            true,
        ),
        (
            "a version without a minor",
            get("GET /health HTTP/1\r\nHost: t"),
            400,
            true,
        ),
        (
            "a space after the version",
            get("GET /health HTTP/1.1 \r\nHost: t"),
            400,
            true,
        ),
        // Host (RFC 9112 §3.2).
        (
            "no Host in HTTP/1.1",
            get("GET /health HTTP/1.1"),
            400,
            true,
        ),
        (
            "two Hosts",
            get("GET /health HTTP/1.1\r\nHost: a\r\nHost: b"),
            400,
            true,
        ),
        (
            "a Host with a space",
            get("GET /health HTTP/1.1\r\nHost: a b"),
            400,
            true,
        ),
        (
            "a Host with a slash",
            get("GET /health HTTP/1.1\r\nHost: a/b"),
            400,
            true,
        ),
        (
            "no Host in HTTP/1.0 (allowed; 1.0 closes)",
            get("GET /health HTTP/1.0"),
            200,
            true,
        ),
        // Limits.
        ("a 9 KiB request line", long_line, 414, true),
        ("a 17 KiB header section", big_header, 431, true),
        ("101 header fields", many.into_bytes(), 431, true),
        (
            "a body over 1 MiB",
            publish("Content-Length: 1048577\r\n", ""),
            413,
            true,
        ),
        (
            "a message over 64 KiB (refused unread, then closed)",
            publish("Content-Length: 65537\r\n", &"a".repeat(65_537)),
            413,
            true,
        ),
        (
            "a chunked message over 64 KiB",
            publish(
                "Transfer-Encoding: chunked\r\n",
                &format!("10001\r\n{}\r\n0\r\n\r\n", "a".repeat(65_537)),
            ),
            413,
            true,
        ),
        (
            "a message of exactly 64 KiB (allowed)",
            publish("Content-Length: 65536\r\n", &"a".repeat(65_536)),
            200,
            false,
        ),
        // Expect (RFC 9110 §10.1.1).
        (
            "Expect 200-ok",
            publish("Expect: 200-ok\r\nContent-Length: 1\r\n", "a"),
            417,
            true,
        ),
        (
            "Expect with a second expectation",
            publish("Expect: 100-continue, foo\r\nContent-Length: 1\r\n", "a"),
            417,
            true,
        ),
        (
            "Expect 100-continue on a GET (allowed)",
            get("GET /health HTTP/1.1\r\nHost: t\r\nExpect: 100-continue"),
            200,
            false,
        ),
        // Empty lines before the request (RFC 9112 §2.2).
        (
            "two empty lines first (allowed)",
            b"\r\n\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
            200,
            false,
        ),
        (
            "three empty lines first",
            b"\r\n\r\n\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
            400,
            true,
        ),
    ]
}

#[test]
fn the_catalogue_holds_at_least_sixty_hostile_requests() {
    let hostile = catalogue()
        .iter()
        .filter(|(_, _, status, _)| *status >= 400)
        .count();
    assert!(hostile >= 60, "{hostile}");
}

#[test]
fn each_request_gets_its_status_and_the_server_keeps_serving() {
    let server = TestServer::start();
    for (what, raw, status, closes) in catalogue() {
        let (response, mut reader) = exchange(&server, &raw);
        assert_eq!(response.status, status, "{what}");
        if status >= 400 {
            assert_eq!(
                response.header("content-type"),
                Some("application/json"),
                "{what}"
            );
            assert!(
                response.text().starts_with(r#"{"error":""#),
                "{what}: {}",
                response.text()
            );
        }
        if closes {
            assert!(is_closed(&mut reader), "{what}: the connection must close");
        } else {
            assert!(!response.says_close(), "{what}");
            // The same connection still carries a request.
            reader.get_mut().write_all(GOOD).unwrap();
            let next = read_response_to(&mut reader, false).unwrap();
            assert_eq!(
                (next.status, next.text().as_str()),
                (200, "ok"),
                "{what}: the next request"
            );
        }
        let (fresh, _) = exchange(&server, GOOD);
        assert_eq!(fresh.status, 200, "{what}: a fresh connection afterwards");
    }
}

#[test]
fn refusals_never_echo_the_request() {
    let server = TestServer::start();
    for raw in [
        &b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: <script>alert(1)</script>\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: evil-coding\r\n\r\n",
        b"GET /<script> HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /channels/<b>/poll HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /channels/x/jsonp?callback=alert(1) HTTP/1.1\r\nHost: t\r\n\r\n",
    ] {
        let (response, _) = exchange(&server, raw);
        assert!(response.status >= 400);
        let text = response.text();
        assert!(
            !text.contains("script") && !text.contains("evil") && !text.contains("alert"),
            "{text}"
        );
    }
}

#[test]
fn a_request_split_into_single_bytes_is_still_one_request() {
    let server = TestServer::start();
    let mut stream = server.connect();
    stream.set_nodelay(true).unwrap();
    let raw = b"POST /channels/drip/publish HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    for byte in raw {
        stream.write_all(std::slice::from_ref(byte)).unwrap();
    }
    let mut reader = BufReader::new(stream);
    let response = read_response_to(&mut reader, false).unwrap();
    assert_eq!(response.text(), r#"{"id":1}"#);
    let mut nothing = [0u8; 1];
    reader
        .get_mut()
        .set_read_timeout(Some(std::time::Duration::from_millis(100)))
        .unwrap();
    assert!(reader.read(&mut nothing).is_err(), "exactly one reply");
}
