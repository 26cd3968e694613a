//! The crate inside a program of your own: a sensor service that publishes
//! readings from Rust, serves them over every transport to clients with a
//! token, answers an API route, and takes commands over a WebSocket.
//!
//! ```sh
//! cargo run --release --example embed -- --addr 127.0.0.1:8090 --seconds 30
//! curl -N 'http://127.0.0.1:8090/channels/sensors/sse?token=secret'
//! curl -H 'Authorization: Bearer secret' http://127.0.0.1:8090/channels/sensors/poll
//! curl http://127.0.0.1:8090/api/temperature
//! ```
//!
//! - Every second a reading goes to channel `sensors` as event `reading`, as
//!   JSON (`{"celsius":20.1,"at":1732890000}`): subscribers get a value, not
//!   a string to parse again.
//! - `GET /api/temperature`: the latest reading.
//! - Subscribing to any channel, over any transport, needs `?token=secret` or
//!   `Authorization: Bearer secret`; without it, `401` with a JSON error (and
//!   the CORS fields, so a page on another origin can read it). Nothing
//!   publishes over HTTP: only this program does.
//! - `GET /cmd`: a WebSocket that answers each command to its own client
//!   (`ping` → `pong`), never to anyone else.
//! - With `--seconds N` it shuts down after N seconds, and exits 0 once every
//!   thread has ended.

use realtime_web::transport::websocket::{self, Message, WsConfig};
use realtime_web::{
    Asking, Config, Cors, Endpoints, Hub, HubConfig, Request, Response, Router, Server,
};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const TOKEN: &str = "secret";

fn main() -> ExitCode {
    let (addr, seconds) = match arguments() {
        Ok(arguments) => arguments,
        Err(message) => {
            eprintln!("embed: {message}");
            return ExitCode::FAILURE;
        }
    };
    let hub = Arc::new(Hub::new(HubConfig::default()));
    let latest = Arc::new(Mutex::new(None::<String>));

    let channels = Endpoints::new(Arc::clone(&hub)).access(require_token);
    let api_latest = Arc::clone(&latest);
    let router = Router::new()
        .get("/api/temperature", move |_: Request| {
            match api_latest.lock().unwrap_or_else(|e| e.into_inner()).clone() {
                Some(reading) => Response::json(200, reading),
                None => Response::error(503, "no reading yet"),
            }
        })
        .get("/cmd", commands)
        .merge(channels.router()); // also closes the hub when the server stops

    let server = match Server::bind(addr.as_str(), Config::default()) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("embed: cannot listen on {addr}: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("embed listening on http://{}/", server.local_addr());
    let sensor = std::thread::spawn(move || publish_readings(&hub, &latest));
    if let Some(seconds) = seconds {
        let stop = server.shutdown_handle();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(seconds));
            stop.shutdown();
        });
    }
    let stopped = match server.serve(router) {
        Ok(stopped) => stopped,
        Err(error) => {
            eprintln!("embed: {error}");
            return ExitCode::FAILURE;
        }
    };
    let _ = sensor.join(); // ends when the hub closes
    println!(
        "embed stopped: {} connections cut off, {} threads left",
        stopped.cut, stopped.threads_left
    );
    if stopped.threads_left == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The access rule: a token in the query or the `Authorization` header.
fn require_token(asking: &Asking<'_>) -> Result<(), Response> {
    let request = asking.request;
    let query = request.and_then(|r| r.query("token"));
    let header = request.and_then(|r| r.header("authorization"));
    let bearer = header.and_then(|h| h.strip_prefix("Bearer "));
    if query.as_deref() == Some(TOKEN) || bearer == Some(TOKEN) {
        Ok(())
    } else {
        Err(Response::error(401, "a token is required").header("WWW-Authenticate", "Bearer"))
    }
}

/// One reading a second until the hub closes (the server is stopping).
fn publish_readings(hub: &Hub, latest: &Mutex<Option<String>>) {
    let Ok(sensors) = hub.channel("sensors") else {
        return;
    };
    for step in 0u64.. {
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let celsius = 20.0 + (step % 10) as f64 / 10.0;
        let reading = format!("{{\"celsius\":{celsius:.1},\"at\":{at}}}");
        if sensors.publish_json("reading", &reading).is_err() {
            return; // closed
        }
        *latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(reading);
        if sensors
            .wait_after(
                sensors.last_id(),
                std::time::Instant::now() + Duration::from_secs(1),
            )
            .closed
        {
            return;
        }
    }
}

/// `GET /cmd`: a WebSocket whose commands are answered to their sender only.
fn commands(request: Request) -> Response {
    websocket::accept(
        &request,
        &Cors::allow_any(),
        &WsConfig::default(),
        |mut ws, _| {
            while let Ok(Message::Text(command)) = ws.read() {
                let answer = match command.trim() {
                    "ping" => "pong".to_owned(),
                    other => format!("error: unknown command {other:?}"),
                };
                if ws.send_text(&answer).is_err() {
                    return;
                }
            }
        },
    )
}

/// `--addr HOST:PORT` (default 127.0.0.1:8090) and `--seconds N`.
fn arguments() -> Result<(String, Option<u64>), String> {
    let mut addr = "127.0.0.1:8090".to_owned();
    let mut seconds = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().ok_or("--addr needs HOST:PORT")?,
            "--seconds" => {
                let value = args.next().ok_or("--seconds needs a number")?;
                seconds = Some(
                    value
                        .parse()
                        .map_err(|_| format!("--seconds: not a number: {value}"))?,
                );
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok((addr, seconds))
}
