// Configured Pusher apps: several apps with their own credentials and
// limits, a disabled app, client events off, and webhooks that the server
// SDK's own verifier accepts.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import Pusher from 'pusher-js';
import { startServer } from './lib/server.js';
import {
  clientOptions, connectClient, errorCode, nextConnectionError, nextEvent, sdk, startAuthServer, subscribed, within,
} from './lib/pusher.js';

const main = { id: 'main', key: 'main-key', secret: 'main-secret' };
const off = { id: 'off', key: 'off-key', secret: 'off-secret' };
const lim = { id: 'lim', key: 'lim-key', secret: 'lim-secret' };

let srv;
let auth;
let hooks;
const clients = [];
const received = []; // { valid, events }
let notify = () => {};

before(async () => {
  // The webhook receiver verifies each call with the SDK, as an app does.
  hooks = http.createServer(async (req, res) => {
    let rawBody = '';
    for await (const chunk of req) rawBody += chunk;
    const webhook = sdk(srv, main).webhook({ headers: req.headers, rawBody });
    received.push({ valid: webhook.isValid(), events: webhook.isValid() ? webhook.getEvents() : [] });
    res.writeHead(200).end();
    notify();
  });
  hooks.listen(0, '127.0.0.1');
  await once(hooks, 'listening');
  srv = await startServer({
    config: {
      pusher: {
        apps: [
          // A short grace period: member_removed and channel_vacated wait for it.
          { ...main, max_connections: 3, webhook_grace_period: '300ms', webhooks: [{ url: `http://127.0.0.1:${hooks.address().port}/hook` }] },
          { ...off, enabled: false },
          { ...lim, max_channels_per_connection: 2 },
        ],
      },
    },
  });
  auth = await startAuthServer(srv, main);
});

after(async () => {
  for (const c of clients) if (c.connection.state === 'connected') c.disconnect();
  await auth.close();
  const { code } = await srv.stop();
  hooks.close();
  assert.equal(code, 0, srv.logs());
  assert.doesNotMatch(srv.logs(), /main-secret|off-secret/, 'a secret is in the logs');
  assert.doesNotMatch(srv.logs(), /no apps configured/);
});

/** Waits until the webhooks received contain an event matching pred. */
async function webhookEvent(pred) {
  await within(new Promise((resolve) => {
    const check = () => {
      const all = received.flatMap((r) => r.events);
      if (all.some(pred)) resolve();
    };
    notify = check;
    check();
  }), 'webhook');
  assert.ok(received.every((r) => r.valid), 'a webhook failed the SDK signature check');
}

test('the default app is not served once apps are configured', async () => {
  const res = await sdk(srv, { id: 'app-id', key: 'app-key', secret: 'app-secret' }).trigger('x', 'y', {}).catch((e) => e);
  assert.equal(res.status, 404);
});

test('a disabled app is refused with 4003, and 403 on REST', async () => {
  const c = new Pusher(off.key, clientOptions(srv, auth));
  clients.push(c);
  const err = await within(new Promise((resolve) => c.connection.bind('error', resolve)), 'error');
  assert.equal(errorCode(err), 4003);
  await assert.rejects(sdk(srv, off).trigger('x', 'y', {}), (e) => e.status === 403);
});

test('an unknown key is refused with 4001', async () => {
  const c = new Pusher('nope', clientOptions(srv, auth));
  clients.push(c);
  const err = await within(new Promise((resolve) => c.connection.bind('error', resolve)), 'error');
  assert.equal(errorCode(err), 4001);
});

test('client events are refused when the app does not enable them', async () => {
  const a = await connectClient(srv, main, auth, { user: 'a' });
  clients.push(a);
  const ch = await subscribed(a, 'private-x');
  const err = nextConnectionError(a);
  ch.trigger('client-x', {});
  const e = await err;
  assert.equal(e.data.code, null);
  assert.match(e.data.message, /client/i);
  a.disconnect();
});

test('webhooks: occupied, member_added, member_removed, vacated, signed', async () => {
  const c = await connectClient(srv, main, auth, { user: 'ivan' });
  clients.push(c);
  await subscribed(c, 'presence-hooks');
  await webhookEvent((e) => e.name === 'channel_occupied' && e.channel === 'presence-hooks');
  await webhookEvent((e) => e.name === 'member_added' && e.channel === 'presence-hooks' && e.user_id === 'ivan');
  c.unsubscribe('presence-hooks');
  await webhookEvent((e) => e.name === 'member_removed' && e.user_id === 'ivan');
  await webhookEvent((e) => e.name === 'channel_vacated' && e.channel === 'presence-hooks');
  const ch = c.subscribe('cache-hooks');
  await nextEvent(ch, 'pusher:cache_miss');
  await webhookEvent((e) => e.name === 'cache_miss' && e.channel === 'cache-hooks');
  c.disconnect();
});

test('max_connections: the app\'s fourth connection is refused with 4004', async () => {
  const open = [];
  for (let i = 0; i < 3; i++) {
    const c = await connectClient(srv, main, auth);
    clients.push(c);
    open.push(c);
  }
  const fourth = new Pusher(main.key, clientOptions(srv, auth));
  clients.push(fourth);
  const err = await within(new Promise((resolve) => fourth.connection.bind('error', resolve)), 'error');
  assert.equal(errorCode(err), 4004);
  for (const c of open) c.disconnect();
});

test('max_channels_per_connection: a third channel gets LimitReached 4100; the connection stays usable', async () => {
  const c = await connectClient(srv, lim, auth);
  clients.push(c);
  const first = await subscribed(c, 'limited-1');
  await subscribed(c, 'limited-2');
  // pusher-js hands the server's data as it is to the channel's binding.
  const refused = await subscribed(c, 'limited-3').then(
    () => assert.fail('a third channel was admitted'),
    (e) => { if (!e.data) throw e; return e.data; },
  );
  assert.equal(refused.type, 'LimitReached');
  assert.equal(refused.status, 4100);
  assert.match(refused.error, /at most 2/);

  // The connection stays open, and a publish on a subscribed channel arrives.
  assert.equal(c.connection.state, 'connected');
  const got = nextEvent(first, 'news');
  await sdk(srv, lim).trigger('limited-1', 'news', { n: 1 });
  assert.deepEqual((await got).data, { n: 1 });
  assert.equal(c.connection.state, 'connected');
  c.disconnect();
});
