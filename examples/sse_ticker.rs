//! Server-Sent Events: a ticker with named events, read by `EventSource`.
//!
//! ```sh
//! cargo run --example sse_ticker         # then open http://127.0.0.1:8086/
//! ```
//!
//! A thread publishes a `tick` event with a random-walk price every half second
//! and, now and then, an `alert`. The page listens to both names with
//! `addEventListener`. Stop the server and start it again: `EventSource`
//! reconnects by itself after the stream's `retry:` delay and sends
//! `Last-Event-ID`, and the page resumes without losing a tick (or is told of a
//! gap, if the server lost its history).

use realtime_web::transport::{sse, StreamConfig};
use realtime_web::{Config, Hub, HubConfig, Request, Response, Router, Server};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>Server-Sent Events</title>
<h1>Server-Sent Events</h1>
<p>Price: <b id="price">–</b> · state: <b id="state">connecting</b> · last id: <b id="id">–</b></p>
<pre id="log"></pre>
<script>
  const log = document.getElementById('log');
  const show = (text) => { log.textContent = text + '\n' + log.textContent; };
  const source = new EventSource('/channels/ticker/sse');
  source.onopen = () => { document.getElementById('state').textContent = 'open'; };
  source.onerror = () => { document.getElementById('state').textContent = 'reconnecting'; };
  source.addEventListener('tick', (e) => {
    document.getElementById('price').textContent = e.data;
    document.getElementById('id').textContent = e.lastEventId;
  });
  source.addEventListener('alert', (e) => show(`#${e.lastEventId} alert: ${e.data}`));
  source.addEventListener('gap', (e) => show(`gap: the replay starts at #${JSON.parse(e.data).oldest}`));
</script>
"#;

/// A small pseudo-random walk (xorshift), seeded from the clock: no dependency.
struct Walk(u64);

impl Walk {
    fn step(&mut self) -> i64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 21) as i64 - 10
    }
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8086".to_owned());
    let hub = Arc::new(Hub::new(HubConfig::default()));

    let ticker = hub.channel("ticker").expect("a valid channel name");
    std::thread::spawn(move || {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1;
        let (mut walk, mut cents, mut n) = (Walk(seed), 10_000i64, 0u64);
        loop {
            cents = (cents + walk.step()).max(1);
            let price = format!("{}.{:02}", cents / 100, cents % 100);
            if ticker.publish("tick", &price).is_err() {
                return; // the hub closed
            }
            n += 1;
            if n % 20 == 0 {
                let _ = ticker.publish("alert", &format!("{n} ticks, price {price}"));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    });

    let router = Router::new()
        .get("/", |_: Request| Response::html(PAGE))
        .get(
            "/channels/{ch}/sse",
            sse::handler(Arc::clone(&hub), StreamConfig::default()),
        );
    let server = Server::bind(addr.as_str(), Config::default()).unwrap_or_else(|error| {
        eprintln!("sse_ticker example: cannot listen on {addr}: {error}");
        std::process::exit(1);
    });
    let closing = Arc::clone(&hub);
    server.on_shutdown(move || closing.close());
    println!("SSE ticker on http://{}/", server.local_addr());
    if let Err(error) = server.serve(router) {
        eprintln!("sse_ticker example: {error}");
    }
}
