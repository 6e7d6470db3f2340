// wss:// and https:// end to end: a certificate authority made by the test
// (openssl), a server certificate it signs, and the real Node clients (ws,
// pusher-js with the pusher SDK, atmosphere.js) trusting that CA the
// standard way, NODE_EXTRA_CA_CERTS, in a child process. Then the
// certificate is replaced on disk and SIGHUP sent: new connections get it,
// a connection opened before stays open and working.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startServer } from './lib/server.js';
import { withTimeout } from './lib/ws.js';

const run = promisify(execFile);
const CLIENT = fileURLToPath(new URL('./fixtures/tls/client.mjs', import.meta.url));
const app = { id: 'app-id', key: 'app-key', secret: 'app-secret' };

let dir;
let srv;
let base;

/** Makes the test CA in dir: ca.pem and ca.key. */
async function makeCA() {
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', path.join(dir, 'ca.key'), '-out', path.join(dir, 'ca.pem'), '-days', '1', '-subj', '/CN=switchboard e2e CA']);
}

/**
 * Issues a certificate for 127.0.0.1 with the given serial (hex) and puts
 * it and its key in place of cert.pem and key.pem, each by a rename, as
 * certificate tooling does.
 */
async function issue(serial) {
  const p = (name) => path.join(dir, name);
  await writeFile(p('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', p('new-key.pem'), '-out', p('new.csr'), '-subj', '/CN=127.0.0.1']);
  await run('openssl', ['x509', '-req', '-in', p('new.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'),
    '-set_serial', `0x${serial}`, '-days', '1', '-out', p('new-cert.pem'), '-extfile', p('ext.cnf')]);
  await rename(p('new-key.pem'), p('key.pem'));
  await rename(p('new-cert.pem'), p('cert.pem'));
}

/** GET over https from this process, trusting the CA explicitly. */
function httpsGet(url, ca) {
  return new Promise((resolve, reject) => {
    https.get(url, { ca, timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    }).on('error', reject).on('timeout', function onTimeout() { this.destroy(new Error('timeout')); });
  });
}

/** A child Node process running fixtures/tls/client.mjs; see its comment. */
class Client {
  constructor({ trustCA = true } = {}) {
    const env = { ...process.env };
    if (trustCA) env.NODE_EXTRA_CA_CERTS = path.join(dir, 'ca.pem');
    else delete env.NODE_EXTRA_CA_CERTS;
    this.child = spawn(process.execPath, [CLIENT], { env, stdio: ['pipe', 'pipe', 'inherit'] });
    this.exited = once(this.child, 'exit');
    this.waiting = new Map();
    this.next = 0;
    readline.createInterface({ input: this.child.stdout }).on('line', (line) => {
      const answer = JSON.parse(line);
      this.waiting.get(answer.id)?.(answer);
      this.waiting.delete(answer.id);
    });
  }

  /** Sends an order; resolves to the answer (ok or not). */
  ask(op, args = {}, ms = 15000) {
    const id = this.next++;
    const answer = new Promise((resolve) => this.waiting.set(id, resolve));
    this.child.stdin.write(`${JSON.stringify({ id, op, ...args })}\n`);
    return withTimeout(answer, `the TLS client's answer to ${op}`, ms);
  }

  /** Like ask, but fails the test unless the answer is ok. */
  async must(op, args) {
    const a = await this.ask(op, args);
    assert.ok(a.ok, `${op}: ${a.error}`);
    return a;
  }

  async close() {
    this.child.stdin.end();
    await withTimeout(this.exited, 'the TLS client to exit');
  }
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-tls-'));
  await makeCA();
  await issue('1001');
  const ca = await readFile(path.join(dir, 'ca.pem'));
  srv = await startServer({
    config: { tls: { cert_file: path.join(dir, 'cert.pem'), key_file: path.join(dir, 'key.pem') } },
    waitReady: async (s) => {
      const deadline = Date.now() + 15000;
      for (;;) {
        try {
          if (await httpsGet(`https://${s.host}:${s.port}/readyz`, ca) === 200) return;
        } catch { /* not yet listening */ }
        if (Date.now() > deadline) throw new Error(`no https /readyz within 15 s:\n${s.logs()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  });
  base = `https://${srv.host}:${srv.port}`;
});

after(async () => {
  const { code } = await srv.stop();
  assert.equal(code, 0, `switchboard exited with ${code}:\n${srv.logs()}`);
  await rm(dir, { recursive: true, force: true });
});

test('ws, pusher-js and atmosphere.js connect over TLS to a certificate of the test CA', async () => {
  const c = new Client();
  try {
    const h = await c.must('https', { url: `${base}/healthz` });
    assert.deepEqual([h.status, h.body], [200, 'ok\n']);

    const ws = await c.must('ws-open', { url: `wss://${srv.host}:${srv.port}/echo` });
    assert.equal((await c.must('ws-echo', { conn: ws.conn, msg: 'over wss' })).data, 'over wss');

    const p = await c.must('pusher', { port: srv.port, app });
    assert.deepEqual(p.data, { over: 'https' });

    const a = await c.must('atmosphere', { base });
    assert.equal(a.transport, 'websocket');
    assert.equal(a.action, 'subscription/subscribe');
  } finally {
    await c.close();
  }
});

test('a client that does not trust the CA is refused by its own TLS check', async () => {
  const c = new Client({ trustCA: false });
  try {
    const a = await c.ask('ws-open', { url: `wss://${srv.host}:${srv.port}/echo` });
    assert.equal(a.ok, false);
    assert.match(a.error, /certificate/i);
  } finally {
    await c.close();
  }
});

test('a certificate replaced on disk is used after SIGHUP by new connections; open ones stay', async () => {
  const c = new Client();
  try {
    const old = await c.must('ws-open', { url: `wss://${srv.host}:${srv.port}/echo` });
    assert.equal(old.serial, '1001');

    await issue('1002');
    const before = await c.must('ws-open', { url: `wss://${srv.host}:${srv.port}/echo` });
    assert.equal(before.serial, '1001', 'the new file was used before SIGHUP');

    const reloads = (srv.logs().match(/msg=reloaded/g) ?? []).length;
    srv.child.kill('SIGHUP');
    await srv.waitForLog(new RegExp(`(msg=reloaded[^]*){${reloads + 1}}`));

    const fresh = await c.must('ws-open', { url: `wss://${srv.host}:${srv.port}/echo` });
    assert.equal(fresh.serial, '1002');
    assert.equal((await c.must('ws-echo', { conn: old.conn, msg: 'still here' })).data, 'still here');
    assert.equal((await c.must('ws-echo', { conn: fresh.conn, msg: 'new cert' })).data, 'new cert');
    const p = await c.must('pusher', { port: srv.port, app });
    assert.deepEqual(p.data, { over: 'https' });
  } finally {
    await c.close();
  }
});
