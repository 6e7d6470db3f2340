// Webhooks of a two-node cluster on one Redis, received by a Node HTTP
// server that verifies each call with the server SDK, as an app does, with
// real pusher-js clients: the grace period hides a reload (even onto the
// other node), a real leave sends each webhook once, clients joining and
// leaving one channel on both nodes at the same moment make exactly one
// channel_occupied and one channel_vacated, and a node killed with SIGKILL
// sends its signed-in user's user_offline within the TTL and the grace.
//
// "Nothing more was sent" is checked without sleeping: a marker channel is
// left on the same node after the departure in question, so its
// channel_vacated, which the same node's queue carries, comes after any
// webhook that departure could still have caused.
//
// Like cluster.test.js, it starts its own redis-server and is skipped
// without one, unless SWITCHBOARD_TEST_REDIS=1 (make test).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { startServer } from './lib/server.js';
import { connectClient, sdk, startAuthServer, subscribed, within } from './lib/pusher.js';
import { redisSkip as skip, startRedis } from './lib/redis.js';

const app = { id: 'hooks-app', key: 'hooks-key', secret: 'hooks-secret' };
const TTL_MS = 1000;
const HEARTBEAT_MS = 200;
const GRACE_MS = 1000;

let redis;
let a;
let b;
let auth;
let hooks;
const clients = [];
const received = []; // { at, node, event }: every event of every valid call
const invalid = [];
let notify = () => {};

before(async () => {
  if (skip) return;
  hooks = http.createServer(async (req, res) => {
    let rawBody = '';
    for await (const chunk of req) rawBody += chunk;
    const webhook = sdk(a, app).webhook({ headers: req.headers, rawBody });
    if (!webhook.isValid()) invalid.push(rawBody);
    else for (const event of webhook.getEvents()) received.push({ at: Date.now(), node: req.url.slice(1), event });
    res.writeHead(200).end();
    notify();
  });
  hooks.listen(0, '127.0.0.1');
  await once(hooks, 'listening');
  redis = await startRedis();
  [a, b] = await Promise.all([startNode('a'), startNode('b')]);
  auth = await startAuthServer(a, app);
});

after(async () => {
  if (skip) return;
  for (const c of clients) if (c.connection.state !== 'disconnected') c.disconnect();
  await auth?.close();
  for (const srv of [a, b]) {
    if (!srv) continue;
    const { code, signal } = await srv.stop();
    if (signal !== 'SIGKILL') assert.equal(code, 0, `switchboard exited with ${code}:\n${srv.logs()}`);
  }
  if (redis) {
    redis.child.kill('SIGKILL');
    await redis.exited;
  }
  hooks?.closeAllConnections();
  hooks?.close();
  assert.deepEqual(invalid, [], 'a webhook failed the SDK signature check');
});

/** A node of the cluster; its webhooks go to /{nodeId} of the receiver. */
function startNode(nodeId) {
  return startServer({
    config: {
      cluster: {
        redis: redis.url, node_id: nodeId, key_prefix: `e2e-hooks-${process.pid}:`,
        presence_ttl: `${TTL_MS}ms`, heartbeat_interval: `${HEARTBEAT_MS}ms`,
      },
      pusher: {
        apps: [{
          ...app,
          webhook_grace_period: `${GRACE_MS}ms`,
          enable_user_online_events: true,
          webhooks: [{
            url: `http://127.0.0.1:${hooks.address().port}/${nodeId}`,
            event_types: ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'user_online', 'user_offline'],
          }],
        }],
      },
    },
  });
}

async function client(srv, user) {
  const c = await connectClient(srv, app, auth, { user });
  clients.push(c);
  return c;
}

/** "name channel user" of a webhook event. */
const label = (e) => [e.name, e.channel, e.user_id].filter(Boolean).join(' ');

/** The labels of the events received so far that match pred. */
const sent = (pred = () => true) => received.map((r) => r.event).filter(pred).map(label);

/** Waits until an event labelled l has been received; resolves with its record. */
function webhook(l, ms) {
  return within(new Promise((resolve) => {
    const check = () => {
      const r = received.find((x) => label(x.event) === l);
      if (r) resolve(r);
    };
    const prev = notify;
    notify = () => { prev(); check(); };
    check();
  }), `webhook "${l}"`, ms);
}

let markers = 0;

/**
 * Subscribes a new client of srv to a new marker channel and leaves it;
 * resolves once its channel_vacated arrived, after everything the node
 * queued before.
 */
