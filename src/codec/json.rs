//! A small JSON *writer*, and a checker: the server produces JSON, and
//! carries JSON that a program publishes ([`is_json`] checks it, RFC 8259
//! §2–§7, and [`value`] embeds it), without ever needing its parsed form.
//!
//! Strings are escaped per RFC 8259 §7: `"` and `\` always, and every control
//! character U+0000–U+001F (as `\n`, `\r`, `\t`, `\b`, `\f`, or `\u00XX`). On top
//! of what JSON requires, U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR are
//! written as `\u2028` and `\u2029`: they are legal inside a JSON string but were
//! line terminators in JavaScript string literals before ES2019, so JSON pasted
//! into a script (JSONP, the forever frame) could otherwise end a line in the
//! middle of a string.
//!
//! [`Html::Safe`] additionally escapes `<`, `>` and `&` as `\u003c`, `\u003e`,
//! `\u0026`, so the text `</script>` can never appear in the output and close the
//! `<script>` element the JSON is embedded in (HTML §13.2.6.4.4, "script data"
//! state ends at `</script`).
//!
//! # Examples
//!
//! ```
//! use realtime_web::codec::json::{self, Html};
//!
//! let mut out = String::new();
//! json::string(&mut out, "say \"hi\"\n</script>", Html::Safe);
//! assert_eq!(out, r#""say \"hi\"\n\u003c/script\u003e""#);
//! ```

use std::fmt::Write as _;

/// Whether a string will be embedded in HTML or a script and so must not contain
/// `<`, `>` or `&` literally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Html {
    /// Plain JSON (only what RFC 8259 requires, plus U+2028/U+2029).
    Plain,
    /// JSON that is safe inside an HTML `<script>` element.
    Safe,
}

/// Appends `s` to `out` as a quoted JSON string (RFC 8259 §7).
pub fn string(out: &mut String, s: &str, html: Html) {
    out.reserve(s.len() + 2);
    out.push('"');
    // Copy runs of characters that need no escaping in one push_str.
    let mut run_start = 0;
    for (i, c) in s.char_indices() {
        let escape: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{08}' => Some("\\b"),
            '\u{0C}' => Some("\\f"),
            '\u{2028}' => Some("\\u2028"),
            '\u{2029}' => Some("\\u2029"),
            '<' if html == Html::Safe => Some("\\u003c"),
            '>' if html == Html::Safe => Some("\\u003e"),
            '&' if html == Html::Safe => Some("\\u0026"),
            c if (c as u32) < 0x20 => None,
            _ => continue,
        };
        out.push_str(&s[run_start..i]);
        match escape {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
        }
        run_start = i + c.len_utf8();
    }
    out.push_str(&s[run_start..]);
    out.push('"');
}

/// The deepest nesting of arrays and objects [`is_json`] accepts: RFC 8259
/// §9 lets a parser limit it, and this one checks by recursion, one stack
/// frame per level.
pub const MAX_DEPTH: usize = 64;

/// Whether `text` is one JSON value (RFC 8259 §2: `ws value ws`), its arrays
/// and objects nested at most [`MAX_DEPTH`] deep. Duplicate object names pass
/// (§4 leaves them to the receiver); the text is `&str`, so already UTF-8
/// (§8.1).
///
/// ```
/// use realtime_web::codec::json::is_json;
///
/// assert!(is_json(r#" {"celsius": 20.1, "tags": ["a", null, true]} "#));
/// assert!(is_json("-0.5e+3"));
/// assert!(!is_json("{'single': 'quotes'}"));
/// assert!(!is_json("[1,]"));
/// assert!(!is_json("01"));
/// ```
pub fn is_json(text: &str) -> bool {
    let mut check = Checker {
        bytes: text.as_bytes(),
        at: 0,
    };
    check.space();
    let valid = check.value(0);
    check.space();
    valid && check.at == check.bytes.len()
}

