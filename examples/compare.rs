//! Every technique measured side by side in a real browser: the figures of the
//! README's "Which technique should I use?".
//!
//! ```sh
//! apt-get install chromium                     # Debian's, once
//! cargo run --release --example compare        # 30 messages, 250 ms apart
//! cargo run --release --example compare -- 100 # more messages
//! ```
//!
//! It serves the showcase on a free loopback port, opens its page in headless
//! Chromium (driven over the DevTools protocol with this crate's own WebSocket
//! client), publishes N messages from here, each carrying its send time, and
//! then prints, per technique: the latency the page measured (publish to
//! display), and from the server's `/stats` the bytes on the wire (both
//! directions, headers and framing included) and the requests per delivered
//! message, with the connections it holds open.
//!
//! All panels share the browser's six connections per host: five are held by
//! the waiting and streaming techniques, so polling's requests and the page's
//! own `/stats` reads queue for the last one. That is part of what the figures
//! show — it is why a page should pick one technique, not all of them (RFC 6202
//! §5.1).
//!
//! Driving the browser takes little: start Chromium with a DevTools port, find
//! the page's WebSocket URL, and send it JSON commands ([`Browser`] below).

use realtime_web::hub::Hub;
use realtime_web::server::{Config, Server};
use realtime_web::showcase::{self, Options};
use realtime_web::transport::websocket::{connect, Message, WebSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// (panel, stats label, name, direction, browsers, proxies)
const TECHNIQUES: [(&str, &str, &str, &str, &str, &str); 7] = [
    (
        "poll",
        "poll",
        "Ajax polling",
        "server → client",
        "every browser",
        "fine: short requests",
    ),
    (
        "long-poll",
        "long-poll",
        "Ajax long-polling",
        "server → client",
        "every browser",
        "may cut requests held past their idle timeout",
    ),
    (
        "jsonp",
        "jsonp",
        "JSONP long polling",
        "server → client, any origin",
        "every browser, even without CORS",
        "as long-polling; GET only",
    ),
    (
        "stream",
        "stream",
        "XHR streaming",
        "server → client",
        "fetch streams (old: XHR onprogress)",
        "buffering proxies hold messages back",
    ),
    (
        "iframe",
        "iframe",
        "Forever frame",
        "server → client",
        "every browser, old IE included",
        "buffering proxies hold messages back",
    ),
    (
        "sse",
        "sse",
        "Server-Sent Events",
        "server → client",
        "every current browser (not IE)",
        "needs an unbuffered proxy; reconnects by itself",
    ),
    (
        "websocket",
        "ws",
        "WebSocket",
        "both ways",
        "every current browser (IE 10+)",
        "needs proxies that pass Upgrade",
    ),
];

fn main() {
    let messages: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(30);
    let Some(chromium) = chromium() else {
        eprintln!(
            "compare: needs Chromium at /usr/bin/chromium (apt-get install chromium) or $CHROMIUM"
        );
        std::process::exit(1);
    };

    let server = Server::bind("127.0.0.1:0", Config::default()).expect("bind 127.0.0.1:0");
    let addr = server.local_addr();
    let hub = Arc::new(Hub::new(Options::default().hub_config()));
    let closing = Arc::clone(&hub);
    server.on_shutdown(move || closing.close());
    let stop = server.shutdown_handle();
    let router = showcase::router(Arc::clone(&hub), &Options::default());
    let serving = std::thread::spawn(move || server.serve(router));

    let mut page = Browser::launch(&chromium);
    page.call("Page.enable", "{}");
    page.call(
        "Page.navigate",
        &format!(r#"{{"url":"http://{addr}/?channel=compare&fallback=0"}}"#),
    );
    // Every subscription that waits on the channel: long-poll, JSONP, stream,
    // frame, SSE and the WebSocket's pump.
    let deadline = Instant::now() + Duration::from_secs(30);
    while hub.find("compare").map_or(0, |c| c.waiters()) < 6 || !page.ready("poll") {
        assert!(
            Instant::now() < deadline,
            "the page never subscribed everywhere"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = stats(addr);

    let channel = hub.channel("compare").expect("channel");
    for i in 1..=messages {
        let sent = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        channel
            .publish(
                "message",
                &format!(r#"{{"text":"message {i}","sent":{sent}}}"#),
            )
            .expect("publish");
        std::thread::sleep(Duration::from_millis(250));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let figures = loop {
        let figures = page.eval("showcase.figures()");
        let all_in = figures.split(';').all(|f| {
            f.split(':').nth(1).and_then(|v| v.split(',').next()) == Some(&messages.to_string())
        });
        if all_in || Instant::now() > deadline {
            break figures;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let after = stats(addr);
    drop(page);

    println!(
        "{messages} messages 250 ms apart, headless Chromium {}, 127.0.0.1",
        chromium.display()
    );
    println!();
    println!("| technique | latency p50 / max | bytes per message | requests per message | connections held | direction | browsers | proxies |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (panel, label, name, direction, browsers, proxies) in TECHNIQUES {
        let f: Vec<&str> = figures
            .split(';')
            .find_map(|f| f.strip_prefix(&format!("{panel}:")))
            .unwrap_or("")
            .split(',')
            .collect();
        let delivered: f64 = f.first().and_then(|v| v.parse().ok()).unwrap_or(0.0);
        let delta = |field: &str| {
            after
                .get(label, field)
                .saturating_sub(before.get(label, field)) as f64
        };
        let bytes = (delta("bytes_read") + delta("bytes_written")) / delivered.max(1.0);
        let requests = delta("requests") / delivered.max(1.0);
        println!(
            "| {name} | {} / {} ms | {bytes:.0} | {requests:.2} | {} | {direction} | {browsers} | {proxies} |",
            f.get(3).unwrap_or(&"–"),
            f.get(4).unwrap_or(&"–"),
            before.get(label, "open"),
        );
    }
    stop.shutdown();
    let _ = serving.join();
}

/// `GET /stats`, kept as text.
struct Stats(String);

impl Stats {
    fn get(&self, label: &str, field: &str) -> u64 {
        self.0
            .split(&format!("\"{label}\":{{"))
            .nth(1)
            .and_then(|s| s.split('}').next())
            .and_then(|s| s.split(&format!("\"{field}\":")).nth(1))
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

fn stats(addr: std::net::SocketAddr) -> Stats {
    Stats(http_get(&format!("http://{addr}/stats")))
}

/// The body of `GET url`, or nothing.
fn http_get(url: &str) -> String {
    ureq::get(url)
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .unwrap_or_default()
}

/// Chromium at `$CHROMIUM`, or else at `/usr/bin/chromium`.
fn chromium() -> Option<PathBuf> {
    let path =
        std::env::var_os("CHROMIUM").map_or_else(|| "/usr/bin/chromium".into(), PathBuf::from);
    path.exists().then_some(path)
}

/// A headless Chromium with one page, driven over the DevTools protocol (JSON
/// over this crate's WebSocket client); killed on drop.
struct Browser {
    child: Child,
    profile: PathBuf,
    devtools: WebSocket,
    next_id: u64,
}

impl Browser {
    fn launch(binary: &Path) -> Browser {
        let profile = std::env::temp_dir().join(format!("rtw-compare-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).expect("create the browser profile");
        let child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
            ])
            .args(["--no-first-run", "--disable-background-networking"])
            .args(["--disable-component-update", "--disable-sync"])
            .args(["--remote-debugging-port=0", "--window-size=1400,1000"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        // With port 0, Chromium writes the port it took into the profile; the
        // list of targets then names the page's WebSocket URL.
        let deadline = Instant::now() + Duration::from_secs(20);
        let url = loop {
            let port =
                std::fs::read_to_string(profile.join("DevToolsActivePort")).unwrap_or_default();
            let port = port.lines().next().unwrap_or("");
            if !port.is_empty() {
                let list = http_get(&format!("http://127.0.0.1:{port}/json/list"));
                let page = list.split('}').find(|t| t.contains("\"type\": \"page\""));
                let url = page.and_then(|p| p.split("\"webSocketDebuggerUrl\": \"").nth(1));
                if let Some(url) = url.and_then(|rest| rest.split('"').next()) {
                    break url.to_owned();
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromium opened no page to debug"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let devtools = connect(&url).expect("connect to the page's DevTools");
        Browser {
            child,
            profile,
            devtools,
            next_id: 0,
        }
    }

    /// Sends one DevTools command and returns its reply, skipping the events
    /// that come in between.
    fn call(&mut self, method: &str, params: &str) -> String {
        self.next_id += 1;
        let id = self.next_id;
        self.devtools
            .send_text(&format!(
                r#"{{"id":{id},"method":"{method}","params":{params}}}"#
            ))
            .expect("send a DevTools command");
        let reply = format!(r#"{{"id":{id},"#);
        loop {
            match self.devtools.read().expect("a DevTools message") {
                Message::Text(text) if text.starts_with(&reply) => return text,
                _ => {}
            }
        }
    }

    /// Evaluates an expression whose value is a string without quotes or
    /// backslashes, and returns it.
    fn eval(&mut self, expression: &str) -> String {
        let reply = self.call(
            "Runtime.evaluate",
            &format!(r#"{{"expression":"{expression}","returnByValue":true,"awaitPromise":true}}"#),
        );
        let value = reply.split(r#""value":""#).nth(1).unwrap_or("");
        value.split('"').next().unwrap_or("").to_owned()
    }

    /// Whether the page's `showcase.summary()` (`key=a,b;…;ready=…`) lists
    /// `panel` as ready.
    fn ready(&mut self, panel: &str) -> bool {
        let summary = self.eval("typeof showcase === 'undefined' ? '' : showcase.summary()");
        let ready = summary
            .split(';')
            .find_map(|part| part.strip_prefix("ready="));
        ready.is_some_and(|list| list.split(',').any(|p| p == panel))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
