// Smoke test in headless Chromium: a monitoring page, served by the test
// from another origin, loads atmosphere.js 2.3.6, logs in with user/auth,
// subscribes over WebSocket and shows the states the backend publishes.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { publish, putUser, startAtmosphere, state } from './lib/atmosphere.js';

const require = createRequire(import.meta.url);
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let srv, site, siteUrl;
before(async () => {
  srv = await startAtmosphere();
  await putUser(srv, 'viewer', 'view-pw', [5]);
  // The page and the library, from a server of their own.
  const files = {
    '/monitor.html': [await readFile(new URL('./fixtures/atmosphere/monitor.html', import.meta.url)), 'text/html; charset=utf-8'],
    '/atmosphere.js': [await readFile(path.join(path.dirname(require.resolve('atmosphere.js/package.json')), 'lib/atmosphere.js')), 'text/javascript'],
  };
  site = http.createServer((req, res) => {
    const f = files[new URL(req.url, 'http://x').pathname];
    if (!f) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'Content-Type': f[1] }).end(f[0]);
  });
  site.listen(0, '127.0.0.1');
  await once(site, 'listening');
  siteUrl = `http://127.0.0.1:${site.address().port}`;
});
after(async () => {
  site?.close();
  const { code } = await srv.stop();
  assert.equal(code, 0, `switchboard exited with ${code}:\n${srv.logs()}`);
});

test('a monitoring page in Chromium shows published states', async (t) => {
  await access(CHROMIUM).catch(() => { throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium or set CHROMIUM_PATH`); });
  await publish(srv, 'state', state(5, 42));
  const profile = await mkdtemp(path.join(os.tmpdir(), 'switchboard-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  t.after(async () => {
    await browser.close();
    await rm(profile, { recursive: true, force: true });
  });
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push(err.message));
  const q = new URLSearchParams({ api: srv.url, login: 'viewer', password: 'view-pw', tracker: '5' });
  await page.goto(`${siteUrl}/monitor.html?${q}`);

  const text = (id) => page.locator(`#${id}`).textContent();
  await page.waitForFunction(() => document.getElementById('speed').textContent === '42', null, { timeout: 15000 });
  assert.equal(await text('status'), 'open (websocket)');
  assert.equal(await text('name'), 'Truck 🚚|A');

  await publish(srv, 'state', state(5, 0));
  await page.waitForFunction(() => document.getElementById('speed').textContent === '0', null, { timeout: 10000 });
  assert.equal(await text('movement'), 'parked');
  assert.deepEqual(problems, []);
});
