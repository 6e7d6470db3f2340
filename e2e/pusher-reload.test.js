// Apps changed while the server runs (docs/apps.md): the config file is
// edited and reloaded with SIGHUP or POST /admin/reload. A pusher-js client
// of an app that stays keeps its connection; an added app serves at once;
// a removed app's clients are closed with 4003 and do not reconnect; the
// server SDK signing with a rotated-out secret works during the grace
// period and is refused after it.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startServer } from './lib/server.js';
import {
  connectClient, errorCode, nextConnectionError, nextEvent, roundTrip, sdk, startAuthServer, subscribed, within,
} from './lib/pusher.js';

const A = { id: 'a', key: 'a-key', secret: 'a-secret' };
const B = { id: 'b', key: 'b-key', secret: 'b-secret' };
const GRACE_S = 5;

let srv;
let authA;
const clients = [];
let reloads = 0;

/** Writes the config file with apps and reloads it, by signal or by the admin API. */
async function reloadWith(apps, how) {
  const text = JSON.stringify({ pusher: { secret_grace_period: `${GRACE_S}s`, apps } }, null, 2);
  await writeFile(path.join(srv.dir, 'switchboard.hjson'), text);
  reloads++;
  if (how === 'SIGHUP') {
    srv.child.kill('SIGHUP');
  } else {
    const res = await fetch(`${srv.url}/admin/reload`, { method: 'POST' });
    assert.equal(res.status, 200, await res.text());
  }
  const seen = new RegExp(`(msg=reloaded[^\\n]*\\n[\\s\\S]*){${reloads}}`);
  await srv.waitForLog(seen);
}

before(async () => {
  srv = await startServer({ config: { pusher: { secret_grace_period: `${GRACE_S}s`, apps: [A] } } });
  authA = await startAuthServer(srv, A);
});

after(async () => {
  for (const c of clients) if (c.connection.state === 'connected') c.disconnect();
  await authA.close();
  const { code } = await srv.stop();
  assert.equal(code, 0, srv.logs());
  assert.doesNotMatch(srv.logs(), /a-secret|b-secret|b-secret-2/, 'a secret is in the logs');
});

test('a client of A stays connected across a reload that adds B; then B serves', async () => {
  const a = await connectClient(srv, A, authA);
  clients.push(a);
  const ch = await subscribed(a, 'private-a');
  const socketBefore = a.connection.socket_id;

  await reloadWith([A, B], 'SIGHUP');
  assert.match(srv.logs(), /msg=reloaded log_level=INFO added=b/);
  await roundTrip(a);
  assert.equal(a.connection.state, 'connected');
  assert.equal(a.connection.socket_id, socketBefore, 'A reconnected');
  const got = nextEvent(ch, 'after-reload');
  await sdk(srv, A).trigger('private-a', 'after-reload', { n: 1 });
  assert.deepEqual((await got).data, { n: 1 });

  const authB = await startAuthServer(srv, B);
  try {
    const b = await connectClient(srv, B, authB);
    clients.push(b);
    await subscribed(b, 'private-b');
  } finally {
    await authB.close();
  }
});

test("the SDK signing with B's rotated-out secret works during the grace period, then is refused", async () => {
  const B2 = { ...B, secret: 'b-secret-2' };
  await reloadWith([A, B2], 'admin');
  assert.match(srv.logs(), /msg=reloaded log_level=INFO changed=b secrets_rotated=b/);
  await sdk(srv, B).trigger('news', 'old-secret', {}); // within the grace period
  await sdk(srv, B2).trigger('news', 'new-secret', {});

  const deadline = Date.now() + (GRACE_S + 10) * 1000;
  let status;
  for (;;) {
    try {
      await sdk(srv, B).trigger('news', 'old-secret', {});
    } catch (err) {
      status = err.status;
      break;
    }
    assert.ok(Date.now() < deadline, `the old secret still works ${GRACE_S + 10} s after the rotation`);
    await new Promise((r) => setTimeout(r, 200)); // waiting out the grace period, bounded by the deadline
  }
  assert.equal(status, 401);
  await sdk(srv, B2).trigger('news', 'new-secret', {});
});

test('a client of a removed app is closed with 4003 and does not reconnect', async () => {
  const [a, b] = clients;
  const err = nextConnectionError(a);
  const states = [];
  a.connection.bind('state_change', ({ current }) => states.push(current));
  await reloadWith([{ ...B, secret: 'b-secret-2' }], 'SIGHUP');
  assert.equal(errorCode(await err), 4003);
  assert.match(srv.logs(), /msg=reloaded log_level=INFO removed=a/);
  await within(new Promise((resolve) => {
    if (a.connection.state === 'disconnected') resolve();
    a.connection.bind('state_change', ({ current }) => { if (current === 'disconnected') resolve(); });
  }), 'the client to give up');
  await roundTrip(b); // B's connection is untouched, and a reconnect of A would have begun by now
  assert.equal(b.connection.state, 'connected');
  assert.deepEqual(states, ['disconnected'], 'pusher-js tried to reconnect');
});
