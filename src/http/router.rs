//! Routing by method and path, with `{param}` segments.
//!
//! A route is a method and a pattern such as `/channels/{ch}/poll`. Patterns
//! match the *raw* path segment by segment, so a percent-encoded slash stays
//! inside its segment (`/channels/a%2Fb/poll` matches with `ch = "a%2Fb"`, which
//! the channel-name check then refuses, as the contract asks).
//!
//! The router answers what no handler should have to (RFC 9110 §9, §15.5):
//! `404` for a path no route has, `405` with `Allow` for a known path and another
//! method, `HEAD` with the `GET` route (the server drops the body), and
//! `OPTIONS`, with the CORS preflight fields when a [`Cors`] policy is set.
//!
//! # Where handlers run
//!
//! A handler runs on the thread of the connection that sent the request, one
//! request at a time per connection, and may block (a long-poll waits in
//! there). That thread's stack is [`Config::stack_size`] (512 KiB by default):
//! a handler must keep large buffers on the heap, because a stack overflow
//! aborts the whole process and cannot be caught. A panic, by contrast, is
//! caught: the connection gets `500` and closes, and nothing else is touched.
//!
//! [`Config::stack_size`]: crate::server::Config::stack_size
//!
//! # Examples
//!
//! ```
//! use realtime_web::http::{Request, Response, Router, Handler};
//! use realtime_web::http::request::{parse, Limits, Parsed};
//!
//! let router = Router::new().get("/hello/{name}", |req: Request| {
//!     Response::text(format!("hello {}", req.param("name").unwrap_or("?")))
//! });
//! let raw = b"GET /hello/world HTTP/1.1\r\nHost: a\r\n\r\n";
//! let Ok(Parsed::Complete { value: req, .. }) = parse(raw, &Limits::default()) else { panic!() };
//! let response = router.handle(req);
//! assert_eq!(response.body_bytes(), Some(&b"hello world"[..]));
//! ```

use super::{Cors, Request, Response};
use crate::net::Socket;
use std::sync::Arc;

/// Something that answers requests: the server calls it once per request, on
/// the connection's thread.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request.
    fn handle(&self, request: Request) -> Response;

    /// [`handle`](Self::handle) for a request that is already on the heap,
    /// which is how the server passes it: a handler that hands the request
    /// on through frames of its own (as [`Router`] does) can then keep it
    /// boxed instead of copying its 200 bytes into each. The frames under a
    /// handler stay on the connection thread's stack while it waits (a
    /// long-poll, a WebSocket handshake under it), and each stack page
    /// touched is 4 KiB resident per connection. Unboxes and calls `handle`
    /// by default.
    // The box is the point: implementations pass it on without a copy.
    #[allow(clippy::boxed_local)]
    fn handle_boxed(&self, request: Box<Request>) -> Response {
        self.handle(*request)
    }

    /// The largest body this handler accepts for `request`, asked once its
    /// head is read and before any of its body is: a larger `Content-Length`
    /// is answered `413` at once, without `100 Continue` and without reading
    /// the body (RFC 9110 §10.1.1, §15.5.14), and a chunked body is cut off at
    /// the limit. `None` (the default) leaves the server's own limit,
    /// [`Limits::max_body`](super::Limits::max_body), which applies in any
    /// case.
    fn max_body_for(&self, _request: &Request) -> Option<usize> {
        None
    }

    /// What the server puts around a connection's socket before its first
    /// request: the socket itself by default (see [`Router::wrap_sockets`]).
    fn wrap_socket(&self, socket: Arc<dyn Socket>) -> Arc<dyn Socket> {
        socket
    }

    /// Called once when the server serving this handler begins to shut down,
    /// before it ends any connection (see [`Router::on_shutdown`]). Nothing by
    /// default.
    fn on_shutdown(&self) {}
}

