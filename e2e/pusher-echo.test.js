// Laravel Echo with its pusher broadcaster, as a Laravel front end uses it:
// a private channel and a presence channel, each receiving a REST publish
// made with the server SDK, as Laravel's broadcaster makes it.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Echo from 'laravel-echo';
import Pusher from 'pusher-js';
import { startServer } from './lib/server.js';
import { sdk, startAuthServer, within } from './lib/pusher.js';

const app = { id: 'laravel-app', key: 'laravel-key', secret: 'laravel-secret' };

let srv;
let auth;
const echos = [];

before(async () => {
  srv = await startServer({ config: { pusher: { apps: [{ ...app, enable_client_messages: true }] } } });
  auth = await startAuthServer(srv, app);
});

after(async () => {
  for (const e of echos) e.disconnect();
  await auth.close();
  const { code } = await srv.stop();
  assert.equal(code, 0, srv.logs());
});

/** An Echo instance for user, configured as Laravel's docs say for Pusher-compatible servers. */
function echoFor(user) {
  const echo = new Echo({
    broadcaster: 'pusher',
    Pusher,
    key: app.key,
    cluster: 'mt1',
    wsHost: srv.host,
    wsPort: srv.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    authEndpoint: `${auth.url}/auth?user=${user}`,
  });
  echos.push(echo);
  return echo;
}

/** Resolves when an Echo channel has subscribed. */
function subscribedTo(channel) {
  return within(new Promise((resolve, reject) => {
    channel.subscribed(() => resolve(channel));
    channel.error((e) => reject(new Error(`subscription error: ${JSON.stringify(e)}`)));
  }), 'Echo subscription');
}

test('private channel receives a REST publish', async () => {
  const echo = echoFor('taylor');
  const orders = await subscribedTo(echo.private('orders.1'));
  const got = within(new Promise((resolve) => orders.listen('.OrderShipped', resolve)), 'OrderShipped');
  await sdk(srv, app).trigger('private-orders.1', 'OrderShipped', { order: { id: 1 } });
  assert.deepEqual(await got, { order: { id: 1 } });
  assert.match(echo.socketId(), /^\d+\.\d+$/);
});

test('presence channel: here, joining, leaving, whisper and a REST publish', async () => {
  const taylor = echoFor('taylor');
  let here;
  const herePromise = new Promise((resolve) => { here = resolve; });
  const joined = new Promise((resolve) => { taylor.join('chat').here(here).joining(resolve); });
  const leaving = new Promise((resolve) => { taylor.join('chat').leaving(resolve); });
  const whisper = new Promise((resolve) => { taylor.join('chat').listenForWhisper('typing', resolve); });
  assert.deepEqual(await within(herePromise, 'here'), [{ name: 'taylor name' }]);

  const jeffrey = echoFor('jeffrey');
  const room = jeffrey.join('chat');
  const jeffreyHere = await within(new Promise((resolve) => room.here(resolve)), 'jeffrey here');
  assert.equal(jeffreyHere.length, 2);
  assert.deepEqual(await within(joined, 'joining'), { name: 'jeffrey name' });

  room.whisper('typing', { name: 'jeffrey' });
  assert.deepEqual(await within(whisper, 'whisper'), { name: 'jeffrey' });

  const got = within(new Promise((resolve) => taylor.join('chat').listen('.MessagePosted', resolve)), 'MessagePosted');
  await sdk(srv, app).trigger('presence-chat', 'MessagePosted', { text: 'hello' }, { socket_id: jeffrey.socketId() });
  assert.deepEqual(await got, { text: 'hello' });

  jeffrey.leave('chat');
  assert.deepEqual(await within(leaving, 'leaving'), { name: 'jeffrey name' });
});
