// Helpers for the Pusher dialect's end-to-end tests: an app's auth endpoint
// served by the test with the official server SDK (npm:pusher), pusher-js
// clients pointed at the switchboard binary, and promises for the events
// the tests wait on.
//
//   const app = { id: 'app-id', key: 'app-key', secret: 'app-secret' };
//   const auth = await startAuthServer(srv, app);       // POST /auth, /user-auth
//   const client = await connectClient(srv, app, auth, { user: 'alice' });
//   const ch = await subscribed(client, 'private-orders');
//   await sdk(srv, app).trigger('private-orders', 'shipped', { id: 1 });
//   await nextEvent(ch, 'shipped');

import http from 'node:http';
import { once } from 'node:events';
import Pusher from 'pusher-js';
import PusherServer from 'pusher';

/** A 32-byte key for private-encrypted- channels, base64. */
export const ENCRYPTION_KEY = Buffer.alloc(32, 7).toString('base64');

/** Every wait in these tests gives up after this long. */
export const TIMEOUT_MS = 5000;

/** The server SDK (npm:pusher) pointed at srv, as an app's backend uses it. */
export function sdk(srv, app, extra = {}) {
  return new PusherServer({
    appId: app.id,
    key: app.key,
    secret: app.secret,
    host: srv.host,
    port: String(srv.port),
    useTLS: false,
    encryptionMasterKeyBase64: ENCRYPTION_KEY,
    ...extra,
  });
}

/**
 * Serves an app's auth endpoints with the SDK's own authorizeChannel and
 * authenticateUser, on a free loopback port:
 *   POST /auth?user=ID       channel authorization (presence user ID)
 *   POST /user-auth?user=ID  user sign-in, with ?watch=a,b for a watchlist
 * A request with ?bad=1 is signed with a wrong secret. Resolves to
 * { url, requests, close() }.
 */
export async function startAuthServer(srv, app) {
  const good = sdk(srv, app);
  const bad = sdk(srv, { ...app, secret: 'not-the-secret' });
  const state = { requests: 0 };
  const server = http.createServer(async (req, res) => {
    state.requests++;
    const url = new URL(req.url, 'http://x');
    let body = '';
    for await (const chunk of req) body += chunk;
    const form = new URLSearchParams(body);
    const socketId = form.get('socket_id');
    const user = url.searchParams.get('user') ?? 'anonymous';
    const signer = url.searchParams.get('bad') ? bad : good;
    let answer;
    try {
      if (url.pathname === '/auth') {
        const channel = form.get('channel_name');
        const presence = channel.startsWith('presence-') ? { user_id: user, user_info: { name: `${user} name` } } : undefined;
        answer = signer.authorizeChannel(socketId, channel, presence);
      } else if (url.pathname === '/user-auth') {
        const watch = url.searchParams.get('watch');
        answer = signer.authenticateUser(socketId, { id: user, user_info: { name: `${user} name` }, ...(watch ? { watchlist: watch.split(',') } : {}) });
      } else {
        res.writeHead(404).end();
        return;
      }
    } catch (err) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(String(err));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    url: base,
    get requests() { return state.requests; },
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

/** pusher-js options for srv, with the auth endpoints of auth for user. */
export function clientOptions(srv, auth, { user = 'anonymous', bad = false, watch } = {}) {
  const q = new URLSearchParams({ user });
  if (bad) q.set('bad', '1');
  if (watch) q.set('watch', watch.join(','));
  return {
    cluster: 'mt1',
    wsHost: srv.host,
    wsPort: srv.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    channelAuthorization: { endpoint: `${auth.url}/auth?${q}`, transport: 'ajax' },
    userAuthentication: { endpoint: `${auth.url}/user-auth?${q}`, transport: 'ajax' },
  };
}

/** A pusher-js client, resolved once connected. Disconnect it when done. */
export async function connectClient(srv, app, auth, opts = {}) {
  const client = new Pusher(app.key, clientOptions(srv, auth, opts));
  await connected(client);
  return client;
}

/** Resolves when client is connected; rejects if it fails first. */
export function connected(client) {
  return within(new Promise((resolve, reject) => {
    if (client.connection.state === 'connected') return resolve(client);
    const onChange = ({ current }) => {
      if (current === 'connected') { client.connection.unbind('state_change', onChange); resolve(client); }
      if (current === 'failed' || current === 'unavailable') reject(new Error(`pusher-js connection ${current}`));
    };
    client.connection.bind('state_change', onChange);
  }), 'connection');
}

/** Subscribes and resolves with the channel on pusher:subscription_succeeded. */
export function subscribed(client, name) {
  const ch = client.subscribe(name);
  return within(new Promise((resolve, reject) => {
    ch.bind('pusher:subscription_succeeded', () => resolve(ch));
    ch.bind('pusher:subscription_error', (e) => reject(Object.assign(new Error(`subscription_error on ${name}: ${JSON.stringify(e)}`), { data: e })));
  }), `subscription to ${name}`);
}

/** Resolves with { data, metadata } of the next event name on a channel (or any bindable). */
export function nextEvent(bindable, name) {
  return within(new Promise((resolve) => {
    const handler = (data, metadata) => { bindable.unbind(name, handler); resolve({ data, metadata }); };
    bindable.bind(name, handler);
  }), `event ${name}`);
}

/** Collects every event name on a channel into an array, for "not received" checks. */
export function collect(bindable, name) {
  const got = [];
  bindable.bind(name, (data) => got.push(data));
  return got;
}

/**
 * Resolves with the error the connection reports next (pusher:error, close
 * codes), for tests where the server closes the connection.
 */
export function nextConnectionError(client) {
  ignoreCloseAfterClosed(client);
  return within(new Promise((resolve) => {
    client.connection.bind('error', (e) => resolve(e));
  }), 'connection error');
}

/**
 * When the server closes a connection with a "refused" code, pusher-js
 * calls close() on the already closed WebSocket, and the WebSocket library
 * (faye-websocket) then starts a 30 s close timer that nothing clears,
 * which keeps the test process alive. This drops that second close().
 */
function ignoreCloseAfterClosed(client) {
  const socket = client.connection.connection?.transport?.socket;
  if (!socket || socket.__closeGuard) return;
  const close = socket.close.bind(socket);
  socket.close = (...args) => { if (socket.readyState !== 3) close(...args); };
  socket.__closeGuard = true;
}

/**
 * The Pusher error code of a connection 'error' event: pusher-js reports
 * errors during the handshake wrapped in a WebSocketError, later ones plain.
 */
export function errorCode(e) {
  return e?.data?.code ?? e?.error?.data?.code;
}

/** Resolves after a round trip through the server: earlier events have arrived. */
export async function roundTrip(client) {
  const pong = within(new Promise((resolve) => {
    const onMessage = (ev) => {
      if (ev.event === 'pusher:pong') { client.connection.unbind('message', onMessage); resolve(); }
    };
    client.connection.bind('message', onMessage);
  }), 'pong');
  client.send_event('pusher:ping', {});
  await pong;
}

/** Rejects p if it has not settled within TIMEOUT_MS. */
export function within(p, what, ms = TIMEOUT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