impl<F> Handler for F
where
    F: Fn(Request) -> Response + Send + Sync + 'static,
{
    fn handle(&self, request: Request) -> Response {
        self(request)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// A route's pattern, segment by segment: `/channels/{ch}/poll` is the
/// literal `channels`, the parameter `ch`, the literal `poll`. Shared with
/// each request the route takes, whose parameters it names
/// ([`Request::param`]): matching a request allocates nothing, where a list
/// of its parameters was a block that glibc kept in the thread's cache while
/// a long-poll waited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pattern(Vec<Segment>);

impl Pattern {
    /// The segments of `pattern`.
    ///
    /// # Panics
    ///
    /// If `pattern` does not start with `/`: a bug in the program building the
    /// router, found the first time it runs.
    fn parse(pattern: &str) -> Pattern {
        let rest = pattern
            .strip_prefix('/')
            .expect("bug: a route pattern starts with '/'");
        let segments =
            rest.split('/').map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Segment::Param(name.to_owned()),
                    None => Segment::Literal(s.to_owned()),
                },
            );
        Pattern(segments.collect())
    }

    /// Whether `path` matches the pattern. Every request is tried against
    /// route after route, so this allocates nothing: each allocation a
    /// connection's thread frees stays in that thread's malloc cache (glibc's
    /// tcache), which with thousands of threads adds up to megabytes.
    fn matches(&self, path: &str) -> bool {
        let Some(rest) = path.strip_prefix('/') else {
            return false;
        };
        let mut segments = rest.split('/');
        self.0
            .iter()
            .all(|expected| match (expected, segments.next()) {
                (Segment::Literal(literal), Some(segment)) => literal == segment,
                (Segment::Param(_), Some(segment)) => !segment.is_empty(),
                (_, None) => false,
            })
            && segments.next().is_none()
    }

    /// The segment of a `path` that [`matches`](Pattern::matches) the
    /// pattern where it names the parameter `name`.
    pub(crate) fn param<'p>(&self, path: &'p str, name: &str) -> Option<&'p str> {
        let rest = path.strip_prefix('/')?;
        self.0
            .iter()
            .zip(rest.split('/'))
            .find_map(|(expected, segment)| match expected {
                Segment::Param(param) if param == name => Some(segment),
                _ => None,
            })
    }
}

struct Route {
    method: String,
    pattern: Arc<Pattern>,
    handler: Box<dyn Handler>,
    label: Option<&'static str>,
    max_body: Option<usize>,
    /// The CORS policy of the router the route came from by
    /// [`Router::merge`], if it had one; else the router's own applies.
    cors: Option<Cors>,
}

/// A table of routes; see the module docs.
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
    cors: Option<Cors>,
    on_route: Option<Arc<RouteHook>>,
    wrap_socket: Option<Arc<SocketWrapper>>,
    on_shutdown: Vec<Arc<dyn Fn() + Send + Sync>>,
}

/// What [`Router::on_route`] runs when a labelled route is chosen.
pub type RouteHook = dyn Fn(&'static str) -> Box<dyn Send> + Send + Sync;

/// What [`Router::wrap_sockets`] puts around each connection's socket.
pub type SocketWrapper = dyn Fn(Arc<dyn Socket>) -> Arc<dyn Socket> + Send + Sync;

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let routes: Vec<String> = self
            .routes
            .iter()
            .map(|r| format!("{} {:?}", r.method, r.pattern))
            .collect();
        f.debug_struct("Router")
            .field("routes", &routes)
            .field("cors", &self.cors)
            .finish()
    }
}

impl Router {
    /// An empty router: every path is `404`.
    pub fn new() -> Router {
        Router::default()
    }

    /// Adds a route. `pattern` starts with `/`; a segment `{name}` matches any
    /// non-empty segment and is read with [`Request::param`].
    ///
    /// # Panics
    ///
    /// If `pattern` does not start with `/`: that is a bug in the program
    /// building the router, found the first time it runs.
    pub fn route(
        mut self,
        method: &str,
        pattern: &str,
        handler: impl Fn(Request) -> Response + Send + Sync + 'static,
    ) -> Router {
        self.routes.push(Route {
            method: method.to_owned(),
            pattern: Arc::new(Pattern::parse(pattern)),
            handler: Box::new(handler),
            label: None,
            max_body: None,
            cors: None,
        });
        self
    }

