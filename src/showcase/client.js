// realtime-web fallback client: one API over every technique of the server.
//
//   const sub = RealtimeWeb.connect('news', {
//     onmessage(msg, transport) { ... },   // msg: {id, event, data}
//   });
//   sub.send('hello');   // over the WebSocket when that is the transport, else POST
//   sub.break();         // drop the current transport (for demonstrations)
//   sub.close();
//
// It tries WebSocket, then Server-Sent Events, XHR streaming, long-polling, JSONP
// and polling, and moves to the next when one fails or is blocked (a proxy that
// kills WebSockets, a network that buffers streams). Unlike SockJS or Socket.IO,
// it carries its cursor, the last message id it delivered, from one transport to
// the next: the new one resumes after it (`since`, `lastEventId`), and ids at or
// below the cursor are never delivered again. So a switch loses nothing and
// repeats nothing; if the server no longer has the messages, `ongap` says so.
//
// Options: base (the server's origin, for a page served elsewhere), transports
// (the order to try), since (a cursor to resume from; default: new messages
// only), interval (polling, ms), events (SSE event names to listen for besides
// `message`), onmessage, ongap, onfallback(from, to, reason), onrequest(info).
(function (global) {
  'use strict';

  const ORDER = ['websocket', 'sse', 'stream', 'long-poll', 'jsonp', 'poll'];
  let jsonpCount = 0;

  function connect(channel, options) {
    options = options || {};
    const base = options.base || '';
    const transports = (options.transports || ORDER).slice();
    const path = `${base}/channels/${encodeURIComponent(channel)}`;
    let index = 0;
    let cursor = options.since === undefined ? null : options.since;
    let current = null;
    let closed = false;

    const handle = {
      transport: null,
      get cursor() { return cursor; },
      send(text) {
        if (current && current.send) return current.send(text);
        return fetch(`${path}/publish`, { method: 'POST', body: text });
      },
      break() { if (current) fail('broken on purpose'); },
      close() { closed = true; if (current) current.stop(); current = null; },
    };

    const count = (empty) => options.onrequest && options.onrequest({ transport: handle.transport, empty });

    function deliver(item) {
      if (closed) return;
      if (item.skip) { cursor = item.id; return; } // a starting cursor, not a message
      if (item.gap) { if (options.ongap) options.ongap(item); return; }
      if (cursor !== null && item.id <= cursor) return; // already delivered: never repeat
      cursor = item.id;
      if (options.onmessage) options.onmessage(item, handle.transport);
    }

    function fail(reason) {
      if (closed) return;
      const from = handle.transport;
      if (current) current.stop();
      current = null;
      index = Math.min(index + 1, transports.length - 1);
      if (options.onfallback) options.onfallback(from, transports[index], reason);
      setTimeout(start, 200);
    }

    function start() {
      if (closed) return;
      handle.transport = transports[index];
      current = TRANSPORTS[handle.transport]({ path, base, cursor: () => cursor, deliver, fail, count, options });
    }

    start();
    return handle;
  }

  // Each transport starts at once and returns {stop(), send?(text)}; it calls
  // deliver(item) for each message or gap, and fail(reason) when it breaks.
  const TRANSPORTS = {
    websocket(t) {
      const since = t.cursor() === null ? '' : `?since=${t.cursor()}`;
      const origin = t.base || location.origin;
      const socket = new WebSocket(`${origin.replace(/^http/, 'ws')}${t.path.slice(t.base.length)}/ws${since}`);
      let failed = false;
      socket.onopen = () => t.count(false);
      socket.onmessage = (e) => t.deliver(JSON.parse(e.data));
      socket.onclose = () => { if (!failed) { failed = true; t.fail('websocket closed'); } };
      return {
        stop() { failed = true; socket.close(); },
        send(text) { socket.send(text); return Promise.resolve(); },
      };
    },

    sse(t) {
      // With envelope=1 each event's data is the message JSON, so a message
      // published as JSON arrives as a value, as on every other transport.
      const since = t.cursor() === null ? '' : `&lastEventId=${t.cursor()}`;
      const source = new EventSource(`${t.path}/sse?envelope=1${since}`);
      const onEvent = (e) => t.deliver(JSON.parse(e.data));
      source.onopen = () => t.count(false);
      source.addEventListener('message', onEvent);
      for (const name of t.options.events || []) source.addEventListener(name, onEvent);
      source.addEventListener('gap', (e) => t.deliver(Object.assign({ gap: true }, JSON.parse(e.data))));
      // EventSource would reconnect by itself; here a failure moves on instead.
      source.onerror = () => { source.close(); t.fail('event stream failed'); };
      return { stop() { source.close(); } };
    },

    stream(t) {
      const controller = new AbortController();
      const since = t.cursor() === null ? '' : `?since=${t.cursor()}`;
      let stopped = false;
      (async () => {
        const reply = await fetch(`${t.path}/stream${since}`, { signal: controller.signal });
        if (!reply.ok) throw new Error(`status ${reply.status}`);
        t.count(false);
        const reader = reply.body.pipeThrough(new TextDecoderStream()).getReader();
        let pending = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) throw new Error('stream ended');
          pending += value;
          let end;
          while ((end = pending.indexOf('\n')) >= 0) {
            const line = pending.slice(0, end).trim();
            pending = pending.slice(end + 1);
            if (line) t.deliver(JSON.parse(line));
          }
        }
      })().catch((e) => { if (!stopped) t.fail(`stream: ${e.message}`); });
      return { stop() { stopped = true; controller.abort(); } };
    },

    'long-poll'(t) {
      return pollLoop(t, 'long-poll', '&timeout=25000', 0, (url) => fetch(url).then((r) => {
        if (!r.ok) throw new Error(`status ${r.status}`);
        return r.json();
      }));
    },

    jsonp(t) {
      return pollLoop(t, 'jsonp', '&timeout=25000', 0, (url) => new Promise((resolve, reject) => {
        const name = `__realtimeWeb${++jsonpCount}`;
        const script = document.createElement('script');
        const done = () => { delete global[name]; script.remove(); };
        global[name] = (batch) => { done(); resolve(batch); };
        script.onerror = () => { done(); reject(new Error('script failed')); };
        script.src = `${url}&callback=${name}`;
        document.head.appendChild(script);
      }));
    },

    poll(t) {
      return pollLoop(t, 'poll', '', t.options.interval || 1000, (url) => fetch(url).then((r) => {
        if (!r.ok) throw new Error(`status ${r.status}`);
        return r.json();
      }));
    },
  };

  // The request loop of the three request/reply transports. Without a cursor the
  // first reply only sets it (new messages only, as the streams do).
  function pollLoop(t, endpoint, extra, pause, request) {
    let stopped = false;
    let first = t.cursor() === null;
    (async () => {
      while (!stopped) {
        const since = t.cursor() === null ? 0 : t.cursor();
        // The first request of a waiting transport must not wait: it only
        // learns where the channel is.
        const wait = first && extra ? '&timeout=0' : extra;
        const batch = await request(`${t.path}/${endpoint}?since=${since}${wait}`);
        if (stopped) return;
        t.count(batch.messages.length === 0 && !batch.gap);
        if (first) {
          first = false;
          if (batch.next > 0) t.deliver({ id: batch.next, skip: true });
        } else {
          if (batch.gap) t.deliver({ gap: true, oldest: batch.messages.length ? batch.messages[0].id : batch.next });
          for (const m of batch.messages) t.deliver(m);
        }
        if (pause) await new Promise((r) => setTimeout(r, pause));
      }
    })().catch((e) => { if (!stopped) t.fail(`${endpoint}: ${e.message}`); });
    return { stop() { stopped = true; } };
  }

  global.RealtimeWeb = { connect, TRANSPORTS: ORDER };
})(typeof window !== 'undefined' ? window : this);
