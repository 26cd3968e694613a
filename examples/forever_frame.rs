//! The hidden-iframe forever frame: a document that never finishes loading, with
//! one `<script>` per message.
//!
//! ```sh
//! cargo run --example forever_frame      # then open http://127.0.0.1:8088/
//! ```
//!
//! The page holds a hidden `<iframe src="/channels/demo/iframe">`. Each message
//! arrives as `<script>parent.postMessage(MSG,"*")</script>` inside the frame's
//! endless document, and the page receives it as a `message` event — checking
//! `event.origin`, as every `postMessage` receiver should. When the frame's load
//! ends (the server stopped), the page reloads it with `?since=` its last id.

use realtime_web::transport::{iframe, publish, StreamConfig};
use realtime_web::{Config, Hub, HubConfig, Request, Response, Router, Server};
use std::sync::Arc;

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>Forever frame</title>
<h1>Hidden-iframe forever frame</h1>
<form id="form"><input id="text" value="hello" aria-label="message"> <button>Publish</button></form>
<pre id="log"></pre>
<iframe id="frame" hidden title="push channel"></iframe>
<script>
  let lastId = null;
  const log = document.getElementById('log');
  const show = (text) => { log.textContent = text + '\n' + log.textContent; };
  const frame = document.getElementById('frame');
  window.addEventListener('message', (event) => {
    if (event.origin !== location.origin || event.source !== frame.contentWindow) return;
    const item = event.data;
    if (item.gap) { show(`gap: the replay starts at #${item.oldest}`); return; }
    lastId = item.id;
    show(`#${item.id} ${item.data}`);
  });
  // The frame's document only ends when the server ends it: then open it again.
  frame.addEventListener('load', () => setTimeout(open, 1000));
  function open() { frame.src = '/channels/demo/iframe' + (lastId === null ? '' : `?since=${lastId}`); }
  document.getElementById('form').addEventListener('submit', e => {
    e.preventDefault();
    fetch('/channels/demo/publish', { method: 'POST', body: document.getElementById('text').value });
  });
  open();
</script>
"#;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8088".to_owned());
    let hub = Arc::new(Hub::new(HubConfig::default()));
    let router = Router::new()
        .get("/", |_: Request| Response::html(PAGE))
        .post("/channels/{ch}/publish", publish::handler(Arc::clone(&hub)))
        .get(
            "/channels/{ch}/iframe",
            iframe::handler(Arc::clone(&hub), StreamConfig::default()),
        );
    let server = Server::bind(addr.as_str(), Config::default()).unwrap_or_else(|error| {
        eprintln!("forever_frame example: cannot listen on {addr}: {error}");
        std::process::exit(1);
    });
    let closing = Arc::clone(&hub);
    server.on_shutdown(move || closing.close());
    println!("forever frame example on http://{}/", server.local_addr());
    if let Err(error) = server.serve(router) {
        eprintln!("forever_frame example: {error}");
    }
}