    /// Names the route added last, for [`Router::on_route`] and for the
    /// connection's socket ([`Socket::tag`]): the showcase counts its
    /// transports under their labels (`poll`, `sse`, `ws`, …).
    pub fn label(mut self, label: &'static str) -> Router {
        if let Some(route) = self.routes.last_mut() {
            route.label = Some(label);
        }
        self
    }

    /// The routes' labels, in the order they were added.
    pub fn labels(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.routes.iter().filter_map(|route| route.label)
    }

    /// Runs `hook` each time a request takes a labelled route, before its
    /// handler, with the label. What it returns is kept until the response
    /// has been written whole (a long-poll's wait, a stream, a WebSocket
    /// included; see [`Response::hold`]), then dropped: the place to count
    /// requests and the ones in progress.
    pub fn on_route(
        mut self,
        hook: impl Fn(&'static str) -> Box<dyn Send> + Send + Sync + 'static,
    ) -> Router {
        self.on_route = Some(Arc::new(hook));
        self
    }

    /// Puts `wrap` around the socket of each connection this router serves,
    /// once, before its first request is read: a wrapper that counts or logs
    /// what passes (see [`Socket::tag`], which the router calls with each
    /// request's label).
    pub fn wrap_sockets(
        mut self,
        wrap: impl Fn(Arc<dyn Socket>) -> Arc<dyn Socket> + Send + Sync + 'static,
    ) -> Router {
        self.wrap_socket = Some(Arc::new(wrap));
        self
    }

    /// Refuses bodies over `bytes` on the route added last, before reading
    /// them (see [`Handler::max_body_for`]): `413` and close, even to a client
    /// that sent `Expect: 100-continue` and waits to be invited.
    pub fn max_body(mut self, bytes: usize) -> Router {
        if let Some(route) = self.routes.last_mut() {
            route.max_body = Some(bytes);
        }
        self
    }

    /// Adds a `GET` route (which also answers `HEAD`).
    pub fn get(
        self,
        pattern: &str,
        handler: impl Fn(Request) -> Response + Send + Sync + 'static,
    ) -> Router {
        self.route("GET", pattern, handler)
    }

    /// Adds a `POST` route.
    pub fn post(
        self,
        pattern: &str,
        handler: impl Fn(Request) -> Response + Send + Sync + 'static,
    ) -> Router {
        self.route("POST", pattern, handler)
    }

    /// Sets the CORS policy applied to every reply and preflight.
    pub fn cors(mut self, cors: Cors) -> Router {
        self.cors = Some(cors);
        self
    }

    /// Runs `hook` when the server serving this router begins to shut down,
    /// before it ends any connection: the place to close a
    /// [`Hub`](crate::hub::Hub), so that every long-poll, stream and
    /// WebSocket on it finishes at once ([`Endpoints`] does this for its hub).
    ///
    /// [`Endpoints`]: crate::endpoints::Endpoints
    pub fn on_shutdown(mut self, hook: impl Fn() + Send + Sync + 'static) -> Router {
        self.on_shutdown.push(Arc::new(hook));
        self
    }

    /// Adds every route of `other` after this router's own, with its labels,
    /// body limits, CORS policy and shutdown hooks: `other`'s routes keep
    /// `other`'s CORS policy (this router's routes keep theirs, and a route
    /// from a router without one gets none). This router's route hook and
    /// socket wrapper stay; `other`'s are taken where this one has none.
    pub fn merge(mut self, other: Router) -> Router {
        let mut routes = other.routes;
        for route in &mut routes {
            route.cors = route.cors.take().or_else(|| other.cors.clone());
        }
        self.routes.extend(routes);
        self.on_route = self.on_route.or(other.on_route);
        self.wrap_socket = self.wrap_socket.or(other.wrap_socket);
        self.on_shutdown.extend(other.on_shutdown);
        self
    }

    /// [`Router::merge`] with `prefix` (such as `/realtime`, no trailing
    /// slash) before each of `other`'s patterns: `/channels/{ch}/sse` is then
    /// served at `/realtime/channels/{ch}/sse`.
    ///
    /// # Panics
    ///
    /// If `prefix` does not start with `/` or ends with one: a bug in the
    /// program building the router, found the first time it runs.
    pub fn nest(self, prefix: &str, mut other: Router) -> Router {
        assert!(
            prefix.starts_with('/') && !prefix.ends_with('/'),
            "bug: a nesting prefix is /name, without a trailing slash"
        );
        let head = Pattern::parse(prefix);
        for route in &mut other.routes {
            let tail = route.pattern.0.iter().cloned();
            route.pattern = Arc::new(Pattern(head.0.iter().cloned().chain(tail).collect()));
        }
        self.merge(other)
    }

    /// The `Allow` value for a set of route methods: each once, `HEAD` after
    /// `GET`, and `OPTIONS` last.
    fn allow(methods: &[&str]) -> String {
        let mut allow: Vec<&str> = Vec::new();
        for &m in methods {
            if !allow.contains(&m) {
                allow.push(m);
            }
            if m == "GET" && !methods.contains(&"HEAD") && !allow.contains(&"HEAD") {
                allow.push("HEAD");
            }
        }
        if !allow.contains(&"OPTIONS") {
            allow.push("OPTIONS");
        }
        allow.join(", ")
    }

    /// Runs the route's handler; a labelled route tags the connection's
    /// socket, which the server clears once the response is written (see
    /// [`Socket::tag`]), and runs the hook, whose value the response holds.
    fn run(&self, route: &Route, request: Box<Request>) -> Response {
        let Some(label) = route.label else {
            untag(&request);
            return route.handler.handle(*request);
        };
        if let Some(socket) = request.socket() {
            socket.tag(Some(label));
        }
        let Some(hook) = &self.on_route else {
            return route.handler.handle(*request);
        };
        // Made before the handler runs: a long-poll is in progress in there.
        let held = hook(label);
        route.handler.handle(*request).hold_boxed(held)
    }

    /// The CORS policy for a reply to a request for `path` (with `method`,
    /// or any for a preflight): the matching route's own, or the router's.
    fn cors_for(&self, path: &str, method: Option<&str>) -> Option<&Cors> {
        self.routes
            .iter()
            .find(|route| {
                method.map_or(true, |m| {
                    route.method == m || (m == "HEAD" && route.method == "GET")
                }) && route.pattern.matches(path)
            })
            .and_then(|route| route.cors.as_ref())
            .or(self.cors.as_ref())
    }

    fn dispatch(&self, mut request: Box<Request>, origin: Option<&str>) -> Response {
        let method = request.method();
        let found = self.routes.iter().find(|route| {
            (route.method == method || (method == "HEAD" && route.method == "GET"))
                && route.pattern.matches(request.path())
        });
        let Some(route) = found else {
            return self.no_route(&request, origin);
        };
        request.set_route(Arc::clone(&route.pattern));
        self.run(route, request)
    }

    /// The answer to a request no route takes: 404, 405 with `Allow`, or
    /// the answer to `OPTIONS`. Apart from [`dispatch`](Self::dispatch) so
    /// that building it takes no room in the frame of every request's
    /// handler: that frame stays on the stack while a long-poll or a stream
    /// waits, and each of a waiting thread's stack pages is 4 KiB resident.
    #[cold]
    #[inline(never)]
    fn no_route(&self, request: &Request, origin: Option<&str>) -> Response {
        untag(request);
        let (path, method) = (request.path(), request.method());
        if path == "*" {
            // RFC 9112 §3.2.4: the asterisk-form is only for a server-wide OPTIONS.
            return if method == "OPTIONS" {
                let all: Vec<&str> = self.routes.iter().map(|r| r.method.as_str()).collect();
                Response::new(204).header("Allow", Router::allow(&all))
            } else {
                Response::error(400, "asterisk-form target is only for OPTIONS")
            };
        }
        let methods: Vec<&str> = self
            .routes
            .iter()
            .filter(|route| route.pattern.matches(path))
            .map(|route| route.method.as_str())
            .collect();
        if methods.is_empty() {
            return Response::error(404, "not found");
        }
        let allow = Router::allow(&methods);
        if method == "OPTIONS" {
            return match self.cors_for(path, None) {
                Some(cors) => cors.preflight(origin, &allow),
                None => Response::new(204).header("Allow", allow),
            };
        }
        Response::error(405, "method not allowed").header("Allow", allow)
    }
}

/// Tags a request's socket with no label: what it carried counts nowhere.
fn untag(request: &Request) {
    if let Some(socket) = request.socket() {
        socket.tag(None);
    }
}

impl Handler for Router {
    fn on_shutdown(&self) {
        for hook in &self.on_shutdown {
            hook();
        }
    }

