//! WebSocket echo: the server half of RFC 6455 in its simplest use.
//!
//! ```sh
//! cargo run --example websocket_echo     # then open http://127.0.0.1:8089/
//! ```
//!
//! `/echo` sends every message back unchanged (only to pages from the address the
//! server prints: the `Origin` check refuses other origins with `403`). The page opens a `WebSocket`,
//! sends what you type, and shows the round-trip time of each message: after the
//! one handshake, a message costs its own bytes plus 2 to 14 bytes of framing
//! (6 more from the browser, whose frames are masked).

use realtime_web::http::Cors;
use realtime_web::transport::websocket::{echo_handler, WsConfig};
use realtime_web::{Config, Request, Response, Router, Server};

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>WebSocket echo</title>
<h1>WebSocket echo</h1>
<p>State: <b id="state">connecting</b></p>
<form id="form"><input id="text" value="hello" aria-label="message"> <button>Send</button></form>
<pre id="log"></pre>
<script>
  const log = document.getElementById('log');
  const show = (text) => { log.textContent = text + '\n' + log.textContent; };
  const socket = new WebSocket(`ws://${location.host}/echo`);
  const sent = [];
  socket.onopen = () => { document.getElementById('state').textContent = 'open'; };
  socket.onclose = (e) => { document.getElementById('state').textContent = `closed (${e.code})`; };
  socket.onmessage = (e) => {
    const started = sent.shift();
    show(`echo: ${e.data} (${(performance.now() - started).toFixed(2)} ms)`);
  };
  document.getElementById('form').addEventListener('submit', (e) => {
    e.preventDefault();
    sent.push(performance.now());
    socket.send(document.getElementById('text').value);
  });
</script>
"#;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8089".to_owned());
    let router = Router::new()
        .get("/", |_: Request| Response::html(PAGE))
        // Same-origin only: a page elsewhere cannot open this socket.
        .get(
            "/echo",
            echo_handler(
                Cors::allow_list([format!("http://{addr}")]),
                WsConfig::default(),
            ),
        );
    let server = Server::bind(addr.as_str(), Config::default()).unwrap_or_else(|error| {
        eprintln!("websocket_echo example: cannot listen on {addr}: {error}");
        std::process::exit(1);
    });
    println!("WebSocket echo example on http://{}/", server.local_addr());
    if let Err(error) = server.serve(router) {
        eprintln!("websocket_echo example: {error}");
    }
}
