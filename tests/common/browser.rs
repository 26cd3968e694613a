//! Headless Chromium driven over the DevTools protocol with the crate's own
//! WebSocket client, for `tests/browser.rs`.

#![allow(dead_code)]

use realtime_web::transport::websocket::{connect, Message, WebSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A generous bound for the browser to start and pages to settle.
const PATIENCE: Duration = Duration::from_secs(20);

fn http_get(url: &str) -> String {
    ureq::get(url)
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .unwrap_or_default()
}

/// A headless Chromium, killed on drop.
pub struct Browser {
    child: Child,
    profile: PathBuf,
    devtools: WebSocket,
    next_id: u64,
    /// The `Network.webSocket*` events seen so far (after `Network.enable`).
    websocket_events: Vec<String>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

pub fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/chromium".into());
    path.exists().then_some(path)
}

impl Browser {
    pub fn launch(binary: &PathBuf, name: &str) -> Browser {
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
        let deadline = Instant::now() + PATIENCE;
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
            let list = http_get(&format!("http://127.0.0.1:{port}/json/list"));
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
            websocket_events: Vec::new(),
        }
    }

    /// Sends one DevTools command and returns its reply (events in between are
    /// skipped, but for the WebSocket ones, which are kept).
    pub fn call(&mut self, method: &str, params: &str) -> String {
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
                Message::Text(text) if text.starts_with(r#"{"method":"Network.webSocket"#) => {
                    self.websocket_events.push(text)
                }
                _ => {}
            }
        }
    }

    /// The page's WebSocket events of type `method` seen so far (for
    /// instance `Network.webSocketHandshakeResponseReceived`, which carries
    /// the 101's headers), once `Network.enable` was called.
    pub fn websocket_events(&self, method: &str) -> Vec<&str> {
        let prefix = format!(r#"{{"method":"{method}""#);
        self.websocket_events
            .iter()
            .filter(|e| e.starts_with(&prefix))
            .map(String::as_str)
            .collect()
    }

    /// Evaluates an expression that returns a string without quotes or
    /// backslashes (the page's `showcase.summary()`), and returns it.
    pub fn eval(&mut self, expression: &str) -> String {
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

    pub fn summary(&mut self) -> Summary {
        Summary(self.eval("typeof showcase === 'undefined' ? '' : showcase.summary()"))
    }

    /// Waits until `done` holds of the page's summary.
    pub fn wait_for(&mut self, what: &str, done: impl Fn(&Summary) -> bool) -> Summary {
        let deadline = Instant::now() + PATIENCE;
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
pub struct Summary(pub String);

impl Summary {
    pub fn field(&self, key: &str) -> Vec<String> {
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

    pub fn ids(&self, key: &str) -> Vec<u64> {
        self.field(key)
            .iter()
            .map(|id| id.parse().unwrap())
            .collect()
    }
}
