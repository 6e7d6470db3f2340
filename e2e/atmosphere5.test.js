// The Atmosphere event subscription driven by the real atmosphere.js 5.x
// from npm (the TypeScript rewrite), in Node with `ws` as its WebSocket.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { withTimeout } from './lib/ws.js';
import {
  Inbox, is, login, publish, putUser, refusingProxy, sleep, startAtmosphere, state, subscribeAction,
} from './lib/atmosphere.js';

globalThis.WebSocket = WebSocket; // atmosphere.js 5 needs a global WebSocket on Node 20
const { Atmosphere } = await import('atmosphere5');

let srv;
before(async () => {
  srv = await startAtmosphere({ heartbeat: '1s', client_heartbeat: '1s', long_polling: { poll_timeout: '1s' } });
  await putUser(srv, 'ops@example.com', 'pw-5', [7, 8, 9]);
});
after(async () => {
  const { code } = await srv.stop();
  assert.equal(code, 0, `switchboard exited with ${code}:\n${srv.logs()}`);
});

/**
 * Subscribes with atmosphere.js 5 and resolves once it is open: { sub,
 * inbox, transport }. With enableProtocol the client opens on the
 * handshake frame; it must push only after subscribe() resolved (on
 * long-polling, open fires before the handshake's tracking id is read).
 */
async function open(t, url, options = {}) {
  const inbox = new Inbox();
  let opened;
  const openP = new Promise((resolve) => { opened = resolve; });
  const sub = await new Atmosphere({ logLevel: 'silent' }).subscribe({
    url,
    transport: 'websocket',
    fallbackTransport: 'long-polling',
    enableProtocol: true,
    contentType: 'application/json',
    reconnectInterval: 500,
    ...options,
  }, {
    open: (res) => opened(res.transport),
    message: (res) => inbox.add(res.responseBody),
  });
  t.after(() => sub.close());
  const transport = await withTimeout(openP, 'open', 8000);
  return { sub, inbox, transport };
}

test('websocket: current state at once, changes, unsubscribe', async (t) => {
  await publish(srv, 'state', state(7, 70));
  const hash = await login(srv, 'ops@example.com', 'pw-5');
  const { sub, inbox, transport } = await open(t, `${srv.url}/event/subscription`);
  assert.equal(transport, 'websocket');

  sub.push(subscribeAction(hash, [{ type: 'state', trackers: [7, 8], format: 'compact' }]));
  const resp = await inbox.next(is.response);
  assert.deepEqual(resp.data.state.value, { 7: 'normal', 8: 'normal' });
  const current = await inbox.next(is.state(1007), 'the current state');
  assert.equal(current.data.gps.speed, 70);
  assert.equal(current.data.name, undefined, 'compact state kept a key it has not');

  await publish(srv, 'state', state(8, 80));
  await inbox.next(is.state(1008, 80), 'a published change');
  await sleep(2500); // heartbeats both ways
  assert.deepEqual(inbox.all((m) => m.unparsed !== undefined || m.type === 'error'), []);

  sub.push(JSON.stringify({ action: 'unsubscribe', hash, events: ['state'], trackers: [8] }));
  assert.deepEqual((await inbox.next(is.response)).data, [8]);
  await publish(srv, 'state', state(8, 81));
  await publish(srv, 'state', state(7, 71));
  await inbox.next(is.state(1007, 71));
  assert.deepEqual(inbox.all(is.state(1008)), [], 'delivered after unsubscribe');
});

test('state_batch honours rate_limit', async (t) => {
  const hash = await login(srv, 'ops@example.com', 'pw-5');
  const { sub, inbox } = await open(t, `${srv.url}/event/subscription`);
  sub.push(subscribeAction(hash, [{ type: 'state_batch', target: { type: 'selected', tracker_ids: [7, 9] }, rate_limit: '1s' }]));
  await inbox.next(is.response);
  const initial = await inbox.next(is.event('state_batch'), 'the initial batch');
  assert.deepEqual(initial.data.map((s) => s.source_id), [1007]);
  await publish(srv, 'state', [state(9, 1), state(9, 2), state(7, 3), state(9, 4)]);
  const batch = await inbox.next(is.event('state_batch'), 'the next batch');
  assert.ok(batch.at - initial.at >= 900, `batch after ${batch.at - initial.at} ms`);
  assert.deepEqual(batch.data.map((s) => [s.source_id, s.gps.speed]), [[1007, 3], [1009, 4]]);
});

test('a wrong hash gets error 3 or 4', async (t) => {
  const { sub, inbox } = await open(t, `${srv.url}/event/subscription`);
  sub.push(subscribeAction('f'.repeat(32), [{ type: 'state', trackers: [7] }]));
  assert.equal((await inbox.next(is.error)).status.code, 4);
  sub.push(subscribeAction('f'.repeat(31), [{ type: 'state', trackers: [7] }]));
  assert.equal((await inbox.next(is.error)).status.code, 3);
});

test('falls back to long-polling when the WebSocket upgrade is refused', async (t) => {
  const proxy = await refusingProxy(srv);
  t.after(() => proxy.close());
  const hash = await login(srv, 'ops@example.com', 'pw-5');
  const { sub, inbox, transport } = await open(t, `${proxy.url}/event/subscription`);
  assert.equal(transport, 'long-polling');
  assert.ok(proxy.upgrades >= 1);
  sub.push(subscribeAction(hash, [{ type: 'state', trackers: [7] }]));
  await inbox.next(is.response);
  await inbox.next(is.state(1007), 'the current state');
  await sleep(2500); // idle polls end with the X heartbeat
  await publish(srv, 'state', state(7, 72));
  await inbox.next(is.state(1007, 72), 'a change through a held poll');
  assert.deepEqual(inbox.all((m) => m.unparsed !== undefined || m.type === 'error'), []);
});