/// A cursor over the text being checked.
struct Checker<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Checker<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// Takes `b` if it comes next.
    fn eat(&mut self, b: u8) -> bool {
        let next = self.peek() == Some(b);
        self.at += usize::from(next);
        next
    }

    /// `ws = *( %x20 / %x09 / %x0A / %x0D )` (§2).
    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn value(&mut self, depth: usize) -> bool {
        match self.peek() {
            Some(b'{') => depth < MAX_DEPTH && self.object(depth + 1),
            Some(b'[') => depth < MAX_DEPTH && self.array(depth + 1),
            Some(b'"') => self.string(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => false,
        }
    }

    /// `object = { [ member *( , member ) ] }`, `member = string : value` (§4).
    fn object(&mut self, depth: usize) -> bool {
        self.at += 1;
        self.space();
        if self.eat(b'}') {
            return true;
        }
        loop {
            self.space();
            if !(self.peek() == Some(b'"') && self.string()) {
                return false;
            }
            self.space();
            if !self.eat(b':') {
                return false;
            }
            self.space();
            if !self.value(depth) {
                return false;
            }
            self.space();
            if self.eat(b'}') {
                return true;
            }
            if !self.eat(b',') {
                return false;
            }
        }
    }

    /// `array = [ [ value *( , value ) ] ]` (§5).
    fn array(&mut self, depth: usize) -> bool {
        self.at += 1;
        self.space();
        if self.eat(b']') {
            return true;
        }
        loop {
            self.space();
            if !self.value(depth) {
                return false;
            }
            self.space();
            if self.eat(b']') {
                return true;
            }
            if !self.eat(b',') {
                return false;
            }
        }
    }

    /// A string (§7): no control character unescaped, and only the escapes
    /// `\" \\ \/ \b \f \n \r \t \uXXXX`.
    fn string(&mut self) -> bool {
        self.at += 1;
        loop {
            match self.peek() {
                None => return false,
                Some(b'"') => {
                    self.at += 1;
                    return true;
                }
                Some(b'\\') => {
                    self.at += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.at += 1
                        }
                        Some(b'u') => {
                            let digits = self.bytes.get(self.at + 1..self.at + 5);
                            if !digits.is_some_and(|d| d.iter().all(u8::is_ascii_hexdigit)) {
                                return false;
                            }
                            self.at += 5;
                        }
                        _ => return false,
                    }
                }
                Some(0..=0x1F) => return false,
                Some(_) => self.at += 1,
            }
        }
    }

    /// `number = [ - ] int [ frac ] [ exp ]`, `int = 0 / ( 1-9 *DIGIT )` (§6).
    fn number(&mut self) -> bool {
        self.eat(b'-');
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return false,
        }
        if self.eat(b'.') {
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return false;
            }
            self.digits();
        }
        if self.eat(b'e') || self.eat(b'E') {
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return false;
            }
            self.digits();
        }
        true
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        let matches = self.bytes[self.at..].starts_with(word);
        self.at += if matches { word.len() } else { 0 };
        matches
    }
}

/// Appends `json`, a text for which [`is_json`] holds, as a value inside the
/// JSON being written, with the same guarantees as [`string`]: U+2028 and
/// U+2029 (and, for [`Html::Safe`], `<`, `>`, `&`) escaped as `\uXXXX`, and
/// line breaks gone, so that the value never ends a line (an ndjson line, a
/// script) or a `<script>` element. Exact, because in valid JSON those
/// characters occur only inside strings, where the escape means the same
/// character, except CR and LF, which occur only between tokens, where a
/// space means the same.
pub fn value(out: &mut String, json: &str, html: Html) {
    out.reserve(json.len());
    for c in json.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            '<' if html == Html::Safe => out.push_str("\\u003c"),
            '>' if html == Html::Safe => out.push_str("\\u003e"),
            '&' if html == Html::Safe => out.push_str("\\u0026"),
            c => out.push(c),
        }
    }
}

