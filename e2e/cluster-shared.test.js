// Two switchboard nodes on one Redis share the dialects' state: a token
// registered through node A's API admits a token-broker client on node B
// (with AllowUnregisteredClients off), and an Atmosphere session hash from
// node A's user/auth works with atmosphere.js on node B, whose subscriber
// gets the logout event when the session is logged out on node A.
//
// The test starts its own redis-server, like cluster.test.js (see
// lib/redis.js): skipped without one, a failure with SWITCHBOARD_TEST_REDIS=1.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { startServer } from './lib/server.js';
import { redisSkip as skip, startRedis } from './lib/redis.js';
import { connect, withTimeout } from './lib/ws.js';
import {
  api as atmoApi, is, login, publish, putUser, state, subscribeAction, subscribeV2,
} from './lib/atmosphere.js';

const require = createRequire(import.meta.url);
const atmosphere = require('atmosphere.js'); // 2.3.6: one module-wide client

let redis;
let a;
let b;

function startNode(nodeId) {
  return startServer({
    config: {
      cluster: { redis: redis.url, node_id: nodeId, key_prefix: `e2e-shared-${process.pid}:` },
      tokens: { allow_unregistered_clients: false },
      atmosphere: {},
    },
  });
}

before(async () => {
  if (skip) return;
  redis = await startRedis();
  [a, b] = await Promise.all([startNode('a'), startNode('b')]);
});

after(async () => {
  if (skip) return;
  for (const srv of [a, b]) {
    if (!srv) continue;
    const { code } = await srv.stop();
    assert.equal(code, 0, `switchboard exited with ${code}:\n${srv.logs()}`);
    // Redis was up throughout: no dialect saw its shared store fail (not
    // even while the bus connected at start).
    assert.doesNotMatch(srv.logs(), /shared store unavailable/);
  }
  if (redis) {
    redis.child.kill('SIGKILL');
    await redis.exited;
  }
});

/** POSTs form fields to the token broker's API of srv. */
async function tokenAPI(srv, fields) {
  const res = await fetch(`${srv.url}/`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: res.status, body: await res.json() };
}

/** Connects a token-broker client holding token to srv; rejects when the handshake is refused. */
async function tokenClient(t, srv, token) {
  const ws = await connect(srv.wsUrl(`/ws?RegisterToken=${encodeURIComponent(token)}`));
  t.after(() => ws.terminate());
  ws.frames = [];
  ws.on('message', (data) => ws.frames.push(data.toString('utf8')));
  return ws;
}

/** Resolves to the next frame ws received. */
async function nextFrame(ws) {
  await withTimeout((async () => {
    while (ws.frames.length === 0) await new Promise((r) => setTimeout(r, 10));
  })(), 'a frame');
  return ws.frames.shift();
}

test('a token registered on node a admits a client on node b at once', { skip }, async (t) => {
  await assert.rejects(tokenClient(t, b, 'never-registered'), /handshake answered 403/);

  let res = await tokenAPI(a, { method: 'registerToken', token: 'shared/1' });
  assert.deepEqual([res.status, res.body], [200, { ok: true }]);
  const onB = await tokenClient(t, b, 'shared/1');
  res = await tokenAPI(b, { method: 'registeredTokenList' });
  assert.equal(res.body['shared/1'], true, 'registeredTokenList of node b');

  // Routing crosses nodes as well: a broadcast through a reaches b's client.
  onB.send('Echo:ready');
  assert.equal(await nextFrame(onB), '"ready"\n');
  res = await tokenAPI(a, { method: 'broadcast', message: 'shared/|to the group' });
  assert.equal(res.status, 200);
  assert.equal(await nextFrame(onB), '"to the group"\n');

  res = await tokenAPI(a, { method: 'unregisterToken', token: 'shared/1' });
  assert.equal(res.status, 200);
  res = await tokenAPI(b, { method: 'registeredTokenList' });
  assert.equal(res.body['shared/1'], false, 'registeredTokenList of node b after unregisterToken on a');
});

test('an Atmosphere hash from node a works on node b; logout on a reaches b', { skip }, async (t) => {
  // Users made through the publisher API are per node: make alice on both.
  for (const srv of [a, b]) await putUser(srv, 'alice@example.com', 'D9#YoBaQd@RMjMSb', [1, 2]);
  const hash = await login(a, 'alice@example.com', 'D9#YoBaQd@RMjMSb');

  const { sock, inbox, transport } = await subscribeV2(t, atmosphere, `${b.url}/event/subscription`);
  assert.equal(transport, 'websocket');

  sock.push(subscribeAction(hash, [{ type: 'state', trackers: [1] }]));
  const resp = await inbox.next(is.response, 'the subscribe response on node b');
  assert.deepEqual(resp.data.state, { success: true, value: { 1: 'normal' } });

  await publish(a, 'state', state(1, 42));
  assert.equal((await inbox.next(is.state(1001, 42), 'a state published on node a')).data.gps.speed, 42);

  const out = await atmoApi(a, 'POST', '/user/logout', { hash });
  assert.deepEqual([out.status, out.body], [200, { success: true }]);
  const ev = await inbox.next(is.event('logout'), 'the logout event on node b');
  assert.equal(ev.data, 'session closed');

  // The hash is refused on b now (error 4).
  sock.push(subscribeAction(hash, [{ type: 'state', trackers: [1] }]));
  const err = await inbox.next(is.error, 'the error for the ended hash');
  assert.equal(err.status.code, 4);
});
