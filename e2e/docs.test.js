// The docs run as written: every command block of README.md and
// docs/console.md, every block of the quick starts of docs/pusher.md and
// docs/atmosphere.md and of the admin API section of docs/apps.md, in the
// order shown, against the server the README's own command starts.
//
// Each of those blocks carries a marker on the line before it:
//
//   <!-- doctest: NAME -->          run it; EXPECT below says what it prints
//   <!-- doctest: server -->        the command that starts the server
//   <!-- doctest: file PATH -->     the block is the file PATH of the repository, verbatim
//   <!-- doctest: skip: REASON -->  not run, for the reason given
//
// A block without a marker fails the test, so a new command cannot go
// untested by accident. The one change made to what the docs say: the port
// 8000 becomes a free port (the README's server gets it as
// SWITCHBOARD_PORT), so that the test never takes a port that something else
// on the machine uses. The commands run in a scratch copy of
// examples/quickstart (where the quick-start files get the same port), with
// the README's `npm ci` really installing from the lock file.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './lib/server.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

// The sections whose blocks are tested, by file: null for the whole file.
const DOCS = [
  { file: 'README.md', section: null },
  { file: 'docs/pusher.md', section: 'Quick start' },
  { file: 'docs/atmosphere.md', section: 'Quick start' },
  { file: 'docs/console.md', section: null },
  { file: 'docs/apps.md', section: 'Admin API' },
];

