// Two switchboard nodes on one Redis behave as one server for pusher-js
// clients: client events and REST publishes cross nodes, presence is one
// list, REST answers for the cluster, and a node killed with SIGKILL has
// its members removed on the other node.
//
// The test starts its own redis-server (REDIS_SERVER, else redis-server on
// PATH) on a free loopback port and stops it after. Without redis-server the
// test is skipped with the reason, unless SWITCHBOARD_TEST_REDIS=1 (make
// test), which turns that into a failure.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.js';
import {
  collect, connectClient, nextEvent, roundTrip, sdk, startAuthServer, subscribed, within,
} from './lib/pusher.js';
import { redisSkip as skip, startRedis } from './lib/redis.js';

const app = { id: 'app-id', key: 'app-key', secret: 'app-secret' };
const TTL_MS = 2000;
const HEARTBEAT_MS = 400;

let redis;
let a;
let b;
let auth;
const clients = [];

/** A switchboard node of the cluster. */
function startNode(nodeId) {
  return startServer({
    config: {
      cluster: {
        redis: redis.url, node_id: nodeId, key_prefix: `e2e-${process.pid}:`,
        presence_ttl: `${TTL_MS}ms`, heartbeat_interval: `${HEARTBEAT_MS}ms`,
      },
    },
  });
}

async function client(srv, opts) {
  const c = await connectClient(srv, app, auth, opts);
  clients.push(c);
  return c;
}

before(async () => {
  if (skip) return;
  redis = await startRedis();
  [a, b] = await Promise.all([startNode('a'), startNode('b')]);
  auth = await startAuthServer(a, app); // signs for any node: the app's secret is the same
});

after(async () => {
  if (skip) return;
  // Clients of the killed node are reconnecting: stop them too.
  for (const c of clients) if (c.connection.state !== 'disconnected') c.disconnect();
  await auth?.close();
  for (const srv of [a, b]) {
    if (!srv) continue;
    const { code, signal } = await srv.stop();
    if (signal !== 'SIGKILL') assert.equal(code, 0, `switchboard exited with ${code}:\n${srv.logs()}`);
    assert.doesNotMatch(srv.logs(), /app-secret/, 'the app secret is in the logs');
  }
  if (redis) {
    redis.child.kill('SIGKILL');
    await redis.exited;
  }
});

