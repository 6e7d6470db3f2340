// The Pusher dialect against the official clients: pusher-js 8 for the
// WebSocket side and the pusher 5 server SDK for the REST API and for
// signing, with the auth endpoint served by the test itself.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.js';
import {
  collect, connectClient, nextConnectionError, nextEvent, roundTrip, sdk,
  startAuthServer, subscribed, within,
} from './lib/pusher.js';

// No apps configured: the default app, with client events and sign-in on.
const app = { id: 'app-id', key: 'app-key', secret: 'app-secret' };

let srv;
let auth;
let api;
const clients = [];

before(async () => {
  srv = await startServer();
  auth = await startAuthServer(srv, app);
  api = sdk(srv, app);
});

after(async () => {
  // Clients the server closed are left alone: disconnecting them again
  // leaves a 30 s close timer in the WebSocket library.
  for (const c of clients) if (c.connection.state === 'connected') c.disconnect();
  await auth.close();
  const { code } = await srv.stop();
  assert.equal(code, 0, `switchboard exited with ${code}:\n${srv.logs()}`);
  assert.doesNotMatch(srv.logs(), /app-secret/, 'the app secret is in the logs');
});

/** A connected pusher-js client, disconnected after the tests. */
async function client(opts) {
  const c = await connectClient(srv, app, auth, opts);
  clients.push(c);
  return c;
}

