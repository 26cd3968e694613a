//! Cross-origin resource sharing: which pages on other origins may read this
//! server's replies (WHATWG Fetch, "CORS protocol").
//!
//! A browser sends `Origin` with cross-origin requests and lets the page read the
//! reply only if it carries a matching `Access-Control-Allow-Origin`. For requests
//! that are not "simple" (a `POST` with a JSON content type, a custom header such
//! as `Last-Event-ID`) it first asks with an `OPTIONS` *preflight* carrying
//! `Access-Control-Request-Method`, and sends the real request only if the answer
//! allows it.
//!
//! The policy is an allow-list: `*` (any origin, without credentials) or exact
//! origins such as `https://app.example`. A listed origin is answered with itself
//! and `Vary: Origin`, so that caches keep one reply per origin. An origin outside
//! the list gets no `Access-Control-Allow-Origin` at all, which is how CORS says
//! no. The same list decides which pages may open a WebSocket (whose handshake
//! browsers do not subject to CORS), against cross-site WebSocket hijacking.
//!
//! # Examples
//!
//! ```
//! use realtime_web::http::Cors;
//!
//! let cors = Cors::allow_list(["https://app.example"]);
//! assert!(cors.allows("https://app.example"));
//! assert!(!cors.allows("https://evil.example"));
//! assert!(Cors::allow_list(["*"]).allows("https://anyone.example"));
//! ```

use super::Response;

/// The request headers a preflight may ask for by default: the ones the
/// transports read, and `Authorization` for an access rule that wants a token
/// (see [`Cors::allow_headers`]).
pub const ALLOW_HEADERS: &str =
    "Content-Type, Last-Event-ID, Cache-Control, X-Requested-With, Authorization";

/// How long a browser may cache a preflight answer, in seconds.
pub const MAX_AGE_SECS: u32 = 600;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Origins {
    Any,
    List(Vec<String>),
}

/// An origin allow-list and the answers it gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cors {
    origins: Origins,
    allow_headers: String,
}

impl Cors {
    /// Allows every origin (`Access-Control-Allow-Origin: *`).
    pub fn allow_any() -> Cors {
        Cors {
            origins: Origins::Any,
            allow_headers: ALLOW_HEADERS.to_owned(),
        }
    }

    /// Allows exactly these origins; an entry `*` allows any.
    pub fn allow_list<I, S>(origins: I) -> Cors
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let list: Vec<String> = origins.into_iter().map(Into::into).collect();
        if list.iter().any(|o| o == "*") {
            return Cors::allow_any();
        }
        Cors {
            origins: Origins::List(list),
            allow_headers: ALLOW_HEADERS.to_owned(),
        }
    }

    /// Sets the request headers a preflight allows (`Access-Control-Allow-Headers`),
    /// replacing [`ALLOW_HEADERS`]: a comma-separated list such as
    /// `"Content-Type, Authorization, X-Api-Key"`. CR, LF and NUL are dropped.
    pub fn allow_headers(mut self, headers: &str) -> Cors {
        self.allow_headers = headers.replace(['\r', '\n', '\0'], "");
        self
    }

    /// Whether `origin` (the `Origin` header's value) is allowed. Origins compare
    /// ASCII case-insensitively, as scheme and host do.
    pub fn allows(&self, origin: &str) -> bool {
        self.allowed(origin).is_some()
    }

    /// The value of `Access-Control-Allow-Origin` for `origin`, if allowed: `*`,
    /// or the configured spelling of the origin (never the request's own bytes).
    fn allowed(&self, origin: &str) -> Option<&str> {
        match &self.origins {
            Origins::Any => Some("*"),
            Origins::List(list) => list
                .iter()
                .find(|o| o.eq_ignore_ascii_case(origin))
                .map(String::as_str),
        }
    }

    /// Adds the CORS fields to the reply of an actual (not preflight) request
    /// that came with `Origin: origin`.
    pub fn apply(&self, origin: &str, response: &mut Response) {
        if let Some(allowed) = self.allowed(origin) {
            response.push_header("Access-Control-Allow-Origin", allowed.to_owned());
        }
        if self.origins != Origins::Any {
            response.push_header("Vary", "Origin");
        }
    }

    /// The answer to an `OPTIONS` request for a resource that allows the methods
    /// in `allow` (already joined, such as `GET, HEAD, OPTIONS`): `204` with
    /// `Allow`, and, for an allowed origin, the preflight fields.
    pub fn preflight(&self, origin: Option<&str>, allow: &str) -> Response {
        let mut response = Response::new(204).header("Allow", allow.to_owned());
        if let Some(allowed) = origin.and_then(|o| self.allowed(o)) {
            response.push_header("Access-Control-Allow-Origin", allowed.to_owned());
            response.push_header("Access-Control-Allow-Methods", allow.to_owned());
            response.push_header("Access-Control-Allow-Headers", self.allow_headers.clone());
            response.push_header("Access-Control-Max-Age", MAX_AGE_SECS.to_string());
        }
        if self.origins != Origins::Any {
            response.push_header("Vary", "Origin");
        }
        response
    }
}

impl Default for Cors {
    /// Allows any origin, as the showcase binary does without `--allow-origin`.
    fn default() -> Self {
        Cors::allow_any()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_answers_star() {
        let mut response = Response::new(200);
        Cors::allow_any().apply("https://x.example", &mut response);
        assert_eq!(
            response.header_value("access-control-allow-origin"),
            Some("*")
        );
        assert_eq!(response.header_value("vary"), None);
    }

    #[test]
    fn list_answers_the_configured_origin() {
        let cors = Cors::allow_list(["https://App.example", "http://localhost:3000"]);
        let mut response = Response::new(200);
        cors.apply("https://app.example", &mut response);
        assert_eq!(
            response.header_value("access-control-allow-origin"),
            Some("https://App.example")
        );
        assert_eq!(response.header_value("vary"), Some("Origin"));
    }

    #[test]
    fn list_refuses_others_silently() {
        let cors = Cors::allow_list(["https://app.example"]);
        for origin in ["https://app.example.evil", "http://app.example", "null", ""] {
            let mut response = Response::new(200);
            cors.apply(origin, &mut response);
            assert_eq!(
                response.header_value("access-control-allow-origin"),
                None,
                "{origin}"
            );
        }
    }

    #[test]
    fn preflight_fields() {
        let cors = Cors::allow_list(["https://app.example"]);
        let ok = cors.preflight(Some("https://app.example"), "GET, HEAD, OPTIONS");
        assert_eq!(ok.status(), 204);
        assert_eq!(ok.header_value("allow"), Some("GET, HEAD, OPTIONS"));
        assert_eq!(
            ok.header_value("access-control-allow-methods"),
            Some("GET, HEAD, OPTIONS")
        );
        assert_eq!(
            ok.header_value("access-control-allow-headers"),
            Some(ALLOW_HEADERS)
        );
        assert_eq!(ok.header_value("access-control-max-age"), Some("600"));
        let refused = cors.preflight(Some("https://evil.example"), "GET");
        assert_eq!(refused.status(), 204);
        assert_eq!(refused.header_value("access-control-allow-origin"), None);
        assert_eq!(refused.header_value("access-control-allow-methods"), None);
    }
}
