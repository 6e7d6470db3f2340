// The operator console in headless Chromium (Debian's chromium, driven by
// playwright-core): the page loads from loopback, shows a pusher-js client
// connecting, watches a channel the `pusher` SDK publishes to, publishes
// from the page to a pusher-js subscriber, shows presence members coming
// and going, and opens to another host only with the admin token. A
// screenshot of each view is saved under $E2E_OUTPUT (default e2e/output).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from './lib/server.js';
import { collect, connectClient, nextEvent, roundTrip, sdk, startAuthServer, subscribed, within } from './lib/pusher.js';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const OUTPUT = process.env.E2E_OUTPUT || fileURLToPath(new URL('./output/', import.meta.url));
const app = { id: 'shop', key: 'shop-key', secret: 'shop-secret' };
const apps = [
  { id: app.id, key: app.key, secret: app.secret, enable_client_messages: true },
  { id: 'chat', key: 'chat-key', secret: 'chat-secret' },
];

let srv, auth, browser, profile;
const clients = [];
before(async () => {
  await access(CHROMIUM).catch(() => { throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (make test does) or set CHROMIUM_PATH`); });
  await mkdir(OUTPUT, { recursive: true });
  srv = await startServer({ config: { pusher: { apps } } });
  auth = await startAuthServer(srv, app);
  profile = await mkdtemp(path.join(os.tmpdir(), 'switchboard-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1440, height: 900 },
  });
});
after(async () => {
  for (const c of clients) c.disconnect();
  await browser?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
  await auth?.close();
  const { code } = await srv.stop();
  assert.equal(code, 0, `switchboard exited with ${code}:\n${srv.logs()}`);
});

async function client(opts) {
  const c = await connectClient(srv, app, auth, opts);
  clients.push(c);
  return c;
}

/**
 * Opens the console on a fresh page; fails the test on any page error or
 * console error, but those matching allow (errors the test causes).
 */
async function openConsole(t, view = 'overview', allow = /^$/) {
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push(err.message));
  page.on('console', (m) => { if (m.type() === 'error' && !allow.test(m.text())) problems.push(m.text()); });
  t.after(async () => {
    await page.close();
    assert.deepEqual(problems, [], 'the page reported errors');
  });
  const res = await page.goto(`${srv.url}/console/#${view}`);
  assert.equal(res.status(), 200);
  await page.waitForFunction(() => document.getElementById('live').textContent === 'live', null, { timeout: 5000 });
  return page;
}

const text = (page, sel) => page.locator(sel).first().textContent();

test('the overview shows a pusher-js client within 2 s of connecting', async (t) => {
  const page = await openConsole(t);
  assert.equal(await page.title(), 'Switchboard console');
  await page.waitForFunction(() => document.getElementById('conn-total').textContent !== '–', null, { timeout: 3000 });
  const before = Number(await text(page, '#conn-total'));
  await client({ user: 'first' });
  await page.waitForFunction((n) => Number(document.getElementById('conn-total').textContent) === n, before + 1, { timeout: 2000 });
  const row = page.locator('#apps tbody tr', { hasText: 'shop-key' });
  assert.equal(await row.locator('td').nth(2).textContent(), '1');

  // Some traffic, so the charts and tables have something to show.
  const api = sdk(srv, app);
  for (let i = 0; i < 6; i++) {
    const c = await client({ user: `u${i}` });
    await subscribed(c, i % 2 ? 'orders' : 'presence-lobby');
  }
  let publishing = true;
  const publisher = (async () => {
    for (let i = 0; publishing; i++) {
      await api.trigger('orders', 'tick', { i });
      await new Promise((r) => setTimeout(r, 40));
    }
  })();
  t.after(async () => { publishing = false; await publisher; });
  // The rates show the traffic within a few readings.
  await page.waitForFunction(() => !['–', '0'].includes(document.getElementById('msgs-out').textContent)
    && !['–', '0'].includes(document.getElementById('msgs-in').textContent), null, { timeout: 5000 });
  await page.waitForFunction(() => Number(document.getElementById('msgs-out').textContent) >= 20, null, { timeout: 5000 });
  await page.screenshot({ path: path.join(OUTPUT, 'console-overview.png') });
});

test('the channels view lists the busiest channels and a presence channel\'s members', async (t) => {
  const alice = await client({ user: 'alice' });
  await subscribed(alice, 'presence-room');
  const page = await openConsole(t, 'channels');
  await page.selectOption('#ch-space', 'pusher:shop');
  const room = page.locator('#ch-table tbody tr', { hasText: 'presence-room' });
  await room.waitFor({ timeout: 5000 });
  await page.waitForFunction(() => document.getElementById('ch-count').textContent.includes('channel'));
  await room.click();
  await page.locator('#ch-members li', { hasText: 'alice' }).waitFor({ timeout: 5000 });

  // A member who joins appears; one who leaves disappears (the list refreshes every 3 s).
  const bob = await client({ user: 'bob' });
  await subscribed(bob, 'presence-room');
  await page.locator('#ch-members li', { hasText: 'bob' }).waitFor({ timeout: 5000 });
  await page.screenshot({ path: path.join(OUTPUT, 'console-channels.png') });
  bob.disconnect();
  await page.locator('#ch-members li', { hasText: 'bob' }).waitFor({ state: 'detached', timeout: 5000 });

  // Search narrows the list.
  await page.fill('#ch-search', 'lobby');
  await page.waitForFunction(() => [...document.querySelectorAll('#ch-table tbody tr')].every((r) => r.textContent.includes('lobby')), null, { timeout: 5000 });

  // The Atmosphere sessions list in place of channels (none here).
  await page.fill('#ch-search', '');
  await page.selectOption('#ch-space', 'atmosphere-sessions');
  await page.locator('#ch-table thead th', { hasText: 'Last used' }).waitFor({ timeout: 5000 });
  await page.locator('#ch-table tbody td', { hasText: 'No sessions on this node.' }).waitFor({ timeout: 5000 });
});

test('the debug console shows SDK events, client events and members, and publishes to pusher-js', async (t) => {
  // The browser logs the 400 of the refused watch below.
  const page = await openConsole(t, 'debug', /status of 400 \(Bad Request\)/);
  await page.selectOption('#dbg-app', app.id);
  // A channel name the protocol refuses: the page says why.
  await page.fill('#dbg-channel', 'no spaces allowed');
  await page.click('#dbg-watch');
  await page.waitForFunction(() => /^Cannot watch: .*invalid channel name/.test(document.getElementById('dbg-state').textContent), null, { timeout: 5000 });
  await page.fill('#dbg-channel', 'presence-debug');
  await page.click('#dbg-watch');
  await page.locator('#dbg-log li', { hasText: 'Watching presence-debug' }).waitFor({ timeout: 5000 });

  // An event from the server SDK.
  await sdk(srv, app).trigger('presence-debug', 'order-shipped', { order: 1234 });
  await page.locator('#dbg-log li', { hasText: 'order-shipped' }).waitFor({ timeout: 5000 });
  assert.match(await text(page, '#dbg-log li:has-text("order-shipped") pre'), /"order": 1234/);

  // A member joins, sends a client event, and leaves.
  const carol = await client({ user: 'carol' });
  const room = await subscribed(carol, 'presence-debug');
  await page.locator('#dbg-log li', { hasText: 'member_added' }).filter({ hasText: 'carol' }).waitFor({ timeout: 5000 });
  room.trigger('client-typing', { typing: true });
  await page.locator('#dbg-log li', { hasText: 'client-typing' }).filter({ hasText: 'from user carol' }).waitFor({ timeout: 5000 });

  // Publishing from the page reaches pusher-js; the page never had the secret.
  const got = nextEvent(room, 'from-console');
  await page.fill('#pub-event', 'from-console');
  await page.fill('#pub-data', '{"hello": "from the page"}');
  await page.click('#pub-send');
  assert.deepEqual((await got).data, { hello: 'from the page' });
  await page.locator('#pub-result.ok').waitFor({ timeout: 5000 });
  const html = await page.content();
  assert.ok(!html.includes(app.secret), 'the page holds the app secret');

  // Filters hide what is unchecked.
  await page.uncheck('input[data-kind=client]');
  assert.equal(await page.locator('#dbg-log li', { hasText: 'client-typing' }).isVisible(), false);
  await page.check('input[data-kind=client]');
  await page.screenshot({ path: path.join(OUTPUT, 'console-debug.png') });

  const removed = page.locator('#dbg-log li', { hasText: 'member_removed' }).filter({ hasText: 'carol' });
  carol.disconnect();
  await removed.waitFor({ timeout: 5000 });

  // The watch is an ordinary subscriber, and ends when the page closes.
  const occupied = async () => (await (await sdk(srv, app).get({ path: '/channels/presence-debug', params: { info: 'subscription_count' } })).json());
  assert.deepEqual(await occupied(), { occupied: true, subscription_count: 1 });
  await page.close();
  await within((async () => { while ((await occupied()).occupied) await new Promise((r) => setTimeout(r, 50)); })(), 'the watch to end');
});

test('with admin.token, the console asks for it and its streams work once signed in', async (t) => {
  const token = 'console-e2e-token';
  const guarded = await startServer({ config: { admin: { token }, pusher: { apps } } });
  t.after(async () => { await guarded.stop(); });

  const res = await fetch(`${guarded.url}/console/api/stats`);
  assert.equal(res.status, 401);
  assert.match(res.headers.get('www-authenticate'), /^Basic /);
  assert.match((await res.json()).error, /admin token required/);

  // A browser signs in with its own dialog (here: httpCredentials); the
  // EventSource streams then carry the same credentials.
  const ctx = await browser.browser()?.newContext({ httpCredentials: { username: 'admin', password: token } })
    ?? null;
  const page = ctx ? await ctx.newPage() : await browser.newPage();
  if (!ctx) await page.setExtraHTTPHeaders({ Authorization: 'Basic ' + Buffer.from(`admin:${token}`).toString('base64') });
  t.after(async () => { await page.close(); await ctx?.close(); });
  await page.goto(`${guarded.url}/console/`);
  await page.waitForFunction(() => document.getElementById('live').textContent === 'live', null, { timeout: 5000 });
  await page.waitForFunction(() => document.getElementById('conn-total').textContent !== '–', null, { timeout: 3000 });
});
