//! The showcase binary's routes, exactly as `docs/PROTOCOL.md` lists them,
//! its command line, and the counters behind `GET /stats` ([`stats`]).
//!
//! [`router`] wires the transports to one hub; `src/main.rs` only parses the
//! command line with [`parse_args`] and serves the router. Tests and examples
//! build the same router in-process.

pub mod stats;

use crate::endpoints::Endpoints;
use crate::http::{Cors, Request, Response, Router};
use crate::hub::{Hub, HubConfig};
use crate::server::Config;
#[cfg(feature = "websocket")]
use crate::transport;
use crate::transport::StreamConfig;
use stats::{Counted, Stats};
use std::sync::Arc;
use std::time::Duration;

/// The page served at `GET /`.
pub const INDEX_HTML: &str = include_str!("index.html");

/// The fallback client served at `GET /client.js`.
pub const CLIENT_JS: &str = include_str!("client.js");

/// The default listen address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// What the command line configures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Where to listen (`--addr`).
    pub addr: String,
    /// The CORS and WebSocket origin allow-list (`--allow-origin`, repeatable).
    /// Empty means any origin.
    pub allow_origins: Vec<String>,
    /// Messages retained per channel (`--window`).
    pub window: usize,
    /// Heartbeat and SSE retry of the streaming transports (`--heartbeat`).
    pub stream: StreamConfig,
    /// Where to serve the plain TCP line protocol (`--tcp-addr`; needs the
    /// `tcp` feature).
    pub tcp_addr: Option<String>,
    /// The server's connection limit (`--max-connections`), if not the
    /// default.
    pub max_connections: Option<usize>,
    /// The server's thread limit (`--max-threads`), if not the default.
    pub max_threads: Option<usize>,
    /// Redis servers shared with the other nodes (`--redis`, repeatable;
    /// needs the `redis` feature).
    #[cfg(feature = "redis")]
    pub redis: Vec<crate::redis::Url>,
    /// WebSocket limits and timeouts (`/echo` takes messages up to 16 MiB;
    /// channel subscriptions are held to the hub's message limit).
    #[cfg(feature = "websocket")]
    pub websocket: transport::websocket::WsConfig,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            addr: DEFAULT_ADDR.to_owned(),
            allow_origins: Vec::new(),
            window: HubConfig::default().window,
            stream: StreamConfig::default(),
            tcp_addr: None,
            max_connections: None,
            max_threads: None,
            #[cfg(feature = "redis")]
            redis: Vec::new(),
            #[cfg(feature = "websocket")]
            websocket: transport::websocket::WsConfig::default(),
        }
    }
}

impl Options {
    /// The CORS policy: the listed origins, or any origin if none was given.
    pub fn cors(&self) -> Cors {
        if self.allow_origins.is_empty() {
            Cors::allow_any()
        } else {
            Cors::allow_list(self.allow_origins.iter().cloned())
        }
    }

    /// The server's limits: the defaults with `--max-connections` and
    /// `--max-threads` applied.
    pub fn server_config(&self) -> Config {
        let defaults = Config::default();
        Config {
            max_connections: self.max_connections.unwrap_or(defaults.max_connections),
            max_threads: self.max_threads.unwrap_or(defaults.max_threads),
            ..defaults
        }
    }

    /// The hub limits: the defaults with `--window` (and `--redis`) applied.
    pub fn hub_config(&self) -> HubConfig {
        HubConfig {
            window: self.window,
            #[cfg(feature = "redis")]
            redis: self.redis.clone(),
            ..HubConfig::default()
        }
    }
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Serve with these options (boxed: they are large, and `Help` is not).
    Serve(Box<Options>),
    /// Print the usage text and exit.
    Help,
}

/// The largest `--max-connections` and `--max-threads`: far above what one
/// process can hold (file descriptors, memory mappings), so only a typo is
/// refused.
const MAX_LIMIT: usize = 1_000_000;

/// The `--help` text.
pub const USAGE: &str = "\
realtime-web: every way a server can push to a browser, side by side.

Usage: realtime-web [--addr HOST:PORT] [--allow-origin ORIGIN]... [--window N]
                    [--heartbeat SECONDS] [--tcp-addr HOST:PORT]
                    [--max-connections N] [--max-threads N]
                    [--redis redis://[:PASSWORD@]HOST:PORT[/DB]]...

Options:
  --addr HOST:PORT       where to listen (default 127.0.0.1:8080)
  --allow-origin ORIGIN  allow this origin for CORS and WebSocket; repeatable;
                         '*' allows any (the default when the flag is absent)
  --window N             messages each channel retains for replay (default 1024)
  --heartbeat SECONDS    silence before a stream sends a heartbeat (default 15)
  --tcp-addr HOST:PORT   also serve the plain TCP line protocol there
                         (built with --features tcp)
  --max-connections N    connections open at once; past it, 503 (default 10000)
  --max-threads N        threads for connections and their helpers; past it,
                         503 (default 12000; each costs four of the process's
                         memory mappings, of which Linux allows 65530)
  --redis URL            share every channel with the other nodes through this
                         Redis; repeatable, to spread channels over several
                         (built with --features redis)
  --help                 print this text
";

/// Parses the arguments after the program name.
///
/// # Errors
///
/// One line saying what is wrong, for the binary to print before exiting 1.
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
    let mut options = Options::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value (see --help)"))
        };
        match flag.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--addr" => options.addr = value("--addr")?,
            "--allow-origin" => options.allow_origins.push(value("--allow-origin")?),
            "--window" => {
                let raw = value("--window")?;
                options.window = match raw.parse::<usize>() {
                    Ok(n) if n >= 1 => n,
                    _ => {
                        return Err(format!(
                            "--window takes a whole number of at least 1, not '{raw}'"
                        ))
                    }
                };
            }
            "--heartbeat" => {
                let raw = value("--heartbeat")?;
                options.stream.heartbeat = match raw.parse::<u64>() {
                    Ok(n) if (1..=3600).contains(&n) => Duration::from_secs(n),
                    _ => {
                        return Err(format!(
                            "--heartbeat takes whole seconds from 1 to 3600, not '{raw}'"
                        ))
                    }
                };
            }
            "--max-connections" | "--max-threads" => {
                let raw = value(&flag)?;
                let n = match raw.parse::<usize>() {
                    Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                    _ => {
                        return Err(format!(
                            "{flag} takes a whole number from 1 to {MAX_LIMIT}, not '{raw}'"
                        ))
                    }
                };
                match flag.as_str() {
                    "--max-connections" => options.max_connections = Some(n),
                    _ => options.max_threads = Some(n),
                }
            }
            "--tcp-addr" if cfg!(feature = "tcp") => options.tcp_addr = Some(value("--tcp-addr")?),
            "--tcp-addr" => return Err("--tcp-addr needs a build with --features tcp".to_owned()),
            #[cfg(feature = "redis")]
            "--redis" => options.redis.push(
                crate::redis::Url::parse(&value("--redis")?)
                    .map_err(|e| format!("--redis: {e}"))?,
            ),
            #[cfg(not(feature = "redis"))]
            "--redis" => return Err("--redis needs a build with --features redis".to_owned()),
            _ => return Err(format!("unknown argument '{arg}' (see --help)")),
        }
    }
    Ok(Command::Serve(Box::new(options)))
}

