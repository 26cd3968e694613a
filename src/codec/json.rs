//! A small JSON *writer*: the server only ever produces JSON, so this is the
//! half of RFC 8259 it needs.
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
}
