//! The smallest embedding: Ajax polling of a clock.
//!
//! ```sh
//! cargo run --example polling            # then open http://127.0.0.1:8081/
//! cargo run --example polling -- 127.0.0.1:9000
//! ```
//!
//! One hub, one thread publishing the time every second, the poll endpoint, and a
//! page whose script asks "anything after my cursor?" every second with
//! `setInterval`. Watch the network tab: one request a second, whether or not
//! the clock ticked in between, each carrying a full set of headers — the cost
//! that long-polling, streaming, SSE and WebSocket remove.

use realtime_web::http::response::http_date;
use realtime_web::transport::polling;
use realtime_web::{Config, Hub, HubConfig, Request, Response, Router, Server};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>Ajax polling</title>
<h1>Ajax polling</h1>
<p>Polls <code>/channels/clock/poll</code> every second.
Requests: <b id="requests">0</b>, empty replies: <b id="empty">0</b>.</p>
<pre id="log"></pre>
<script>
  var cursor = 0, requests = 0, empty = 0;
  var log = document.getElementById('log');
  setInterval(function () {
    requests++;
    fetch('/channels/clock/poll?since=' + cursor)
      .then(function (reply) { return reply.json(); })
      .then(function (batch) {
        if (batch.messages.length === 0) empty++;
        batch.messages.forEach(function (m) { log.textContent = '#' + m.id + ' ' + m.data + '\n' + log.textContent; });
        cursor = batch.next;
        document.getElementById('requests').textContent = requests;
        document.getElementById('empty').textContent = empty;
      });
  }, 1000);
</script>
"#;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8081".to_owned());
    let hub = Arc::new(Hub::new(HubConfig::default()));

    let clock = hub.channel("clock").expect("a valid channel name");
    std::thread::spawn(move || {
        // Ends when the hub closes (publish fails) — or with the process.
        while clock
            .publish("message", &http_date(SystemTime::now()))
            .is_ok()
        {
            std::thread::sleep(Duration::from_secs(1));
        }
    });

    let router = Router::new()
        .get("/", |_: Request| Response::html(PAGE))
        .get("/channels/{ch}/poll", polling::handler(Arc::clone(&hub)));
    let server = match Server::bind(addr.as_str(), Config::default()) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("polling example: cannot listen on {addr}: {error}");
            std::process::exit(1);
        }
    };
    println!("polling example on http://{}/", server.local_addr());
    if let Err(error) = server.serve(router) {
        eprintln!("polling example: {error}");
        std::process::exit(1);
    }
}