    fn wrap_socket(&self, socket: Arc<dyn Socket>) -> Arc<dyn Socket> {
        match &self.wrap_socket {
            Some(wrap) => wrap(socket),
            None => socket,
        }
    }

    fn max_body_for(&self, request: &Request) -> Option<usize> {
        let method = request.method();
        self.routes
            .iter()
            .find(|route| route.method == method && route.pattern.matches(request.path()))
            .and_then(|route| route.max_body)
    }

    fn handle(&self, request: Request) -> Response {
        self.handle_boxed(Box::new(request))
    }

    fn handle_boxed(&self, request: Box<Request>) -> Response {
        let origin = request.header("origin").map(str::to_owned);
        let preflight = request.method() == "OPTIONS";
        // Chosen before the request moves into its handler, so that neither
        // its path nor its method needs copying.
        let cors = self.cors_for(request.path(), Some(request.method()));
        // Kept boxed through `dispatch` and `run` (inlined here), so that
        // this frame, which stays on the stack while a long-poll waits in the
        // route's handler, holds the 200-byte request once (the handler's
        // argument) and not three times: a long-poll's deepest path was
        // 8,448 bytes, just into a third stack page.
        let mut response = self.dispatch(request, origin.as_deref());
        if let (Some(cors), Some(origin), false) = (cors, origin.as_deref(), preflight) {
            cors.apply(origin, &mut response);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::{parse, Limits, Parsed};

    fn request(raw: &str) -> Request {
        match parse(raw.as_bytes(), &Limits::default()) {
            Ok(Parsed::Complete { value, .. }) => value,
            other => panic!("{other:?}"),
        }
    }

    fn get(path: &str) -> Request {
        request(&format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n"))
    }

    fn router() -> Router {
        Router::new()
            .get("/", |_| Response::text("root"))
            .get("/channels/{ch}/poll", |r: Request| {
                Response::text(format!("poll {}", r.param("ch").unwrap_or("")))
            })
            .post("/channels/{ch}/publish", |_| Response::text("published"))
    }

    fn body(response: &Response) -> &str {
        std::str::from_utf8(response.body_bytes().unwrap()).unwrap()
    }

    #[test]
    fn a_route_declares_its_largest_body() {
        let router = router()
            .post("/small", |_| Response::text("ok"))
            .max_body(10);
        let post = |path: &str| request(&format!("POST {path} HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert_eq!(router.max_body_for(&post("/small")), Some(10));
        assert_eq!(router.max_body_for(&post("/channels/x/publish")), None);
        assert_eq!(router.max_body_for(&get("/small")), None, "another method");
        assert_eq!(router.max_body_for(&post("/nowhere")), None);
    }

    #[test]
    fn literal_and_param_routes() {
        let router = router();
        assert_eq!(body(&router.handle(get("/"))), "root");
        assert_eq!(
            body(&router.handle(get("/channels/news/poll"))),
            "poll news"
        );
        assert_eq!(
            body(&router.handle(get("/channels/a%2Fb/poll?x=1"))),
            "poll a%2Fb"
        );
    }

    #[test]
    fn unknown_paths_are_404() {
        let router = router();
        for path in [
            "/nope",
            "/channels//poll",
            "/channels/a/poll/",
            "/channels/a/b/poll",
            "/channels",
        ] {
            let response = router.handle(get(path));
            assert_eq!(response.status(), 404, "{path}");
            assert_eq!(body(&response), r#"{"error":"not found"}"#);
        }
    }

    #[test]
    fn wrong_method_is_405_with_allow() {
        let router = router();
        let response = router.handle(get("/channels/a/publish"));
        assert_eq!(response.status(), 405);
        assert_eq!(response.header_value("allow"), Some("POST, OPTIONS"));
        let response = router.handle(request(
            "DELETE /channels/a/poll HTTP/1.1\r\nHost: a\r\n\r\n",
        ));
        assert_eq!(response.status(), 405);
        assert_eq!(response.header_value("allow"), Some("GET, HEAD, OPTIONS"));
    }

    #[test]
    fn head_uses_the_get_route() {
        let response = router().handle(request("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert_eq!(body(&response), "root");
    }

    #[test]
    fn options_without_cors() {
        let response = router().handle(request(
            "OPTIONS /channels/a/poll HTTP/1.1\r\nHost: a\r\n\r\n",
        ));
        assert_eq!(response.status(), 204);
        assert_eq!(response.header_value("allow"), Some("GET, HEAD, OPTIONS"));
        let star = router().handle(request("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert_eq!(star.status(), 204);
        assert_eq!(star.header_value("allow"), Some("GET, HEAD, POST, OPTIONS"));
        let bad = router().handle(request("GET * HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert_eq!(bad.status(), 400);
    }

    #[test]
    fn cors_preflight_and_actual_requests() {
        let router = router().cors(Cors::allow_list(["https://app.example"]));
        let preflight = router.handle(request(
            "OPTIONS /channels/a/publish HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: POST\r\n\r\n",
        ));
        assert_eq!(preflight.status(), 204);
        assert_eq!(
            preflight.header_value("access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(
            preflight.header_value("access-control-allow-methods"),
            Some("POST, OPTIONS")
        );
        let actual = router.handle(request(
            "GET / HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example\r\n\r\n",
        ));
        assert_eq!(
            actual.header_value("access-control-allow-origin"),
            Some("https://app.example")
        );
        let other = router.handle(request(
            "GET / HTTP/1.1\r\nHost: a\r\nOrigin: https://evil.example\r\n\r\n",
        ));
        assert_eq!(other.header_value("access-control-allow-origin"), None);
        let no_origin = router.handle(get("/"));
        assert_eq!(no_origin.header_value("access-control-allow-origin"), None);
    }

    /// A merged router's routes keep its CORS policy; the routes it joins
    /// do not get it.
    #[test]
    fn merged_routes_keep_their_own_cors() {
        let inner = Router::new()
            .get("/live/{x}", |_| Response::text("live"))
            .cors(Cors::allow_any());
        let router = Router::new()
            .get("/private", |_| Response::text("mine"))
            .merge(inner);
        let with_origin = |path: &str| {
            request(&format!(
                "GET {path} HTTP/1.1\r\nHost: a\r\nOrigin: http://page.example\r\n\r\n"
            ))
        };
        let live = router.handle(with_origin("/live/1"));
        assert_eq!(live.header_value("access-control-allow-origin"), Some("*"));
        let private = router.handle(with_origin("/private"));
        assert_eq!(private.header_value("access-control-allow-origin"), None);
        let preflight = router.handle(request(
            "OPTIONS /live/1 HTTP/1.1\r\nHost: a\r\nOrigin: http://page.example\r\nAccess-Control-Request-Method: GET\r\n\r\n",
        ));
        assert_eq!(
            preflight.header_value("access-control-allow-origin"),
            Some("*")
        );
    }
}
