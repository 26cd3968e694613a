//! The showcase page in a real browser: headless Chromium, driven over the
//! DevTools protocol with the crate's own WebSocket client (no automation
//! dependency). Every panel must receive every message in order, and the
//! fallback panel must keep continuous ids after its transport is broken —
//! once with the page on the channels' origin, once from another origin.
//!
//! Needs Debian's `chromium` (`.ci/run` installs it). Without it the test says
//! so and passes, except under CI (`CI` set), where a missing browser fails.

#![cfg(all(
    feature = "polling",
    feature = "long-polling",
    feature = "sse",
    feature = "comet",
    feature = "websocket"
))]

mod common;

use common::*;
use realtime_web::server::{Config, Server};
use realtime_web::showcase;
use realtime_web::transport::websocket::{connect, Message, WebSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A headless Chromium, killed on drop.
struct Browser {
    child: Child,
    profile: PathBuf,
    devtools: WebSocket,
    next_id: u64,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/chromium".into());
    path.exists().then_some(path)
}

impl Browser {
    fn launch(binary: &PathBuf, name: &str) -> Browser {
        let profile =
            std::env::temp_dir().join(format!("rtw-chromium-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).unwrap();
        let child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
                "--window-size=1400,1000",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        // With port 0, Chromium writes the port it took into the profile.
        let port_file = profile.join("DevToolsActivePort");
        let deadline = Instant::now() + LIVENESS * 3;
        let port = loop {
            if let Some(port) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.lines().next().map(str::to_owned))
            {
                if !port.is_empty() {
                    break port;
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromium did not open its DevTools port"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let targets = loop {
            let (_, list) = get(&format!("http://127.0.0.1:{port}/json/list"));
            if list.contains("\"type\": \"page\"") {
                break list;
            }
            assert!(Instant::now() < deadline, "no page target: {list}");
            std::thread::sleep(Duration::from_millis(50));
        };
        // A flat array of flat objects: the page's is the one of type "page".
        let page = targets
            .split('}')
            .find(|t| t.contains("\"type\": \"page\""))
            .unwrap_or("");
        let url = page
            .split("\"webSocketDebuggerUrl\": \"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no debugger URL in {targets}"))
            .to_owned();
        let devtools = connect(&url).expect("connect to the page's DevTools");
        Browser {
            child,
            profile,
            devtools,
            next_id: 0,
        }
    }

    /// Sends one DevTools command and returns its reply (events in between are
    /// skipped).
    fn call(&mut self, method: &str, params: &str) -> String {
        self.next_id += 1;
        let id = self.next_id;
        self.devtools
            .send_text(&format!(
                r#"{{"id":{id},"method":"{method}","params":{params}}}"#
            ))
            .unwrap();
        // Replies start with their id; events ({"method":…}) are skipped.
        let reply = format!(r#"{{"id":{id},"#);
        loop {
            match self.devtools.read().expect("a DevTools message") {
                Message::Text(text) if text.starts_with(&reply) => return text,
                _ => {}
            }
        }
    }

    /// Evaluates an expression that returns a string without quotes or
    /// backslashes (the page's `showcase.summary()`), and returns it.
    fn eval(&mut self, expression: &str) -> String {
        let reply = self.call(
            "Runtime.evaluate",
            &format!(r#"{{"expression":"{expression}","returnByValue":true,"awaitPromise":true}}"#),
        );
        reply
            .split(r#""value":""#)
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or("")
            .to_owned()
    }

    fn summary(&mut self) -> Summary {
        Summary(self.eval("typeof showcase === 'undefined' ? '' : showcase.summary()"))
    }

    /// Waits until `done` holds of the page's summary.
    fn wait_for(&mut self, what: &str, done: impl Fn(&Summary) -> bool) -> Summary {
        let deadline = Instant::now() + LIVENESS * 2;
        loop {
            let summary = self.summary();
            if done(&summary) {
                return summary;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: the page shows {}",
                summary.0
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The page's `showcase.summary()`: `key=ids;…;ready=…;history=…`.
struct Summary(String);

impl Summary {
    fn field(&self, key: &str) -> Vec<String> {
        self.0
            .split(';')
            .find_map(|part| part.strip_prefix(&format!("{key}=")))
            .map(|v| {
                v.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn ids(&self, key: &str) -> Vec<u64> {
        self.field(key)
            .iter()
            .map(|id| id.parse().unwrap())
            .collect()
    }
}

const PANELS: [&str; 8] = [
    "poll",
    "long-poll",
    "jsonp",
    "stream",
    "iframe",
    "sse",
    "websocket",
    "fallback",
];

fn run_page(browser: &mut Browser, api: &TestServer, page_url: &str, channel: &str) {
    browser.call("Page.enable", "{}");
    browser.call("Page.navigate", &format!(r#"{{"url":"{page_url}"}}"#));
    // Ready: every panel but the frame reports, and the frame's stream is open.
    browser.wait_for("panels ready", |s| {
        let ready = s.field("ready");
        PANELS
            .iter()
            .filter(|p| **p != "iframe")
            .all(|p| ready.iter().any(|r| r == p))
    });
    // And every subscription that waits on the channel is waiting: long-poll,
    // JSONP, stream, frame, SSE, the WebSocket panel's pump and the fallback's.
    let deadline = Instant::now() + LIVENESS;
    while api.hub.find(channel).map_or(0, |c| c.waiters()) < 7 {
        assert!(
            Instant::now() < deadline,
            "subscriptions never all arrived: {}",
            browser.summary().0
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let publish = api.url(&format!("/channels/{channel}/publish"));
    for i in 1..=5 {
        assert_eq!(post(&publish, format!("message {i}").as_bytes()).0, 200);
    }
    let summary = browser.wait_for("every panel has 5 messages", |s| {
        PANELS.iter().all(|p| s.ids(p).len() >= 5)
    });
    for panel in PANELS {
        assert_eq!(
            summary.ids(panel),
            [1, 2, 3, 4, 5],
            "{panel} received every message in order"
        );
    }

    // Break the fallback client's transport; ids must continue without a hole.
    let before = summary.field("history");
    browser.eval("showcase.breakFallback(), 'ok'");
    browser.wait_for("the fallback moved on", |s| {
        s.field("history").len() > before.len()
    });
    for i in 6..=8 {
        assert_eq!(post(&publish, format!("message {i}").as_bytes()).0, 200);
    }
    let summary = browser.wait_for("the fallback has 8 messages", |s| {
        s.ids("fallback").len() >= 8
    });
    assert_eq!(
        summary.ids("fallback"),
        (1..=8).collect::<Vec<_>>(),
        "ids continuous across transports"
    );
    assert!(
        summary.field("history").len() >= 2,
        "{:?}",
        summary.field("history")
    );
}

#[test]
fn every_panel_receives_every_message_same_origin_and_cross_origin() {
    let Some(binary) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have chromium (.ci/run installs it)"
        );
        eprintln!("browser test skipped: no /usr/bin/chromium (apt-get install chromium, or set CHROMIUM)");
        return;
    };
    let api = TestServer::start();

    // 1. The page on the channels' own origin.
    let mut browser = Browser::launch(&binary, "same");
    run_page(&mut browser, &api, &api.url("/?channel=same"), "same");
    drop(browser);

    // 2. The page from another origin (another port): CORS, JSONP, postMessage
    //    and the WebSocket Origin check, for real.
    let pages = Server::bind("127.0.0.1:0", Config::default()).unwrap();
    let page_addr = pages.local_addr();
    let stop_pages = pages.shutdown_handle();
    let serving = std::thread::spawn(move || pages.serve(showcase::page_router()));
    let mut browser = Browser::launch(&binary, "cross");
    let url = format!("http://{page_addr}/?channel=cross&api=http://{}", api.addr);
    run_page(&mut browser, &api, &url, "cross");
    drop(browser);
    stop_pages.shutdown();
    serving.join().unwrap().unwrap();
}
