//! Ajax long-polling: the classic loop of request, handle, request again.
//!
//! ```sh
//! cargo run --example long_polling            # then open http://127.0.0.1:8082/
//! cargo run --example long_polling -- 127.0.0.1:9000
//! ```
//!
//! The page asks `/channels/demo/long-poll?since=N`; the server holds the request
//! on a `Condvar` until a message is published (type one in the form, or open the
//! page twice) or 25 s pass, and the page asks again at once with the `next` it
//! got. In the network tab: one pending request at all times, and one completed
//! request per delivery instead of one per polling interval.

use realtime_web::transport::{long_poll, publish};
use realtime_web::{Config, Hub, HubConfig, Request, Response, Router, Server};
use std::sync::Arc;

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>Ajax long-polling</title>
<h1>Ajax long-polling</h1>
<form id="form"><input id="text" value="hello" aria-label="message"> <button>Publish</button></form>
<p>Rounds: <b id="rounds">0</b> (timeouts: <b id="timeouts">0</b>)</p>
<pre id="log"></pre>
<script>
  let cursor = 0, rounds = 0, timeouts = 0;
  const log = document.getElementById('log');
  async function loop() {
    for (;;) {
      try {
        const reply = await fetch(`/channels/demo/long-poll?since=${cursor}&timeout=25000`);
        const batch = await reply.json();
        rounds++;
        if (batch.messages.length === 0) timeouts++;
        if (batch.gap) log.textContent = '(gap: some messages were evicted)\n' + log.textContent;
        for (const m of batch.messages) log.textContent = `#${m.id} ${m.data}\n` + log.textContent;
        cursor = batch.next;
        document.getElementById('rounds').textContent = rounds;
        document.getElementById('timeouts').textContent = timeouts;
      } catch (e) {
        await new Promise(r => setTimeout(r, 1000)); // server gone: back off, then resume from the cursor
      }
    }
  }
  document.getElementById('form').addEventListener('submit', e => {
    e.preventDefault();
    fetch('/channels/demo/publish', { method: 'POST', body: document.getElementById('text').value });
  });
  loop();
</script>
"#;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8082".to_owned());
    let hub = Arc::new(Hub::new(HubConfig::default()));
    let router = Router::new()
        .get("/", |_: Request| Response::html(PAGE))
        .post("/channels/{ch}/publish", publish::handler(Arc::clone(&hub)))
        .get(
            "/channels/{ch}/long-poll",
            long_poll::handler(Arc::clone(&hub)),
        );
    let server = match Server::bind(addr.as_str(), Config::default()) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("long_polling example: cannot listen on {addr}: {error}");
            std::process::exit(1);
        }
    };
    let closing = Arc::clone(&hub);
    server.on_shutdown(move || closing.close());
    println!("long-polling example on http://{}/", server.local_addr());
    if let Err(error) = server.serve(router) {
        eprintln!("long_polling example: {error}");
        std::process::exit(1);
    }
}
