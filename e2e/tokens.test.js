// The token broker (/ws and its form API at /), driven by the `ws` client
// and plain HTTP, as a user of the original websockets_pro broker would.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { startServer } from './lib/server.js';
import { closed, connect, withTimeout } from './lib/ws.js';

let srv;
before(async () => { srv = await startServer(); });
after(async () => {
  const { code } = await srv.stop();
  assert.equal(code, 0, `switchboard exited with ${code} after SIGTERM:\n${srv.logs()}`);
});

/** The bytes the original broker sent for text: a JSON string and "\n". */
const frame = (text) => JSON.stringify(text).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026') + '\n';

/**
 * Connects to /ws with ?RegisterToken=token (bare when token is null) and
 * resolves once the server has registered the client: an echo round trip,
 * since the client sees 101 before the server has subscribed it.
 */
async function client(t, server, token) {
  const q = token === null ? '' : `?RegisterToken=${encodeURIComponent(token)}`;
  const ws = await connect(server.wsUrl(`/ws${q}`));
  t.after(() => ws.terminate());
  keepFrames(ws);
  await roundTrip(ws);
  return ws;
}

/**
 * Queues every frame ws receives, so that none is lost while the test
 * awaits something else (an EventEmitter keeps no event for later
 * listeners); text() takes them in order.
 */
function keepFrames(ws) {
  ws.frames = [];
  ws.waiting = null;
  ws.on('message', (data, isBinary) => {
    ws.frames.push({ data, isBinary });
    if (ws.waiting) ws.waiting();
  });
}

/** Sends Echo:<marker> and checks that the marker is the next frame. */
async function roundTrip(ws, marker = 'ready') {
  ws.send(`Echo:${marker}`);
  assert.equal(await text(ws), frame(marker), 'a frame arrived before the echo');
}

/** The next frame, as raw bytes. */
async function next(ws) {
  if (ws.frames.length === 0) {
    await withTimeout(new Promise((resolve) => { ws.waiting = resolve; }), 'a frame');
    ws.waiting = null;
  }
  const { data, isBinary } = ws.frames.shift();
  assert.equal(isBinary, false, 'want a text frame');
  return data;
}

/** The next frame, as text. */
async function text(ws) {
  return (await next(ws)).toString('utf8');
}

/** POSTs form fields to the API the way curl --data-urlencode does. */
async function api(server, fields, headers = {}) {
  const res = await fetch(`${server.url}/`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

test('a form broadcast to abc1,group/ reaches exactly abc1, group/item1 and group/item2', async (t) => {
  const abc1 = await client(t, srv, 'abc1');
  const item1 = await client(t, srv, 'group/item1');
  const item2 = await client(t, srv, 'group/item2');
  const zzz = await client(t, srv, 'zzz');

  const res = await api(srv, { method: 'broadcast', message: 'abc1,group/|Hello' });
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, { ok: true });
  assert.equal(res.headers.get('access-control-allow-origin'), '*');

  for (const ws of [abc1, item1, item2]) {
    const data = await next(ws);
    assert.deepEqual(data, Buffer.from('"Hello"\n'), 'want the 8 bytes "Hello"\\n');
    assert.equal(JSON.parse(data.toString()), 'Hello');
  }
  // zzz got nothing: a message sent to it afterwards is the first it sees.
  await roundTrip(zzz, 'after');
});

test('clients route to each other with recipients|text; the text may contain |', async (t) => {
  const a = await client(t, srv, 'room/a');
  const b = await client(t, srv, 'room/b');
  const c = await client(t, srv, 'c');
  c.send('room/|x|y <&>');
  assert.equal(await text(a), frame('x|y <&>'));
  assert.equal(await text(b), frame('x|y <&>'));
  assert.equal(frame('x|y <&>'), '"x|y \\u003c\\u0026\\u003e"\n');
  a.send('c,room/b|reply'); // the sender is not a recipient
  assert.equal(await text(c), frame('reply'));
  assert.equal(await text(b), frame('reply'));
  await roundTrip(a, 'nothing for the sender');
});

test('service messages: RegisterToken, Echo, and an error for anything else', async (t) => {
  const ws = await client(t, srv, null);
  const sender = await client(t, srv, 'sender');
  sender.send('unregistered|to the bare');
  assert.equal(await text(ws), frame('to the bare'));

  ws.send('RegisterToken:late');
  await roundTrip(ws);
  sender.send('late|registered');
  assert.equal(await text(ws), frame('registered'));

  ws.send('Echo:a:b');
  assert.equal(await text(ws), frame('a:b'));
  ws.send('hello');
  assert.match(JSON.parse(await text(ws)), /^error\. unknown service message/);
  ws.send('RegisterToken:');
  assert.equal(await text(ws), frame('error. token required'));
});

test('the API registers tokens, lists them and the clients, and answers errors with 400', async (t) => {
  await client(t, srv, 'listed');
  let res = await api(srv, { method: 'registerToken', token: 'abc1' });
  assert.deepEqual([res.status, res.body], [200, { ok: true }]);
  res = await api(srv, { method: 'unregisterToken', token: 'abc2' });
  assert.deepEqual([res.status, res.body], [200, { ok: true }]);
  res = await api(srv, { method: 'registeredTokenList' });
  assert.equal(res.status, 200);
  assert.equal(res.body.abc1, true);
  assert.equal(res.body.abc2, false);

  res = await api(srv, { method: 'get_clients' });
  assert.equal(res.status, 200);
  assert.ok(Object.values(res.body).includes('listed'), JSON.stringify(res.body));
  for (const addr of Object.keys(res.body)) assert.match(addr, /^127\.0\.0\.1:\d+$/);

  for (const [fields, message] of [
    [{ method: 'nope' }, /unknown method/],
    [{}, /method required/],
    [{ method: 'broadcast' }, /message required/],
    [{ method: 'broadcast', message: 'no bar' }, /recipients\|text/],
    [{ method: 'registerToken' }, /token required/],
  ]) {
    res = await api(srv, fields);
    assert.equal(res.status, 400, JSON.stringify(fields));
    assert.match(res.body.error, message);
  }

  const json = await fetch(`${srv.url}/`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ method: 'registeredTokenList' }),
  });
  assert.equal(json.status, 200);
  assert.equal((await json.json()).abc1, true);
});

