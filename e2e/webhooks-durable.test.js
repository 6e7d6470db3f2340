// Webhooks with Redis survive the receiver being down and the sending node
// going away: a receiver that is not listening for 30 s, then returns, gets
// every event (by idempotency id), including events queued by a node that
// was restarted (SIGTERM) and by one that was killed (SIGKILL) before the
// receiver came back. The receiver checks each POST with the pusher SDK's
// webhook(), the filter and the custom header.
//
// Needs redis-server (see cluster.test.js for the skip rules). Takes about
// 32 s: the 30 s outage is real; node b holds the queue (the killed node's
// 15 s lease lapsed) and retries at most 10 s apart, so the receiver gets
// everything within about a second of returning.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { freePort, startServer } from './lib/server.js';
import { connectClient, sdk, startAuthServer, subscribed, within } from './lib/pusher.js';
import { redisSkip as skip, startRedis } from './lib/redis.js';

const app = { id: 'dur-id', key: 'dur-key', secret: 'dur-secret' };
const DOWN_MS = 30000;
const TOKEN = 'Bearer e2e-receiver-token';

let redis;
let hookPort;
let auth;
const nodes = [];

/** A node of the cluster, sending webhooks to hookPort. */
async function startNode(name) {
  const srv = await startServer({
    config: {
      cluster: { redis: redis.url, node_id: name, key_prefix: `e2e-dur-${process.pid}:` },
      pusher: {
        apps: [{
          ...app,
          webhooks: [{
            url: `http://127.0.0.1:${hookPort}/hook`,
            event_types: ['channel_occupied'],
            filter: { channel_name_starts_with: 'dur-' },
            headers: { Authorization: TOKEN },
          }],
        }],
      },
    },
  });
  nodes.push(srv);
  return srv;
}

/** Occupies each channel with a pusher-js client on srv, then disconnects it. */
async function occupy(srv, channels) {
  const client = await connectClient(srv, app, auth);
  for (const name of channels) await subscribed(client, name);
  await subscribed(client, 'other-not-sent'); // filtered out
  client.disconnect();
}

/** Resolves once srv's queue for the receiver holds n events (in Redis). */
async function queued(srv, n) {
  await within((async () => {
    for (;;) {
      const text = await (await fetch(`${srv.url}/metrics`)).text();
      const m = text.match(/^switchboard_pusher_webhook_queue_events\{[^}]*app_id="dur-id"[^}]*\} (\d+)/m);
      if (m && Number(m[1]) >= n) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  })(), `${n} events queued`, 10000);
}

before(async () => {
  if (skip) return;
  redis = await startRedis();
  hookPort = await freePort();
});

after(async () => {
  if (skip) return;
  await auth?.close();
  for (const srv of nodes) {
    const { code, signal } = await srv.stop();
    if (signal !== 'SIGKILL') assert.equal(code, 0, `switchboard exited with ${code}:\n${srv.logs()}`);
    assert.doesNotMatch(srv.logs(), /dur-secret|e2e-receiver-token/, 'a secret is in the logs');
  }
  if (redis) {
    redis.child.kill('SIGKILL');
    await redis.exited;
  }
});

test('a receiver down for 30 s gets every event once by id, across a restart and a kill', { skip, timeout: 90000 }, async () => {
  const started = Date.now();
  const first = await startNode('a');
  auth = await startAuthServer(first, app);

  // Queued by node a, which is then restarted: SIGTERM gives up its lease
  // and leaves the queue in Redis.
  const before = ['dur-a-0', 'dur-a-1', 'dur-a-2'];
  await occupy(first, before);
  await queued(first, before.length);
  assert.equal((await first.stop()).code, 0, first.logs());

  // Queued by the restarted node, which is then killed: its lease lapses
  // and node b, which never saw these events, takes the queue over.
  const restarted = await startNode('a');
  const after = ['dur-b-0', 'dur-b-1', 'dur-b-2'];
  await occupy(restarted, after);
  await queued(restarted, before.length + after.length);
  restarted.child.kill('SIGKILL');
  await restarted.exited;
  await startNode('b');

  // The receiver comes back 30 s after the first event.
  const byId = new Map();
  let posts = 0;
  let done;
  const all = new Promise((resolve) => { done = resolve; });
  const receiver = http.createServer(async (req, res) => {
    let rawBody = '';
    for await (const chunk of req) rawBody += chunk;
    const hook = sdk(first, app).webhook({ headers: req.headers, rawBody });
    assert.ok(hook.isValid(), `a POST failed the SDK's signature check: ${rawBody}`);
    assert.equal(req.headers.authorization, TOKEN);
    assert.match(req.headers['x-switchboard-webhook-id'], /^[0-9a-f]{32}$/);
    posts++;
    for (const ev of hook.getEvents()) byId.set(ev.id, [...(byId.get(ev.id) ?? []), ev]);
    res.writeHead(200).end();
    if (byId.size >= before.length + after.length) done();
  });
  await new Promise((r) => setTimeout(r, Math.max(0, started + DOWN_MS - Date.now())));
  receiver.listen(hookPort, '127.0.0.1');
  await once(receiver, 'listening');
  const back = Date.now();
  try {
    await within(all, 'every event after the receiver returned', 25000);
    const caughtUp = Date.now() - back;
    // Repeats, if any, come soon after: give them a moment before counting.
    await new Promise((r) => setTimeout(r, 1000));
    const events = [...byId.values()].map((evs) => evs[0]);
    assert.deepEqual(events.map((e) => e.channel).sort(), [...before, ...after].sort(), 'each channel once, by id');
    for (const e of events) assert.equal(e.name, 'channel_occupied');
    for (const evs of byId.values()) {
      for (const e of evs) assert.deepEqual(e, evs[0], 'a repeat of an id differs from the first');
    }
    const repeats = [...byId.values()].reduce((n, evs) => n + evs.length - 1, 0);
    process.stdout.write(`# delivered ${byId.size} events in ${posts} POSTs, ${repeats} repeats, ${caughtUp} ms after the receiver returned\n`);
  } finally {
    receiver.closeAllConnections();
    receiver.close();
  }
});