async function flush(srv) {
  const name = `marker-${++markers}`;
  const c = await client(srv, 'marker');
  await subscribed(c, name);
  c.disconnect();
  await webhook(`channel_vacated ${name}`, GRACE_MS + 5000);
}

/** Waits for the server to see the disconnection of c. */
function disconnected(c) {
  return within(new Promise((resolve) => {
    if (c.connection.state === 'disconnected') return resolve();
    c.connection.bind('state_change', ({ current }) => { if (current === 'disconnected') resolve(); });
  }), 'disconnection');
}

test('a reload within the grace period, even onto the other node, sends no webhook', { skip }, async () => {
  const first = await client(a, 'rita');
  await subscribed(first, 'presence-reload');
  await webhook('user_online rita');
  await webhook('member_added presence-reload rita');
  await webhook('channel_occupied presence-reload');

  first.disconnect(); // the page reloads: a new connection, on node b
  await disconnected(first);
  const second = await client(b, 'rita');
  await subscribed(second, 'presence-reload');
  await flush(a); // node a's settle of rita's departure came and went
  await flush(b);
  const names = sent((e) => e.channel === 'presence-reload' || e.user_id === 'rita').sort();
  assert.deepEqual(names, ['channel_occupied presence-reload', 'member_added presence-reload rita', 'user_online rita']);

  // A real leave: each webhook once, after the grace.
  const left = Date.now();
  second.disconnect();
  const removed = await webhook('member_removed presence-reload rita', GRACE_MS + 5000);
  await webhook('channel_vacated presence-reload', GRACE_MS + 5000);
  await webhook('user_offline rita', GRACE_MS + 5000);
  assert.ok(removed.at - left >= GRACE_MS - 50, `member_removed ${removed.at - left} ms after the leave, before the grace`);
  await flush(b);
  await flush(a);
  assert.deepEqual(sent((e) => e.channel === 'presence-reload' || e.user_id === 'rita').sort(), [
    'channel_occupied presence-reload', 'channel_vacated presence-reload', 'member_added presence-reload rita',
    'member_removed presence-reload rita', 'user_offline rita', 'user_online rita',
  ]);
});

test('clients joining and leaving one channel on both nodes at once: one occupied, one vacated', { skip }, async () => {
  const rounds = 20;
  const channels = Array.from({ length: rounds }, (_, i) => `race-${i}`);
  const onA = await Promise.all(channels.map(() => client(a, 'racer-a')));
  const onB = await Promise.all(channels.map(() => client(b, 'racer-b')));
  await Promise.all(channels.flatMap((name, i) => [subscribed(onA[i], name), subscribed(onB[i], name)]));
  for (const c of [...onA, ...onB]) c.disconnect();
  await Promise.all(channels.map((name) => webhook(`channel_vacated ${name}`, GRACE_MS + 5000)));
  await flush(a);
  await flush(b);
  for (const name of channels) {
    const got = sent((e) => e.channel === name);
    assert.deepEqual(got.sort(), [`channel_occupied ${name}`, `channel_vacated ${name}`],
      `webhooks of ${name} from the two nodes: ${JSON.stringify(got)}`);
  }
});

// Last: it kills node b.
test('a node killed with SIGKILL: its user goes offline within the TTL and the grace', { skip }, async () => {
  const kim = await client(b, 'kim');
  kim.connection.bind('error', () => {}); // its node is about to die
  kim.signin();
  await within(kim.user.signinDonePromise, 'sign-in');
  await webhook('user_online kim');
  const online = await (await sdk(a, app).get({ path: '/users' })).json();
  assert.ok(online.users.some((u) => u.id === 'kim'), `kim is not in GET /users: ${JSON.stringify(online)}`);

  const killed = Date.now();
  b.child.kill('SIGKILL');
  await b.exited;
  kim.disconnect();
  const bound = TTL_MS + GRACE_MS + 3 * HEARTBEAT_MS + 2000;
  const offline = await webhook('user_offline kim', bound);
  assert.ok(offline.at - killed <= bound, `user_offline took ${offline.at - killed} ms`);
  assert.equal(offline.node, 'a', 'the surviving node sends it');
  const after = await (await sdk(a, app).get({ path: '/users' })).json();
  assert.ok(!after.users.some((u) => u.id === 'kim'), `kim is still in GET /users: ${JSON.stringify(after)}`);
  await flush(a);
  assert.deepEqual(sent((e) => e.user_id === 'kim'), ['user_online kim', 'user_offline kim']);
});