// What each named block must print (each pattern somewhere in its stdout).
const EXPECT = {
  'try-it': [/^ok$/m, /^switchboard_connections/m, /^hi$/m],
  'pusher-quickstart': [/^my-event: hello$/m],
  'atmosphere-curl': [/"created":true/, /"type":"authenticated","hash":"[0-9a-f]{32}"/, /"success":true,"count":1/],
  'atmosphere-quickstart': [/^state: source 10284, speed 42$/m],
  'console-stats': [/"connections":\d+/, /"dialects":\[\{"name":"atmosphere"/],
  'admin-api': [/"path": "\/admin\/apps"/, /"store": "file"/, /"connections": 0/, /"reloaded": true/, /"field": "pusher.app_store.driver"/],
};

/**
 * Returns the fenced blocks of markdown text (of the section titled
 * section, when given) as { marker, lang, body, line }.
 */
export function blocks(text, section) {
  const lines = text.split('\n');
  let inSection = section === null;
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    const heading = /^(#{1,6}) (.*)$/.exec(lines[i]);
    if (heading && section !== null) inSection = heading[1] === '##' && heading[2] === section;
    const fence = /^(`{3,})(\S*)\s*$/.exec(lines[i]);
    if (!fence) continue;
    const start = i;
    const body = [];
    for (i++; i < lines.length && lines[i] !== fence[1]; i++) body.push(lines[i]);
    if (!inSection) continue;
    let j = start - 1;
    while (j >= 0 && lines[j].trim() === '') j--;
    const m = j >= 0 ? /^<!-- doctest: (.*?) -->$/.exec(lines[j]) : null;
    out.push({ marker: m ? m[1] : null, lang: fence[2], body: body.join('\n') + '\n', line: start + 1 });
  }
  return out;
}

/** Runs a bash script in cwd; resolves to { code, stdout, stderr }. */
async function sh(script, cwd, env, timeoutMs) {
  const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Resolves once url answers 200, or rejects after ms (or when child exits). */
async function waitReady(url, child, logs, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the README's server command exited (${child.exitCode ?? child.signalCode}):\n${logs()}`);
    }
    try {
      const res = await fetch(url);
      if (res.status === 200) return;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`${url} not ready within ${ms} ms:\n${logs()}`);
    await new Promise((r) => { setTimeout(r, 100); }); // polling a server that is compiling
  }
}

test('every block of the README and of the quick starts is marked, and those marked run as shown', async (t) => {
  const port = await freePort();
  const withPort = (s) => s.replace(/\b8000\b/g, String(port));
  const env = { ...process.env, SWITCHBOARD_PORT: String(port) };
  for (const k of ['SWITCHBOARD_HOST', 'SWITCHBOARD_CONFIG', 'SWITCHBOARD_REDIS_URL']) delete env[k];

  // Collect the blocks, in order, and check their markers first.
  const all = [];
  for (const { file, section } of DOCS) {
    const found = blocks(await readFile(path.join(ROOT, file), 'utf8'), section);
    assert.ok(found.length > 0, `${file}: no blocks found${section ? ` in section "${section}"` : ''}`);
    for (const b of found) {
      const where = `${file}:${b.line}`;
      assert.ok(b.marker, `${where}: a ${b.lang || 'plain'} block without a <!-- doctest: ... --> marker (see e2e/docs.test.js)`);
      const kind = b.marker.split(/[ :]/)[0];
      assert.ok(kind === 'server' || kind === 'file' || kind === 'skip' || EXPECT[kind],
        `${where}: unknown doctest marker "${b.marker}"`);
      if (kind === 'skip') assert.match(b.marker, /^skip: \S/, `${where}: a skip says why`);
      all.push({ ...b, kind, where });
    }
  }
  const servers = all.filter((b) => b.kind === 'server');
  assert.equal(servers.length, 1, 'want one server block (README.md)');
  for (const name of Object.keys(EXPECT)) {
    assert.ok(all.some((b) => b.kind === name), `no block marked doctest: ${name}`);
  }

  // A scratch copy of examples/quickstart, without node_modules.
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'switchboard-docs-'));
  t.after(() => rm(scratch, { recursive: true, force: true }));
  const quickstart = path.join(scratch, 'examples', 'quickstart');
  await cp(path.join(ROOT, 'examples', 'quickstart'), quickstart, {
    recursive: true, filter: (src) => !src.includes(`${path.sep}node_modules`),
  });
  for (const f of await readdir(quickstart)) {
    if (f.endsWith('.mjs')) {
      const p = path.join(quickstart, f);
      await writeFile(p, withPort(await readFile(p, 'utf8')));
    }
  }

  // The README's server, as its command says, in its own process group so
  // that stopping it stops what `go run` started.
  const server = spawn('bash', ['-c', servers[0].body], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let serverLogs = '';
  server.stdout.on('data', (d) => { serverLogs += d; });
  server.stderr.on('data', (d) => { serverLogs += d; });
  const exited = once(server, 'exit');
  t.after(async () => {
    if (server.exitCode === null && server.signalCode === null) {
      process.kill(-server.pid, 'SIGTERM');
      await exited;
    }
  });
  await waitReady(`http://127.0.0.1:${port}/readyz`, server, () => serverLogs, 180_000);

  for (const b of all) {
    if (b.kind === 'server') continue;
    if (b.kind === 'skip') {
      t.diagnostic(`${b.where}: skipped: ${b.marker.slice('skip: '.length)}`);
      continue;
    }
    if (b.kind === 'file') {
      const file = b.marker.slice('file '.length);
      const want = await readFile(path.join(ROOT, file), 'utf8');
      assert.equal(b.body, want, `${b.where}: the block differs from ${file}; copy the file into the doc`);
      continue;
    }
    const { code, stdout, stderr } = await sh(withPort(b.body), scratch, env, 180_000);
    const said = `${b.where} (${b.kind}) exited ${code}\nstdout:\n${stdout}\nstderr:\n${stderr}\nserver:\n${serverLogs}`;
    assert.equal(code, 0, said);
    for (const re of EXPECT[b.kind]) assert.match(stdout, re, said);
  }

  process.kill(-server.pid, 'SIGTERM');
  await exited;
});

test('blocks() finds the fenced blocks of a section and their markers', () => {
  const md = [
    '# T', '```sh', 'a', '```',
    '## Quick start', '<!-- doctest: x -->', '', '```js', 'b', '', 'c', '```',
    '```', 'd', '```',
    '## Other', '<!-- doctest: y -->', '```sh', 'e', '```',
  ].join('\n');
  assert.deepEqual(blocks(md, 'Quick start'), [
    { marker: 'x', lang: 'js', body: 'b\n\nc\n', line: 8 },
    { marker: null, lang: '', body: 'd\n', line: 13 },
  ]);
  assert.equal(blocks(md, null).length, 4);
});