/// The contract's routes over `hub`: every channel endpoint
/// ([`Endpoints`]), open to anyone to subscribe and publish, beside the page,
/// `/client.js`, `/health`, `/echo` and `/stats`, where each transport is
/// counted under its name.
pub fn router(hub: Arc<Hub>, options: &Options) -> Router {
    let stats = Arc::new(Stats::new());
    let counted = Arc::clone(&stats);
    let channels = Endpoints::new(hub)
        .http_publish(true)
        .subscribers_publish(true)
        .cors(options.cors())
        .stream_config(options.stream);
    #[cfg(feature = "websocket")]
    let channels = channels.websocket_config(options.websocket.clone());
    let router = Router::new()
        .get("/", |_: Request| {
            page(INDEX_HTML, "text/html; charset=utf-8")
        })
        .get("/client.js", |_: Request| {
            page(CLIENT_JS, "application/javascript; charset=utf-8")
        })
        .get("/health", |_: Request| Response::text("ok"))
        .get("/stats", move |_: Request| {
            Response::json(200, counted.to_json()).header("Cache-Control", "no-store")
        });
    #[cfg(feature = "websocket")]
    let router = router
        .get(
            "/echo",
            transport::websocket::echo_handler(options.cors(), options.websocket.clone()),
        )
        .label("echo");
    let router = router.merge(channels.router());
    for label in router.labels() {
        stats.list(label); // every transport listed from the start, at zero
    }
    let started = Arc::clone(&stats);
    router
        .cors(options.cors())
        .on_route(move |label| Box::new(started.start(label)))
        .wrap_sockets(move |socket| Arc::new(Counted::new(socket, Arc::clone(&stats))))
}

/// Only the page and its client script, for serving them from another origin
/// than the channels (open `/?api=http://channels.example` then): the setup
/// the transports' cross-origin mechanisms exist for — CORS, `<script>` tags,
/// `postMessage`, and the WebSocket `Origin` check.
pub fn page_router() -> Router {
    Router::new()
        .get("/", |_: Request| {
            page(INDEX_HTML, "text/html; charset=utf-8")
        })
        .get("/client.js", |_: Request| {
            page(CLIENT_JS, "application/javascript; charset=utf-8")
        })
}

/// A page or script of the showcase: fixed text, cacheable for a minute.
fn page(body: &'static str, content_type: &'static str) -> Response {
    Response::new(200)
        .header("Content-Type", content_type)
        .header("Cache-Control", "max-age=60")
        .body(body.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults() {
        assert_eq!(parse(&[]), Ok(Command::Serve(Box::default())));
        assert_eq!(Options::default().addr, "127.0.0.1:8080");
    }

    #[test]
    fn every_flag() {
        let Ok(Command::Serve(options)) = parse(&[
            "--addr",
            "0.0.0.0:9000",
            "--allow-origin",
            "https://a.example",
            "--allow-origin=https://b.example",
            "--window=16",
            "--heartbeat",
            "5",
            "--max-connections=16000",
            "--max-threads",
            "16500",
        ]) else {
            panic!("valid flags");
        };
        assert_eq!(options.addr, "0.0.0.0:9000");
        assert_eq!(
            options.allow_origins,
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(options.window, 16);
        assert_eq!(options.stream.heartbeat, Duration::from_secs(5));
        let config = options.server_config();
        assert_eq!(
            (config.max_connections, config.max_threads),
            (16_000, 16_500)
        );
        assert!(!options.cors().allows("https://c.example"));
        assert!(options.cors().allows("https://b.example"));
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
    }

    #[test]
    fn bad_flags_are_one_line() {
        for args in [
            &["--nope"][..],
            &["--addr"],
            &["--window", "0"],
            &["--window", "x"],
            &["--heartbeat", "0"],
            &["--heartbeat", "soon"],
            &["--max-connections", "0"],
            &["--max-threads", "many"],
            &["--max-threads", "1000001"],
            &["serve"],
        ] {
            let error = parse(args).unwrap_err();
            assert!(!error.contains('\n'), "{error}");
            assert!(!error.is_empty());
        }
    }
}
