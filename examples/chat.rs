//! A browser chat over `/channels/{ch}/ws`: every text message a client sends is
//! published to the channel, and every subscriber — the sender too — receives it
//! as the channel's message JSON.
//!
//! ```sh
//! cargo run --example chat               # then open http://127.0.0.1:8090/ in two tabs
//! ```
//!
//! The page remembers the last id it saw and reconnects with `?since=` it after
//! a drop, so a tab that lost its connection for a moment catches up on what it
//! missed (or is told of a gap if the room's history moved on). Messages
//! published over plain HTTP reach the room too:
//! `curl -d 'hello from curl' http://127.0.0.1:8090/channels/lobby/publish`.

use realtime_web::http::Cors;
use realtime_web::transport::websocket::WsConfig;
use realtime_web::transport::{publish, websocket};
use realtime_web::{Config, Hub, HubConfig, Request, Response, Router, Server};
use std::sync::Arc;

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>Chat</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }
  #log { height: 20rem; overflow-y: auto; border: 1px solid #ccc; padding: .5rem; white-space: pre-wrap; }
  form { display: flex; gap: .5rem; margin-top: .5rem; } #text { flex: 1; }
</style>
<h1>Chat in <code>lobby</code></h1>
<div id="log" aria-live="polite"></div>
<form id="form">
  <input id="name" size="8" aria-label="name">
  <input id="text" aria-label="message" autocomplete="off">
  <button>Send</button>
</form>
<p>State: <b id="state">connecting</b></p>
<script>
  const log = document.getElementById('log');
  const show = (text) => { log.textContent += text + '\n'; log.scrollTop = log.scrollHeight; };
  document.getElementById('name').value = 'guest' + Math.floor(Math.random() * 1000);
  let lastId = null, socket = null;

  function open() {
    const since = lastId === null ? '' : `?since=${lastId}`;
    socket = new WebSocket(`ws://${location.host}/channels/lobby/ws${since}`);
    socket.onopen = () => { document.getElementById('state').textContent = 'connected'; };
    socket.onmessage = (e) => {
      const item = JSON.parse(e.data);
      if (item.gap) { show(`(missed messages before #${item.oldest})`); return; }
      lastId = item.id;
      show(item.data);
    };
    socket.onclose = () => {
      document.getElementById('state').textContent = 'reconnecting';
      setTimeout(open, 1000);
    };
  }
  document.getElementById('form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = document.getElementById('text');
    if (text.value && socket.readyState === WebSocket.OPEN) {
      socket.send(`${document.getElementById('name').value}: ${text.value}`);
      text.value = '';
    }
  });
  open();
</script>
"#;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".to_owned());
    let hub = Arc::new(Hub::new(HubConfig::default()));
    let cors = Cors::allow_list([format!("http://{addr}")]);
    let router = Router::new()
        .get("/", |_: Request| Response::html(PAGE))
        .post("/channels/{ch}/publish", publish::handler(Arc::clone(&hub)))
        .get(
            "/channels/{ch}/ws",
            websocket::channel_handler(
                Arc::clone(&hub),
                cors,
                WsConfig::default(),
                realtime_web::transport::access::Access::open(),
            ),
        );
    let server = Server::bind(addr.as_str(), Config::default()).unwrap_or_else(|error| {
        eprintln!("chat example: cannot listen on {addr}: {error}");
        std::process::exit(1);
    });
    let closing = Arc::clone(&hub);
    server.on_shutdown(move || closing.close());
    println!("chat example on http://{}/", server.local_addr());
    if let Err(error) = server.serve(router) {
        eprintln!("chat example: {error}");
    }
}
