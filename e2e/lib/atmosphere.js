// Helpers for the Atmosphere event-subscription tests: a server with the
// dialect, the user/auth and publisher calls, an inbox for received
// messages, and a proxy that refuses WebSocket upgrades (as some corporate
// proxies do) so that clients fall back to long-polling.

import http from 'node:http';
import { once } from 'node:events';
import { startServer } from './server.js';
import { withTimeout } from './ws.js';

/** Starts switchboard with the atmosphere section merged over test defaults. */
export function startAtmosphere(atmosphere = {}) {
  return startServer({ config: { atmosphere: { ...atmosphere } } });
}

/** Calls a JSON API of srv; resolves to { status, body }. */
export async function api(srv, method, path, body) {
  const res = await fetch(srv.url + path, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Creates or updates a user through the publisher API (loopback, no key). */
export async function putUser(srv, login, password, trackers) {
  const { status, body } = await api(srv, 'PUT', `/publisher/users/${encodeURIComponent(login)}`, { password, trackers });
  if (status !== 200) throw new Error(`PUT user ${login}: ${status} ${JSON.stringify(body)}`);
}

/** Logs in with user/auth; resolves to the session hash. */
export async function login(srv, user, password) {
  const { status, body } = await api(srv, 'POST', '/user/auth', { login: user, password });
  if (status !== 200 || !body.hash) throw new Error(`user/auth ${user}: ${status} ${JSON.stringify(body)}`);
  return body.hash;
}

/** Publishes through the publisher API: what is state, readings, iot or lifecycle. */
export async function publish(srv, what, body) {
  const res = await api(srv, 'POST', `/publisher/${what}`, body);
  if (res.status !== 200) throw new Error(`publish ${what}: ${res.status} ${JSON.stringify(res.body)}`);
}

/** A state as a backend would publish it; source_id is 1000 + the tracker id. */
export function state(trackerId, speed) {
  return {
    tracker_id: trackerId,
    data: {
      source_id: 1000 + trackerId,
      gps: { updated: '2024-05-17 10:00:00', signal_level: 100, location: { lat: 52.5, lng: 13.4 }, heading: 90, speed, alt: 30 },
      connection_status: 'active', movement_status: speed > 0 ? 'moving' : 'parked',
      last_update: '2024-05-17 10:00:01', battery_level: 90, gsm: null, inputs: [false, true],
      name: 'Truck 🚚|A',
    },
  };
}

/** A subscribe action. */
export function subscribeAction(hash, requests) {
  return JSON.stringify({ action: 'subscribe', hash, requests });
}

/**
 * Subscribes to url with atmosphere.js 2.3.6 (atmosphere: the module-wide
 * client the test file required) over WebSocket, falling back to
 * long-polling, and resolves once onOpen fired: { sock, inbox, transport }.
 * options override the defaults; the subscription ends with the test t.
 */
export async function subscribeV2(t, atmosphere, url, options = {}) {
  const inbox = new Inbox();
  let opened;
  const openP = new Promise((resolve) => { opened = resolve; });
  const sock = atmosphere.subscribe({
    url,
    contentType: 'application/json',
    transport: 'websocket',
    fallbackTransport: 'long-polling',
    trackMessageLength: false,
    reconnectInterval: 500,
    logLevel: 'error',
    onOpen: (res) => opened(res.transport),
    onMessage: (res) => inbox.add(res.responseBody),
    ...options,
  });
  t.after(() => atmosphere.unsubscribeUrl(url));
  const transport = await withTimeout(openP, 'onOpen', 8000);
  return { sock, inbox, transport };
}

/**
 * Collects the messages a client receives (JSON-decoded, with the time they
 * came) so that a test can wait for one matching a predicate.
 */
export class Inbox {
  constructor() {
    this.messages = [];
    this.waiters = [];
  }

  /** Adds a raw message body as the client delivered it. */
  add(body) {
    let msg;
    try {
      msg = JSON.parse(body);
    } catch {
      msg = { unparsed: body };
    }
    msg.at = Date.now();
    this.messages.push(msg);
    for (const w of [...this.waiters]) w();
  }

  /** Resolves to the first message not yet taken that matches pred; it is taken. */
  next(pred, what = 'a message', ms = 8000) {
    return withTimeout(new Promise((resolve) => {
      const check = () => {
        const i = this.messages.findIndex(pred);
        if (i < 0) return false;
        const [m] = this.messages.splice(i, 1);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve(m);
        return true;
      };
      if (!check()) this.waiters.push(check);
    }), what, ms);
  }

  /** The messages matching pred that arrived, without taking them. */
  all(pred) { return this.messages.filter(pred); }
}

/** Predicates on received messages. */
export const is = {
  response: (m) => m.type === 'response',
  error: (m) => m.type === 'error',
  state: (sourceId, speed) => (m) => m.event === 'state' && m.data?.source_id === sourceId && (speed === undefined || m.data.gps?.speed === speed),
  event: (name) => (m) => m.event === name,
};

/**
 * Starts a plain HTTP proxy to target (a switchboard server) that answers
 * every WebSocket upgrade with 501 and forwards everything else. Resolves
 * to { url, upgrades, close }: upgrades counts the refused upgrades.
 */
export async function refusingProxy(target) {
  const proxy = { upgrades: 0 };
  const server = http.createServer((req, res) => {
    const up = http.request({ host: target.host, port: target.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode, upRes.headers);
      res.flushHeaders();
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  server.on('upgrade', (_req, socket) => {
    proxy.upgrades++;
    socket.end('HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  proxy.url = `http://127.0.0.1:${server.address().port}`;
  proxy.close = async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  };
  return proxy;
}

/** Resolves after ms; only for letting real time pass where the test is about time. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
