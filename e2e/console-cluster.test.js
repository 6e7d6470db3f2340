// The console of one node of a two-node cluster (one Redis) shows the
// cluster: both nodes with their connections and heartbeats, the app's
// connections on all nodes, and channel lists for all nodes or one. Needs
// redis-server and Chromium, as console.test.js and cluster.test.js do.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from './lib/server.js';
import { connectClient, startAuthServer, subscribed } from './lib/pusher.js';
import { redisSkip as skip, startRedis } from './lib/redis.js';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const OUTPUT = process.env.E2E_OUTPUT || fileURLToPath(new URL('./output/', import.meta.url));
const app = { id: 'app-id', key: 'app-key', secret: 'app-secret' };

let redis, a, b, auth, browser, profile;
const clients = [];

function startNode(nodeId) {
  return startServer({
    config: { cluster: { redis: redis.url, node_id: nodeId, key_prefix: `e2e-console-${process.pid}:`, presence_ttl: '2s', heartbeat_interval: '400ms' } },
  });
}

before(async () => {
  if (skip) return;
  await access(CHROMIUM).catch(() => { throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (make test does) or set CHROMIUM_PATH`); });
  await mkdir(OUTPUT, { recursive: true });
  redis = await startRedis();
  [a, b] = await Promise.all([startNode('alpha'), startNode('beta')]);
  auth = await startAuthServer(a, app);
  profile = await mkdtemp(path.join(os.tmpdir(), 'switchboard-chromium-'));
  browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1440, height: 900 } });
});

after(async () => {
  if (skip) return;
  for (const c of clients) c.disconnect();
  await browser?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
  await auth?.close();
  for (const srv of [a, b]) {
    if (!srv) continue;
    const { code } = await srv.stop();
    assert.equal(code, 0, `switchboard exited with ${code}:\n${srv.logs()}`);
  }
  redis?.child.kill('SIGKILL');
  await redis?.exited;
});

test('the console shows both nodes, and channels for all nodes or one', { skip }, async (t) => {
  const c = await connectClient(b, app, auth);
  clients.push(c);
  await subscribed(c, 'orders');

  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push(err.message));
  t.after(() => page.close());
  await page.goto(`${a.url}/console/`);

  // Both nodes, each with a recent heartbeat; beta holds the connection.
  await page.waitForFunction(() => document.querySelectorAll('#nodes tbody tr').length === 2, null, { timeout: 5000 });
  const beta = page.locator('#nodes tbody tr', { hasText: 'beta' });
  await page.waitForFunction(() => [...document.querySelectorAll('#nodes tbody tr')].some((r) => r.textContent.includes('beta') && r.cells[1].textContent === '1'), null, { timeout: 5000 });
  assert.match(await beta.locator('td').nth(3).textContent(), /^\d+s ago$/);
  assert.equal(await page.locator('#redis-state').textContent(), 'connected');
  // The app: no connection on this node (alpha), one on all nodes.
  const row = page.locator('#apps tbody tr', { hasText: 'app-key' });
  await page.waitForFunction(() => document.querySelector('#apps tbody tr')?.cells[3]?.textContent === '1', null, { timeout: 5000 });
  assert.equal(await row.locator('td').nth(2).textContent(), '0');
  await page.screenshot({ path: path.join(OUTPUT, 'console-cluster.png') });

  // Channels: on all nodes, on beta, and on alpha (none).
  await page.click('#tab-channels');
  await page.selectOption('#ch-space', 'pusher:app-id');
  const orders = page.locator('#ch-table tbody tr', { hasText: 'orders' });
  await orders.waitFor({ timeout: 5000 });
  assert.equal(await orders.locator('td').nth(1).textContent(), '1');
  const betaID = (await page.locator('#ch-node option', { hasText: 'beta' }).getAttribute('value'));
  await page.selectOption('#ch-node', betaID);
  await page.waitForFunction(() => document.getElementById('ch-count').textContent === '1 channel', null, { timeout: 5000 });
  await orders.waitFor({ timeout: 5000 });
  const alphaID = (await page.locator('#ch-node option', { hasText: 'alpha' }).getAttribute('value'));
  await page.selectOption('#ch-node', alphaID);
  await page.locator('#ch-table tbody tr', { hasText: 'No occupied channels' }).waitFor({ timeout: 5000 });
  assert.deepEqual(problems, []);
});