/// Returns the object `{"error":"<message>"}`, the body of every error reply in
/// the contract.
pub fn error_object(message: &str) -> String {
    let mut out = String::from("{\"error\":");
    string(&mut out, message, Html::Plain);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(s: &str) -> String {
        let mut out = String::new();
        string(&mut out, s, Html::Plain);
        out
    }

    fn safe(s: &str) -> String {
        let mut out = String::new();
        string(&mut out, s, Html::Safe);
        out
    }

    #[test]
    fn plain_text_is_only_quoted() {
        assert_eq!(plain(""), r#""""#);
        assert_eq!(plain("hello"), r#""hello""#);
        assert_eq!(plain("héllo ☃ 𝄞"), "\"héllo ☃ 𝄞\"");
    }

    #[test]
    fn rfc8259_mandatory_escapes() {
        assert_eq!(plain("\""), r#""\"""#);
        assert_eq!(plain("\\"), r#""\\""#);
        assert_eq!(plain("a\nb\rc\td"), r#""a\nb\rc\td""#);
        assert_eq!(plain("\u{08}\u{0C}"), r#""\b\f""#);
    }

    #[test]
    fn every_control_character_is_escaped() {
        for b in 0u8..0x20 {
            let s = (b as char).to_string();
            let out = plain(&s);
            assert!(out.starts_with("\"\\"), "{b:#x} gave {out}");
            assert!(out.bytes().all(|c| c >= 0x20), "{b:#x} gave {out:?}");
        }
        assert_eq!(plain("\u{0}"), r#""\u0000""#);
        assert_eq!(plain("\u{1f}"), r#""\u001f""#);
    }

    #[test]
    fn line_and_paragraph_separators_are_escaped() {
        assert_eq!(plain("a\u{2028}b\u{2029}c"), r#""a\u2028b\u2029c""#);
    }

    #[test]
    fn html_safe_escapes_markup() {
        assert_eq!(
            safe("</script><!--&"),
            r#""\u003c/script\u003e\u003c!--\u0026""#
        );
        assert_eq!(plain("</script>"), r#""</script>""#);
    }

    #[test]
    fn error_object_shape() {
        assert_eq!(error_object("not found"), r#"{"error":"not found"}"#);
    }

    /// RFC 8259 §13's two examples, and each rule broken once.
    #[test]
    fn is_json_follows_rfc_8259() {
        let image = r#"{
          "Image": {
              "Width":  800,
              "Height": 600,
              "Title":  "View from 15th Floor",
              "Thumbnail": {
                  "Url":    "http://www.example.com/image/481989943",
                  "Height": 125,
                  "Width":  100
              },
              "Animated" : false,
              "IDs": [116, 943, 234, 38793]
            }
        }"#;
        let places = r#"[
          {
             "precision": "zip",
             "Latitude":  37.7668,
             "Longitude": -122.3959,
             "Address":   "",
             "City":      "SAN FRANCISCO",
             "State":     "CA",
             "Zip":       "94107",
             "Country":   "US"
          }
        ]"#;
        for good in [
            image,
            places,
            "\"Hello world!\"",
            "42",
            "true",
            "null",
            "0",
            "-0.0e-0",
            "[]",
            "{}",
            r#""\u00e9\n\/""#,
        ] {
            assert!(is_json(good), "{good}");
        }
        for bad in [
            "",
            " ",
            "01",
            "+1",
            "1.",
            ".5",
            "1e",
            "0x10",
            "NaN",
            "tru",
            "nul",
            "[1,]",
            "[1 2]",
            "{\"a\" 1}",
            "{\"a\":}",
            "{a:1}",
            "{\"a\":1,}",
            "\"tab\there\"",
            "\"\\x\"",
            "\"\\u12G4\"",
            "\"open",
            "[",
            "{",
            "1 2",
            "[]]",
        ] {
            assert!(!is_json(bad), "{bad:?}");
        }
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(is_json(&deep(MAX_DEPTH)));
        assert!(!is_json(&deep(MAX_DEPTH + 1)));
        assert!(!is_json(&deep(100_000)), "refused, not a stack overflow");
    }

    #[test]
    fn a_value_is_embedded_without_line_breaks_or_script_ends() {
        let json = "{\"html\": \"</script>&\u{2028}\",\n \"n\": 1}";
        assert!(is_json(json));
        let mut plain = String::new();
        value(&mut plain, json, Html::Plain);
        assert_eq!(plain, "{\"html\": \"</script>&\\u2028\",  \"n\": 1}");
        let mut safe = String::new();
        value(&mut safe, json, Html::Safe);
        assert_eq!(
            safe,
            "{\"html\": \"\\u003c/script\\u003e\\u0026\\u2028\",  \"n\": 1}"
        );
        assert!(is_json(&plain) && is_json(&safe));
    }
}
