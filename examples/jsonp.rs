//! Script-tag (JSONP) long polling, across origins — the reason it existed.
//!
//! ```sh
//! cargo run --example jsonp     # then open http://127.0.0.1:8084/
//! ```
//!
//! Two servers share one hub: the *page* origin (`127.0.0.1:8084`) serves the page
//! and takes publishes; the *channel* origin (`127.0.0.1:8085`, another port and so
//! another origin) serves only `/channels/{ch}/jsonp`. The page cannot read the
//! channel origin with `fetch` (that origin sends no CORS headers here), but it
//! can run a script from it: each round appends
//! `<script src="http://127.0.0.1:8085/channels/demo/jsonp?since=N&callback=onBatch">`,
//! the server holds the request until there is news, and the reply
//! `onBatch({...});` calls the page's function, which appends the next tag.

use realtime_web::transport::{jsonp, publish};
use realtime_web::{Config, Hub, HubConfig, Request, Response, Router, Server};
use std::sync::Arc;

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>JSONP long polling</title>
<h1>JSONP long polling</h1>
<p>This page is on <code id="here"></code>; the channel is on <code>{{CHANNEL_ORIGIN}}</code>.</p>
<form id="form"><input id="text" value="hello" aria-label="message"> <button>Publish</button></form>
<p>Script tags loaded: <b id="rounds">0</b></p>
<pre id="log"></pre>
<script>
  const channelOrigin = '{{CHANNEL_ORIGIN}}';
  let cursor = 0, rounds = 0;
  const log = document.getElementById('log');
  document.getElementById('here').textContent = location.origin;

  // The server's reply calls this by name.
  window.onBatch = function (batch) {
    rounds++;
    document.getElementById('rounds').textContent = rounds;
    if (batch.gap) log.textContent = '(gap: some messages were evicted)\n' + log.textContent;
    for (const m of batch.messages) log.textContent = `#${m.id} ${m.data}\n` + log.textContent;
    cursor = batch.next;
  };

  function round() {
    const script = document.createElement('script');
    script.src = `${channelOrigin}/channels/demo/jsonp?since=${cursor}&callback=onBatch&timeout=25000`;
    // onload runs after the script (and so onBatch) ran; onerror is all a failed
    // script tells: no status, no body. Either way, remove the tag and go again.
    script.onload = () => { script.remove(); round(); };
    script.onerror = () => { script.remove(); setTimeout(round, 1000); };
    document.head.appendChild(script);
  }

  document.getElementById('form').addEventListener('submit', e => {
    e.preventDefault();
    fetch('/channels/demo/publish', { method: 'POST', body: document.getElementById('text').value });
  });
  round();
</script>
"#;

fn bind(addr: &str) -> Server {
    Server::bind(addr, Config::default()).unwrap_or_else(|error| {
        eprintln!("jsonp example: cannot listen on {addr}: {error}");
        std::process::exit(1);
    })
}

fn main() {
    let hub = Arc::new(Hub::new(HubConfig::default()));
    let page_server = bind("127.0.0.1:8084");
    let channel_server = bind("127.0.0.1:8085");

    let page = PAGE.replace(
        "{{CHANNEL_ORIGIN}}",
        &format!("http://{}", channel_server.local_addr()),
    );
    let page_routes = Router::new()
        .get("/", move |_: Request| Response::html(page.clone()))
        .post("/channels/{ch}/publish", publish::handler(Arc::clone(&hub)));
    let channel_routes =
        Router::new().get("/channels/{ch}/jsonp", jsonp::handler(Arc::clone(&hub)));

    println!(
        "JSONP example: page on http://{}/, channel on http://{}/",
        page_server.local_addr(),
        channel_server.local_addr()
    );
    let channels = std::thread::spawn(move || channel_server.serve(channel_routes));
    if let Err(error) = page_server.serve(page_routes) {
        eprintln!("jsonp example: {error}");
    }
    let _ = channels.join();
}