test('both nodes report a Redis connection', { skip }, async () => {
  await a.waitForLog(/msg="redis: connected/);
  await b.waitForLog(/msg="redis: connected/);
  assert.doesNotMatch(a.logs() + b.logs(), /redis:\/\/127/, 'the Redis URL is logged');
});

test('client events cross nodes, both ways', { skip }, async () => {
  const alice = await client(a, { user: 'alice' });
  const bob = await client(b, { user: 'bob' });
  const onA = await subscribed(alice, 'private-chat');
  const onB = await subscribed(bob, 'private-chat');
  const echoToSelf = collect(onA, 'client-hello');

  const toBob = nextEvent(onB, 'client-hello');
  onA.trigger('client-hello', { from: 'alice' });
  assert.deepEqual((await toBob).data, { from: 'alice' });

  const toAlice = nextEvent(onA, 'client-reply');
  onB.trigger('client-reply', { from: 'bob' });
  assert.deepEqual((await toAlice).data, { from: 'bob' });
  await roundTrip(alice);
  assert.deepEqual(echoToSelf, [], 'the sender got its own client event');
});

test('a REST publish to either node reaches clients on both', { skip }, async () => {
  const onA = await subscribed(await client(a), 'news');
  const onB = await subscribed(await client(b), 'news');
  for (const [srv, title] of [[a, 'via a'], [b, 'via b']]) {
    const got = [nextEvent(onA, 'headline'), nextEvent(onB, 'headline')];
    await sdk(srv, app).trigger('news', 'headline', { title });
    for (const p of got) assert.deepEqual((await p).data, { title });
  }
});

test('messages from one node arrive in order on the other', { skip }, async () => {
  const onB = await subscribed(await client(b), 'ordered');
  const got = [];
  const all = within(new Promise((resolve) => {
    onB.bind('n', (d) => { got.push(d.i); if (got.length === 50) resolve(); });
  }), '50 events');
  const api = sdk(a, app);
  for (let i = 0; i < 50; i++) await api.trigger('ordered', 'n', { i });
  await all;
  assert.deepEqual(got, [...Array(50).keys()]);
});

test('presence is one list for the cluster, and REST answers for it', { skip }, async () => {
  const alice = await client(a, { user: 'alice' });
  const room = await subscribed(alice, 'presence-room');
  const added = nextEvent(room, 'pusher:member_added');
  const carol = await client(b, { user: 'carol' });
  const carolRoom = await subscribed(carol, 'presence-room');
  assert.equal((await added).data.id, 'carol');
  assert.deepEqual(Object.keys(carolRoom.members.members).sort(), ['alice', 'carol']);

  // A second connection of carol, on the other node, is not a new member.
  const addedAgain = collect(room, 'pusher:member_added');
  const carol2 = await client(a, { user: 'carol' });
  await subscribed(carol2, 'presence-room');
  await roundTrip(alice);
  assert.deepEqual(addedAgain, []);

  for (const srv of [a, b]) {
    const api = sdk(srv, app);
    const users = await (await api.get({ path: '/channels/presence-room/users' })).json();
    assert.deepEqual(users, { users: [{ id: 'alice' }, { id: 'carol' }] }, `users from node ${srv.port}`);
    const info = await (await api.get({ path: '/channels/presence-room', params: { info: 'user_count,subscription_count' } })).json();
    assert.deepEqual(info, { occupied: true, user_count: 2, subscription_count: 3 }, `channel info from node ${srv.port}`);
  }

  const removed = collect(room, 'pusher:member_removed');
  carol.disconnect();
  await roundTrip(alice);
  assert.deepEqual(removed, [], 'carol left while still connected through node a');
  const gone = nextEvent(room, 'pusher:member_removed');
  carol2.disconnect();
  assert.equal((await gone).data.id, 'carol');
});

/** Polls GET /readyz of srv until it answers status. */
async function readyz(srv, status, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    const res = await fetch(`${srv.url}/readyz`);
    last = `${res.status} ${(await res.text()).trim()}`;
    if (res.status === status) return last;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`/readyz of ${srv.port} did not answer ${status} within ${timeoutMs} ms (last: ${last})`);
}

test('Redis down: local delivery goes on, /readyz is 503; Redis back: cross-node delivery resumes', { skip }, async () => {
  const onA = await subscribed(await client(a), 'outage');
  const onB = await subscribed(await client(b), 'outage');
  const missed = collect(onB, 'during');

  redis.child.kill('SIGKILL');
  await redis.exited;
  const body = await readyz(a, 503);
  assert.match(body, /redis/);
  await readyz(b, 503);
  await a.waitForLog(/level=WARN msg="redis: unreachable/);

  const local = nextEvent(onA, 'during');
  await sdk(a, app).trigger('outage', 'during', { n: 1 });
  assert.deepEqual((await local).data, { n: 1 });

  redis = await startRedis(redis.port);
  await readyz(a, 200);
  await readyz(b, 200);
  const resumed = nextEvent(onB, 'after');
  await sdk(a, app).trigger('outage', 'after', { n: 2 });
  assert.deepEqual((await resumed).data, { n: 2 });
  assert.deepEqual(missed, [], 'node b got a publish made on node a while Redis was down');
  // One line per change of state on each node, not one per retry.
  assert.equal(a.logs().match(/msg="redis: unreachable/g).length, 1);
  assert.equal(a.logs().match(/msg="redis: connected/g).length, 2);
});

// Last: it kills node b.
test('a node killed with SIGKILL: its members are removed on the other node within the TTL', { skip }, async () => {
  const alice = await client(a, { user: 'alice' });
  const lobby = await subscribed(alice, 'presence-lobby');
  const added = nextEvent(lobby, 'pusher:member_added');
  const dave = await client(b, { user: 'dave' });
  dave.connection.bind('error', () => {}); // its node is about to die
  await subscribed(dave, 'presence-lobby');
  await added;

  const removed = nextEvent(lobby, 'pusher:member_removed');
  removed.catch(() => {});
  const killed = Date.now();
  b.child.kill('SIGKILL');
  await b.exited;
  dave.disconnect();
  const bound = TTL_MS + 2 * HEARTBEAT_MS + 2000;
  const { data } = await within(removed, 'member_removed after the kill', bound);
  assert.equal(data.id, 'dave');
  assert.ok(Date.now() - killed <= bound, `member_removed took ${Date.now() - killed} ms`);
  assert.equal(lobby.members.count, 1);
  const users = await (await sdk(a, app).get({ path: '/channels/presence-lobby/users' })).json();
  assert.deepEqual(users, { users: [{ id: 'alice' }] });
});
