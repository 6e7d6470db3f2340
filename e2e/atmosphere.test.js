// The Atmosphere event subscription (/event/subscription, user/auth) driven
// by the real atmosphere.js 2.3.6 from npm, as a Navixy monitoring page
// would use it, in Node (its index.js supplies a fake window).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import {
  is, login, publish, putUser, refusingProxy, sleep, startAtmosphere, state, subscribeAction, subscribeV2,
} from './lib/atmosphere.js';

const require = createRequire(import.meta.url);
const atmosphere = require('atmosphere.js'); // 2.3.6: one module-wide client

let srv;
before(async () => {
  // Short heartbeats both ways, so that the tests see them being filtered.
  srv = await startAtmosphere({ heartbeat: '1s', client_heartbeat: '1s', long_polling: { poll_timeout: '1s' } });
  await putUser(srv, 'alice@example.com', 'D9#YoBaQd@RMjMSb', [1, 2, 3]);
});
after(async () => {
  const { code } = await srv.stop();
  assert.equal(code, 0, `switchboard exited with ${code}:\n${srv.logs()}`);
});

/** Subscribes with atmosphere.js to url: see subscribeV2. */
const open = (t, url, options) => subscribeV2(t, atmosphere, url, options);

for (const trackMessageLength of [false, true]) {
  test(`websocket (trackMessageLength ${trackMessageLength}): current state, changes, unsubscribe`, async (t) => {
    const other = trackMessageLength ? 3 : 2; // a tracker with no state yet
    await publish(srv, 'state', state(1, 10));
    const hash = await login(srv, 'alice@example.com', 'D9#YoBaQd@RMjMSb');
    const { sock, inbox, transport } = await open(t, `${srv.url}/event/subscription`, { trackMessageLength });
    assert.equal(transport, 'websocket');

    sock.push(subscribeAction(hash, [{ type: 'state', trackers: [1, other, 42] }]));
    const resp = await inbox.next(is.response, 'the subscribe response');
    assert.equal(resp.action, 'subscription/subscribe');
    assert.deepEqual(resp.events, ['state']);
    assert.deepEqual(resp.data.state, { success: true, value: { 1: 'normal', [other]: 'normal', 42: 'unknown' } });
    // The current state comes at once, after the response.
    const first = await inbox.next(is.state(1001), 'the current state');
    assert.equal(first.data.gps.speed, 10);
    assert.equal(first.data.name, 'Truck 🚚|A');
    assert.ok(first.at >= resp.at);
    assert.match(first.user_time, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);

    await publish(srv, 'state', state(other, 25));
    assert.equal((await inbox.next(is.state(1000 + other), 'a published change')).data.gps.speed, 25);

    // Heartbeats went both ways meanwhile (1 s), none reached onMessage and
    // none was answered with an error.
    await sleep(2500);
    assert.deepEqual(inbox.all((m) => m.unparsed !== undefined || m.type === 'error'), []);

    sock.push(JSON.stringify({ action: 'unsubscribe', hash, requests: [{ type: 'state', trackers: [other] }] }));
    const unsub = await inbox.next(is.response, 'the unsubscribe response');
    assert.deepEqual(unsub.data, { state: { success: true, value: { [other]: 'normal' } } });
    await publish(srv, 'state', state(other, 26));
    await publish(srv, 'state', state(1, 11));
    await inbox.next(is.state(1001, 11), 'tracker 1, still subscribed');
    assert.deepEqual(inbox.all(is.state(1000 + other)), [], 'delivered after unsubscribe');
  });
}

test('state_batch honours rate_limit', async (t) => {
  await publish(srv, 'state', state(3, 0));
  const hash = await login(srv, 'alice@example.com', 'D9#YoBaQd@RMjMSb');
  const { sock, inbox } = await open(t, `${srv.url}/event/subscription`);
  sock.push(subscribeAction(hash, [{ type: 'state_batch', target: { type: 'all' }, rate_limit: '1s', format: 'compact' }]));
  const resp = await inbox.next(is.response);
  assert.deepEqual(Object.keys(resp.data.state_batch.value).sort(), ['1', '2', '3']);
  const initial = await inbox.next(is.event('state_batch'), 'the initial batch');
  assert.deepEqual(initial.data.map((s) => s.source_id).sort(), [1001, 1002, 1003]);
  assert.equal(initial.data[0].battery_level, undefined, 'compact format keeps only its keys');

  // Five changes of tracker 3 in quick succession: one batch, not sooner
  // than the rate limit, with only tracker 3 at its latest value.
  for (let speed = 1; speed <= 5; speed++) await publish(srv, 'state', state(3, speed));
  const batch = await inbox.next(is.event('state_batch'), 'the next batch');
  assert.ok(batch.at - initial.at >= 900, `batch after ${batch.at - initial.at} ms`);
  assert.deepEqual(batch.data.map((s) => [s.source_id, s.gps.speed]), [[1003, 5]]);
  await sleep(1200);
  assert.deepEqual(inbox.all(is.event('state_batch')), [], 'a batch without changes');
});

test('a wrong hash gets error 3 or 4, and the connection stays', async (t) => {
  const { sock, inbox } = await open(t, `${srv.url}/event/subscription`);
  sock.push(subscribeAction('0'.repeat(32), [{ type: 'state', trackers: [1] }]));
  const unknown = await inbox.next(is.error, 'the error for an unknown hash');
  assert.equal(unknown.status.code, 4);
  assert.equal(unknown.action, 'subscription/subscribe');
  sock.push(JSON.stringify({ action: 'subscribe', hash: 'not-a-hash', events: ['state'], trackers: [1] }));
  const malformed = await inbox.next(is.error, 'the error for a malformed hash');
  assert.equal(malformed.status.code, 3);
  assert.deepEqual(malformed.data, { events: ['state'], trackers: [1] });
  // Still usable.
  sock.push(subscribeAction(await login(srv, 'alice@example.com', 'D9#YoBaQd@RMjMSb'), [{ type: 'state', trackers: [1] }]));
  await inbox.next(is.response);
});

test('falls back to long-polling when the WebSocket upgrade is refused', async (t) => {
  const proxy = await refusingProxy(srv);
  t.after(() => proxy.close());
  await publish(srv, 'state', state(1, 30));
  const hash = await login(srv, 'alice@example.com', 'D9#YoBaQd@RMjMSb');
  const { sock, inbox, transport } = await open(t, `${proxy.url}/event/subscription`);
  assert.equal(transport, 'long-polling');
  assert.ok(proxy.upgrades >= 1, 'the client did not try WebSocket first');

  sock.push(subscribeAction(hash, [{ type: 'state', trackers: [1] }]));
  await inbox.next(is.response, 'the response, through a poll');
  assert.equal((await inbox.next(is.state(1001), 'the current state')).data.gps.speed, 30);
  await publish(srv, 'state', state(1, 31));
  await inbox.next(is.state(1001, 31), 'a published change, through a held poll');
  // Idle polls end after the 1 s poll timeout with the X heartbeat,
  // which the client filters out.
  await sleep(2500);
  await publish(srv, 'state', state(1, 32));
  await inbox.next(is.state(1001, 32), 'a change after idle polls');
  assert.deepEqual(inbox.all((m) => m.unparsed !== undefined || m.type === 'error'), []);
});
