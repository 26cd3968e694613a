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

use common::browser::{chromium, Browser};
use common::*;
use realtime_web::server::{Config, Server};
use realtime_web::showcase;
use std::time::{Duration, Instant};

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
    browser.call("Network.enable", "{}");
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

/// One label's counter in the showcase's `/stats`.
fn stat(api: &TestServer, label: &str, counter: &str) -> u64 {
    let (_, stats) = get(&api.url("/stats"));
    stats
        .split(&format!(r#""{label}":{{"#))
        .nth(1)
        .and_then(|rest| rest.split(&format!(r#""{counter}":"#)).nth(1))
        .and_then(|rest| rest.split([',', '}']).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {label}.{counter} in {stats}"))
}

/// permessage-deflate (RFC 7692) with a real browser: Chromium offers it, the
/// 101 accepts it, and the channel's messages cross the wire compressed — the
/// `ws` label's bytes per delivered message fall well below the message's
/// own size, which an uncompressed frame cannot (its payload is the whole
/// JSON). Runs after [`run_page`] on the same page: the WebSocket panel holds
/// messages 1 to 5.
#[cfg(feature = "deflate")]
fn websocket_compressed(browser: &mut Browser, api: &TestServer, channel: &str) {
    let answers = browser.websocket_events("Network.webSocketHandshakeResponseReceived");
    assert!(
        !answers.is_empty(),
        "DevTools reported no WebSocket handshake"
    );
    for answer in &answers {
        let lower = answer.to_ascii_lowercase();
        assert!(
            lower.contains(
                r#""sec-websocket-extensions":"permessage-deflate; server_no_context_takeover"#
            ),
            "the 101 accepts permessage-deflate: {answer}"
        );
    }
    let requests = browser.websocket_events("Network.webSocketWillSendHandshakeRequest");
    assert!(
        requests
            .iter()
            .all(|r| r.to_ascii_lowercase().contains("permessage-deflate")),
        "Chromium offers permessage-deflate: {requests:?}"
    );

    // Sensor readings as JSON, 1 KiB a message: what the extension is for.
    let message = |n: u64| {
        let mut json = String::from("[");
        let mut i = 0;
        while json.len() < 1000 {
            json.push_str(&format!(
                r#"{{"reading":{n}{i},"celsius":{}.{},"sensor":"s-{}"}},"#,
                20 + i % 7,
                i % 10,
                i % 13
            ));
            i += 1;
        }
        json.pop();
        json.push(']');
        json
    };
    let sockets = stat(api, "ws", "open");
    let before = stat(api, "ws", "bytes_written");
    let publish = api.url(&format!("/channels/{channel}/publish"));
    let (first, last) = (9, 18);
    for n in first..=last {
        assert_eq!(post(&publish, message(n).as_bytes()).0, 200);
    }
    browser.wait_for("the WebSocket panel has every message", |s| {
        s.ids("websocket").len() >= last as usize
    });
    let per_delivery = (stat(api, "ws", "bytes_written") - before) / ((last - first + 1) * sockets);
    let plain = message(first).len() as u64;
    assert!(
        per_delivery * 2 < plain,
        "{per_delivery} bytes per delivered message for {plain}-byte messages: not compressed"
    );
    eprintln!(
        "permessage-deflate in Chromium: {per_delivery} bytes on the wire per {plain}-byte message"
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
    #[cfg(feature = "deflate")]
    websocket_compressed(&mut browser, &api, "same");
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
