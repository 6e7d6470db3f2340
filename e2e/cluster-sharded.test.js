// Two switchboard nodes on a Redis Cluster of three primaries behave as one
// server for pusher-js clients: client events and REST publishes on
// channels spread over every shard cross nodes (sharded pub/sub), in order,
// and presence is one list for the cluster.
//
// The test starts its own cluster (REDIS_SERVER and REDIS_CLI, else
// redis-server and redis-cli on PATH) on free loopback ports and stops it
// after; without them it is skipped with the reason, unless
// SWITCHBOARD_TEST_REDIS=1 (make test), which turns that into a failure.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.js';
import {
  collect, connectClient, nextEvent, roundTrip, sdk, startAuthServer, subscribed, within,
} from './lib/pusher.js';
import { cli, redisClusterSkip as skip, startRedisCluster } from './lib/redis.js';

const app = { id: 'app-id', key: 'app-key', secret: 'app-secret' };
const prefix = `e2e-sharded-${process.pid}:`;

let rc;
let a;
let b;
let auth;
const clients = [];

function startNode(nodeId) {
  return startServer({
    config: {
      cluster: { redis: rc.url, node_id: nodeId, key_prefix: prefix, presence_ttl: '2s', heartbeat_interval: '400ms' },
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
  rc = await startRedisCluster(3);
  [a, b] = await Promise.all([startNode('a'), startNode('b')]);
  auth = await startAuthServer(a, app);
});

after(async () => {
  if (skip) return;
  for (const c of clients) c.disconnect();
  await auth?.close();
  for (const srv of [a, b]) {
    if (!srv) continue;
    const { code } = await srv.stop();
    assert.equal(code, 0, `switchboard exited with ${code}:\n${srv.logs()}`);
  }
  await rc?.stop();
});

test('both nodes connect to the cluster', { skip }, async () => {
  await a.waitForLog(/msg="redis: connected/);
  await b.waitForLog(/msg="redis: connected/);
  assert.match(a.logs(), /redis="cluster 127\.0\.0\.1:/);
});

test('client events cross nodes, both ways', { skip }, async () => {
  const alice = await client(a, { user: 'alice' });
  const bob = await client(b, { user: 'bob' });
  const onA = await subscribed(alice, 'private-chat');
  const onB = await subscribed(bob, 'private-chat');
  const toBob = nextEvent(onB, 'client-hello');
  onA.trigger('client-hello', { from: 'alice' });
  assert.deepEqual((await toBob).data, { from: 'alice' });
  const toAlice = nextEvent(onA, 'client-reply');
  onB.trigger('client-reply', { from: 'bob' });
  assert.deepEqual((await toAlice).data, { from: 'bob' });
});

test('REST publishes on node a reach node b on channels of every shard, in order, by sharded pub/sub', { skip }, async () => {
  const listener = await client(b);
  const names = Array.from({ length: 12 }, (_, i) => `news-${i}`);
  const got = new Map(names.map((n) => [n, []]));
  const all = [];
  for (const name of names) {
    const ch = await subscribed(listener, name);
    all.push(within(new Promise((resolve) => {
      ch.bind('n', (d) => { got.get(name).push(d.i); if (got.get(name).length === 10) resolve(); });
    }), `10 events on ${name}`));
  }
  const api = sdk(a, app);
  for (let i = 0; i < 10; i++) {
    await Promise.all(names.map((name) => api.trigger(name, 'n', { i })));
  }
  await Promise.all(all);
  for (const name of names) assert.deepEqual(got.get(name), [...Array(10).keys()], name);

  // Every primary holds some of these shard channels, and none holds a
  // classic subscription: PUBSUB SHARDCHANNELS / CHANNELS per node.
  for (const n of rc.nodes) {
    const shard = cli(n.port, 'pubsub', 'shardchannels', `${prefix}m:*`).split('\n').filter(Boolean);
    assert.ok(shard.length > 0, `primary ${n.port} holds no shard channel`);
    assert.equal(cli(n.port, 'pubsub', 'channels', `${prefix}*`).trim(), '', `classic channels on ${n.port}`);
  }
});

test('presence is one list for the cluster', { skip }, async () => {
  const alice = await client(a, { user: 'alice' });
  const room = await subscribed(alice, 'presence-room');
  const added = nextEvent(room, 'pusher:member_added');
  const carol = await client(b, { user: 'carol' });
  const carolRoom = await subscribed(carol, 'presence-room');
  assert.equal((await added).data.id, 'carol');
  assert.deepEqual(Object.keys(carolRoom.members.members).sort(), ['alice', 'carol']);

  const addedAgain = collect(room, 'pusher:member_added');
  const carol2 = await client(a, { user: 'carol' });
  await subscribed(carol2, 'presence-room');
  await roundTrip(alice);
  assert.deepEqual(addedAgain, [], 'a second connection of carol was announced');

  const users = await (await sdk(b, app).get({ path: '/channels/presence-room/users' })).json();
  assert.deepEqual(users, { users: [{ id: 'alice' }, { id: 'carol' }] });
  const gone = nextEvent(room, 'pusher:member_removed');
  carol.disconnect();
  carol2.disconnect();
  assert.equal((await gone).data.id, 'carol');
});
