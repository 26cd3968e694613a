//! XHR streaming: one response that never ends, read chunk by chunk with `fetch`.
//!
//! ```sh
//! cargo run --example xhr_streaming      # then open http://127.0.0.1:8087/
//! ```
//!
//! The page opens `/channels/demo/stream` once and reads its body with a
//! `ReadableStream` reader as it arrives, splitting it into lines of JSON; empty
//! lines are heartbeats. If the stream breaks, it reconnects with `?since=` its
//! last id, so nothing is lost or repeated (a `{"gap":true,…}` line says when the
//! server no longer had the messages).

use realtime_web::transport::{publish, stream, StreamConfig};
use realtime_web::{Config, Hub, HubConfig, Request, Response, Router, Server};
use std::sync::Arc;

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>XHR streaming</title>
<h1>XHR streaming</h1>
<form id="form"><input id="text" value="hello" aria-label="message"> <button>Publish</button></form>
<p>Chunks read: <b id="chunks">0</b> · heartbeats: <b id="beats">0</b></p>
<pre id="log"></pre>
<script>
  let lastId = null, chunks = 0, beats = 0;
  const log = document.getElementById('log');
  const show = (text) => { log.textContent = text + '\n' + log.textContent; };

  async function follow() {
    for (;;) {
      try {
        const since = lastId === null ? '' : `?since=${lastId}`;
        const reply = await fetch(`/channels/demo/stream${since}`);
        const reader = reply.body.pipeThrough(new TextDecoderStream()).getReader();
        let pending = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          document.getElementById('chunks').textContent = ++chunks;
          pending += value;
          let end;
          while ((end = pending.indexOf('\n')) >= 0) {
            const line = pending.slice(0, end);
            pending = pending.slice(end + 1);
            if (line.trim() === '') { document.getElementById('beats').textContent = ++beats; continue; }
            const item = JSON.parse(line);
            if (item.gap) { show(`gap: the replay starts at #${item.oldest}`); continue; }
            lastId = item.id;
            show(`#${item.id} ${item.data}`);
          }
        }
      } catch (e) { /* the stream broke */ }
      await new Promise(r => setTimeout(r, 1000)); // reconnect, resuming from lastId
    }
  }
  document.getElementById('form').addEventListener('submit', e => {
    e.preventDefault();
    fetch('/channels/demo/publish', { method: 'POST', body: document.getElementById('text').value });
  });
  follow();
</script>
"#;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8087".to_owned());
    let hub = Arc::new(Hub::new(HubConfig::default()));
    let router = Router::new()
        .get("/", |_: Request| Response::html(PAGE))
        .post("/channels/{ch}/publish", publish::handler(Arc::clone(&hub)))
        .get(
            "/channels/{ch}/stream",
            stream::handler(Arc::clone(&hub), StreamConfig::default()),
        );
    let server = Server::bind(addr.as_str(), Config::default()).unwrap_or_else(|error| {
        eprintln!("xhr_streaming example: cannot listen on {addr}: {error}");
        std::process::exit(1);
    });
    let closing = Arc::clone(&hub);
    server.on_shutdown(move || closing.close());
    println!("XHR streaming example on http://{}/", server.local_addr());
    if let Err(error) = server.serve(router) {
        eprintln!("xhr_streaming example: {error}");
    }
}