test('other paths are not the API', async () => {
  assert.equal((await fetch(`${srv.url}/healthz`)).status, 200);
  assert.equal((await fetch(`${srv.url}/no-such-path`, { method: 'POST' })).status, 404);
});

/** A loopback HTTP proxy that answers every request with body. */
async function tokenProxy(t, body) {
  const seen = [];
  const proxy = http.createServer((req, res) => {
    seen.push(req.url);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(body);
  });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  t.after(() => proxy.close());
  return { url: `http://127.0.0.1:${proxy.address().port}`, seen };
}

const proxyEnv = (url) => ({ HTTP_PROXY: url, http_proxy: url, NO_PROXY: '', no_proxy: '' });

test('the sample websockets.conf starts the server unchanged and its token URL is fetched', async (t) => {
  const sample = await readFile(new URL('../examples/websockets.conf', import.meta.url), 'utf8');
  // The sample's RegisteredTokensUrl names a public host: a loopback proxy
  // answers for it, so that nothing leaves this machine.
  const proxy = await tokenProxy(t, '{"abc1":true,"abc2":true,"abc3":true,"group\\/item1":true,"group\\/item2":true}');
  const legacy = await startServer({ files: { 'websockets.conf': sample }, env: proxyEnv(proxy.url) });
  t.after(() => legacy.stop());
  await legacy.waitForLog(/file=websockets\.conf/);
  await legacy.waitForLog(/registered tokens: fetched.*tokens=5/);
  assert.deepEqual(proxy.seen, ['http://saiset.co/registeredtokens.php']);
  const res = await api(legacy, { method: 'registeredTokenList' });
  assert.deepEqual(res.body, { abc1: true, abc2: true, abc3: true, 'group/item1': true, 'group/item2': true });
  const ws = await client(t, legacy, null); // AllowUnregisteredClients: "yes"
  await roundTrip(ws);
});

test('an unreachable RegisteredTokensUrl does not hold up start-up', async (t) => {
  const sample = await readFile(new URL('../examples/websockets.conf', import.meta.url), 'utf8');
  // Port 1 of loopback refuses the connection, as an unreachable host would.
  const legacy = await startServer({ files: { 'websockets.conf': sample }, env: proxyEnv('http://127.0.0.1:1') });
  t.after(() => legacy.stop());
  await legacy.waitForLog(/registered tokens: fetch failed; keeping the last good list/);
  await client(t, legacy, 'abc1');
});

test('with AllowUnregisteredClients off, unknown tokens are refused with 403', async (t) => {
  const strict = await startServer({ config: { tokens: { allow_unregistered_clients: false, registered_tokens: ['abc1'] } } });
  t.after(() => strict.stop());
  await client(t, strict, 'abc1');
  await assert.rejects(connect(strict.wsUrl('/ws?RegisterToken=zzz')), /handshake answered 403/);
  await assert.rejects(connect(strict.wsUrl('/ws')), /handshake answered 403/);
  const ws = await client(t, strict, 'abc1');
  ws.send('RegisterToken:zzz');
  assert.equal(await text(ws), frame('error. unregistered token'));
  ws.close(1000);
  assert.equal((await closed(ws)).code, 1000);
});

test('an HTTP push client gets the text of messages to its token as a form POST', async (t) => {
  const posts = [];
  let arrived;
  const endpoint = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (s) => { body += s; });
    req.on('end', () => {
      posts.push({ type: req.headers['content-type'], message: new URLSearchParams(body).get('message') });
      res.writeHead(200).end();
      arrived?.();
    });
  });
  endpoint.listen(0, '127.0.0.1');
  await once(endpoint, 'listening');
  t.after(() => endpoint.close());
  const url = `http://127.0.0.1:${endpoint.address().port}/push`;

  await api(srv, { method: 'registerToken', token: 'pushed/one' });
  let res = await api(srv, { method: 'registerHttpClient', token: 'pushed/one', endpoint: url });
  assert.deepEqual([res.status, res.body], [200, { ok: true }]);
  res = await api(srv, { method: 'httpClientsList' });
  assert.equal(res.body[url], 'pushed/one');

  const got = new Promise((resolve) => { arrived = resolve; });
  res = await api(srv, { method: 'broadcast', message: 'pushed/|a|b <&>' });
  assert.equal(res.status, 200);
  await withTimeout(got, 'the push');
  assert.deepEqual(posts, [{ type: 'application/x-www-form-urlencoded', message: 'a|b <&>' }]);
});
