// The echo endpoint, driven by the `ws` client and by hand-made frames.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.js';
import { closed, connect, maskedFrame, nextMessage, parseClose, rawConnect, readFrame } from './lib/ws.js';

let srv;
before(async () => { srv = await startServer(); });
after(async () => {
  const { code } = await srv.stop();
  assert.equal(code, 0, `switchboard exited with ${code} after SIGTERM:\n${srv.logs()}`);
});

test('logs each endpoint it serves', async () => {
  await srv.waitForLog(/msg=serving endpoint=\/echo dialect=echo protocol=websocket/);
  await srv.waitForLog(/msg=listening addr=127\.0\.0\.1:\d+/);
});

test('text round trip', async (t) => {
  const ws = await connect(srv.wsUrl('/echo'));
  t.after(() => ws.terminate());
  ws.send('hello, wörld ✓');
  const { data, isBinary } = await nextMessage(ws);
  assert.equal(isBinary, false);
  assert.equal(data.toString('utf8'), 'hello, wörld ✓');
  ws.close(1000);
  assert.equal((await closed(ws)).code, 1000);
});

test('binary round trip', async (t) => {
  const ws = await connect(srv.wsUrl('/echo'));
  t.after(() => ws.terminate());
  const payload = Buffer.alloc(70000);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
  ws.send(payload);
  const { data, isBinary } = await nextMessage(ws);
  assert.equal(isBinary, true);
  assert.ok(payload.equals(data), 'echoed bytes differ');
});

test('a 2 MiB message is closed with 1009', async (t) => {
  const ws = await connect(srv.wsUrl('/echo'));
  t.after(() => ws.terminate());
  ws.on('error', () => {}); // the server may close while we still write
  const closing = closed(ws);
  ws.send(Buffer.alloc(2 * 1024 * 1024));
  assert.equal((await closing).code, 1009);
});

test('a text frame with invalid UTF-8 is closed with 1007', async (t) => {
  const { socket, reader } = await rawConnect(srv.host, srv.port, '/echo');
  t.after(() => socket.destroy());
  socket.write(maskedFrame(0x1, Buffer.from([0x6f, 0x6b, 0x20, 0xff, 0xfe, 0xc3])));
  const frame = await readFrame(reader);
  assert.equal(frame.opcode, 0x8, 'want a close frame');
  assert.equal(parseClose(frame.payload).code, 1007);
});

test('another origin may connect', async (t) => {
  const first = await connect(srv.wsUrl('/echo'), { origin: srv.url });
  const second = await connect(srv.wsUrl('/echo'), { origin: 'https://elsewhere.example' });
  t.after(() => { first.terminate(); second.terminate(); });
  second.send('from elsewhere');
  assert.equal((await nextMessage(second)).data.toString(), 'from elsewhere');
  first.send('from here');
  assert.equal((await nextMessage(first)).data.toString(), 'from here');
});

test('health, readiness and metrics', async () => {
  let res = await fetch(`${srv.url}/healthz`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'ok\n');
  res = await fetch(`${srv.url}/readyz`);
  assert.equal(res.status, 200);
  res = await fetch(`${srv.url}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  const received = text.match(/^switchboard_messages_received_total\{dialect="echo"\} (\d+)$/m);
  assert.ok(received && Number(received[1]) >= 3, `echo messages not counted:\n${text.slice(0, 2000)}`);
  assert.match(text, /^switchboard_connections_accepted_total\{dialect="echo"\} \d+$/m);
  res = await fetch(`${srv.url}/no-such-path`);
  assert.equal(res.status, 404);
});

test('SIGTERM closes connections with 1001 and exits 0', async (t) => {
  const own = await startServer({ config: { shutdown_timeout: '5s', log: { format: 'json' } } });
  t.after(() => own.stop());
  const ws = await connect(own.wsUrl('/echo'));
  const closing = closed(ws);
  const exit = own.stop();
  assert.equal((await closing).code, 1001);
  assert.deepEqual(await exit, { code: 0, signal: null });
  assert.match(own.logs(), /"msg":"stopped"/);
});