test('warns that the default app is served', async () => {
  await srv.waitForLog(/level=WARN msg="pusher: no apps configured/);
});

test('connects with a socket id the SDK accepts', async () => {
  const c = await client();
  assert.match(c.connection.socket_id, /^\d+\.\d+$/);
  // The SDK validates socket ids when it signs: it must accept ours.
  const signed = api.authorizeChannel(c.connection.socket_id, 'private-x');
  assert.match(signed.auth, /^app-key:[0-9a-f]{64}$/);
});

test('public channel receives a REST publish', async () => {
  const c = await client();
  const ch = await subscribed(c, 'news');
  const got = nextEvent(ch, 'headline');
  await api.trigger('news', 'headline', { title: 'hello' });
  assert.deepEqual((await got).data, { title: 'hello' });
});

test('private channel, and a wrong auth signature', async () => {
  const c = await client();
  const ch = await subscribed(c, 'private-orders');
  const got = nextEvent(ch, 'shipped');
  await api.trigger('private-orders', 'shipped', { id: 7 });
  assert.deepEqual((await got).data, { id: 7 });

  const bad = await client({ bad: true });
  await assert.rejects(subscribed(bad, 'private-orders'), (err) => {
    assert.equal(err.data.status, 401);
    assert.equal(err.data.type, 'AuthError');
    return true;
  });
  // The connection stays usable.
  await subscribed(bad, 'news');
  assert.equal(bad.connection.state, 'connected');
});

test('presence channel: members, joining and leaving, once per user', async () => {
  const alice = await client({ user: 'alice' });
  const room = await subscribed(alice, 'presence-room');
  assert.equal(room.members.count, 1);
  assert.equal(room.members.me.id, 'alice');
  assert.deepEqual(room.members.me.info, { name: 'alice name' });

  const added = nextEvent(room, 'pusher:member_added');
  const bob1 = await client({ user: 'bob' });
  const bobRoom = await subscribed(bob1, 'presence-room');
  assert.equal(bobRoom.members.count, 2);
  assert.deepEqual(bobRoom.members.get('alice').info, { name: 'alice name' });
  assert.equal((await added).data.id, 'bob');

  // Bob's second connection is not a new member.
  const addedAgain = collect(room, 'pusher:member_added');
  const bob2 = await client({ user: 'bob' });
  await subscribed(bob2, 'presence-room');
  await roundTrip(alice);
  assert.deepEqual(addedAgain, []);

  const users = await (await api.get({ path: '/channels/presence-room/users' })).json();
  assert.deepEqual(users, { users: [{ id: 'alice' }, { id: 'bob' }] });
  const info = await (await api.get({ path: '/channels/presence-room', params: { info: 'user_count,subscription_count' } })).json();
  assert.deepEqual(info, { occupied: true, user_count: 2, subscription_count: 3 });

  const removed = nextEvent(room, 'pusher:member_removed');
  bob1.disconnect();
  await roundTrip(alice);
  bob2.disconnect();
  assert.equal((await removed).data.id, 'bob');
  assert.equal(room.members.count, 1);
});

test('encrypted channel: the SDK encrypts, pusher-js decrypts, the server relays', async () => {
  const c = await client();
  const ch = await subscribed(c, 'private-encrypted-vault');
  const got = nextEvent(ch, 'secret');
  await api.trigger('private-encrypted-vault', 'secret', { code: 1234 });
  assert.deepEqual((await got).data, { code: 1234 });
  assert.throws(() => ch.trigger('client-x', {}), /encrypted/i);
});

test('cache channel: the last event is replayed, else cache_miss', async () => {
  const first = await client();
  const miss = nextEvent(first.subscribe('cache-scores'), 'pusher:cache_miss');
  await miss;
  await api.trigger('cache-scores', 'score', { home: 1, away: 0 });
  await api.trigger('cache-scores', 'score', { home: 2, away: 0 });

  const late = await client();
  const ch = late.subscribe('cache-scores');
  assert.deepEqual((await nextEvent(ch, 'score')).data, { home: 2, away: 0 });
});

test('client events reach the others, never the sender, with user_id on presence', async () => {
  const alice = await client({ user: 'alice' });
  const bob = await client({ user: 'bob' });
  const a = await subscribed(alice, 'private-chat');
  const b = await subscribed(bob, 'private-chat');
  const echoed = collect(a, 'client-typing');
  const got = nextEvent(b, 'client-typing');
  assert.ok(a.trigger('client-typing', { who: 'alice' }));
  assert.deepEqual((await got).data, { who: 'alice' });
  await roundTrip(alice);
  assert.deepEqual(echoed, []);

  const ap = await subscribed(alice, 'presence-chat');
  const bp = await subscribed(bob, 'presence-chat');
  const gotP = nextEvent(bp, 'client-wave');
  ap.trigger('client-wave', 'hi');
  const { data, metadata } = await gotP;
  assert.equal(data, 'hi');
  assert.equal(metadata.user_id, 'alice');
});

test('REST publish with socket_id excludes that connection', async () => {
  const a = await client();
  const b = await client();
  const chA = await subscribed(a, 'updates');
  const chB = await subscribed(b, 'updates');
  const seenByA = collect(chA, 'tick');
  const gotB = nextEvent(chB, 'tick');
  await api.trigger('updates', 'tick', { n: 1 }, { socket_id: a.connection.socket_id });
  assert.deepEqual((await gotB).data, { n: 1 });
  await roundTrip(a);
  assert.deepEqual(seenByA, []);

  const res = await api.trigger(['updates', 'other'], 'tick', { n: 2 }, { info: 'subscription_count' });
  assert.deepEqual(await res.json(), { channels: { updates: { subscription_count: 2 }, other: { subscription_count: 0 } } });
});

test('batch events', async () => {
  const c = await client();
  const ch = await subscribed(c, 'batch-room');
  const first = nextEvent(ch, 'one');
  const second = nextEvent(ch, 'two');
  const res = await api.triggerBatch([
    { channel: 'batch-room', name: 'one', data: { n: 1 } },
    { channel: 'batch-room', name: 'two', data: { n: 2 } },
  ]);
  assert.equal(res.status, 200);
  assert.deepEqual((await first).data, { n: 1 });
  assert.deepEqual((await second).data, { n: 2 });
});

test('channel info and the channel list', async () => {
  const c = await client({ user: 'carol' });
  await subscribed(c, 'presence-info');
  await subscribed(c, 'info-public');
  const list = await (await api.get({ path: '/channels', params: { filter_by_prefix: 'presence-info', info: 'user_count' } })).json();
  assert.deepEqual(list, { channels: { 'presence-info': { user_count: 1 } } });
  const all = await (await api.get({ path: '/channels' })).json();
  assert.ok('info-public' in all.channels, JSON.stringify(all));
  const one = await (await api.get({ path: '/channels/info-public', params: { info: 'subscription_count' } })).json();
  assert.deepEqual(one, { occupied: true, subscription_count: 1 });
  const none = await (await api.get({ path: '/channels/nobody-here' })).json();
  assert.deepEqual(none, { occupied: false });
});

describe('signed-in users', () => {
  test('sendToUser reaches every connection of the user', async () => {
    const c1 = await client({ user: 'dave' });
    const c2 = await client({ user: 'dave' });
    c1.signin();
    c2.signin();
    await within(Promise.all([c1.user.signinDonePromise, c2.user.signinDonePromise]), 'sign-in');
    assert.equal(c1.user.user_data.id, 'dave');
    // pusher-js subscribes to #server-to-user-dave after signing in.
    await within(Promise.all([c1, c2].map((c) => new Promise((resolve) => {
      const ch = c.user.serverToUserChannel;
      if (ch.subscribed) resolve();
      else ch.bind('pusher:subscription_succeeded', resolve);
    }))), 'user channel');
    const got1 = nextEvent(c1.user, 'notice');
    const got2 = nextEvent(c2.user, 'notice');
    await api.sendToUser('dave', 'notice', { text: 'hi dave' });
    assert.deepEqual((await got1).data, { text: 'hi dave' });
    assert.deepEqual((await got2).data, { text: 'hi dave' });
  });

  test('terminate_connections closes the user\'s connections with 4009', async () => {
    const c = await client({ user: 'erin' });
    const other = await client({ user: 'frank' });
    c.signin();
    other.signin();
    await within(Promise.all([c.user.signinDonePromise, other.user.signinDonePromise]), 'sign-in');
    await roundTrip(c);
    const err = nextConnectionError(c);
    const res = await api.terminateUserConnections('erin');
    assert.equal(res.status, 200);
    const e = await err;
    assert.equal(e.data.code, 4009);
    await roundTrip(other); // still connected
  });

  test('a bad sign-in signature closes with 4009', async () => {
    const c = await client({ user: 'mallory', bad: true });
    const err = nextConnectionError(c);
    c.signin();
    assert.equal((await err).data.code, 4009);
  });

  test('watchlist: online and offline events', async () => {
    const watcher = await client({ user: 'grace', watch: ['heidi'] });
    const online = nextEvent(watcher.user.watchlist, 'online');
    watcher.signin();
    await within(watcher.user.signinDonePromise, 'sign-in');
    const heidi = await client({ user: 'heidi' });
    heidi.signin();
    assert.deepEqual((await online).data.user_ids, ['heidi']);
    const offline = nextEvent(watcher.user.watchlist, 'offline');
    heidi.disconnect();
    assert.deepEqual((await offline).data.user_ids, ['heidi']);
  });
});

test('a REST call with a bad signature gets 401', async () => {
  const wrong = sdk(srv, { ...app, secret: 'wrong' });
  await assert.rejects(wrong.trigger('news', 'x', {}), (err) => {
    assert.equal(err.status, 401);
    assert.match(err.body, /Invalid signature/);
    return true;
  });
  const unknown = sdk(srv, { ...app, id: 'no-such-app' });
  await assert.rejects(unknown.trigger('news', 'x', {}), (err) => err.status === 404);
});

test('payload over 10 KB gets 413', async () => {
  await assert.rejects(api.trigger('news', 'big', 'x'.repeat(11 * 1024)), (err) => err.status === 413);
});
