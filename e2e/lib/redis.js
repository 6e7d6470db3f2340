// A throwaway redis-server for the cluster end-to-end tests.
//
//   import { redisSkip, startRedis } from './lib/redis.js';
//   test('...', { skip: redisSkip }, ...);
//   const redis = await startRedis();   // { port, url, child, exited }
//   redis.child.kill('SIGKILL'); await redis.exited;
//   const rc = await startRedisCluster(3); // { url, nodes, stop }; await rc.stop();
//
// The binary is REDIS_SERVER, else redis-server on PATH. Without it the tests
// are skipped with the reason (redisSkip), unless SWITCHBOARD_TEST_REDIS=1
// (make test, scripts/e2e.sh), which turns that into a failure at import.

import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './server.js';

const REDIS = process.env.REDIS_SERVER || 'redis-server';
const redisMissing = spawnSync(REDIS, ['--version']).error;
if (redisMissing && process.env.SWITCHBOARD_TEST_REDIS === '1') {
  throw new Error(`${REDIS} not found (${redisMissing.message}) and SWITCHBOARD_TEST_REDIS=1: install redis-server`);
}

/** false, or why the Redis tests are skipped: the skip option of node:test. */
export const redisSkip = redisMissing ? `${REDIS} not found; install redis-server to run the cluster e2e tests` : false;

const CLI = process.env.REDIS_CLI || 'redis-cli';
const cliMissing = spawnSync(CLI, ['--version']).error;
if (cliMissing && process.env.SWITCHBOARD_TEST_REDIS === '1') {
  throw new Error(`${CLI} not found (${cliMissing.message}) and SWITCHBOARD_TEST_REDIS=1: install redis-tools`);
}

/** redisSkip for the tests on a Redis Cluster, which also need redis-cli. */
export const redisClusterSkip = redisSkip
  || (cliMissing ? `${CLI} not found; install redis-tools to run the Redis Cluster e2e tests` : false);

/** Starts redis-server on a free loopback port (or port); resolves once it answers PING. */
export async function startRedis(port) {
  port ??= await freePort();
  const child = spawn(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit');
  const deadline = Date.now() + 10000;
  for (;;) {
    if (await ping(port)) return { port, url: `redis://127.0.0.1:${port}/0`, child, exited };
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not start on port ${port}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

function ping(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.setTimeout(1000);
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => { s.destroy(); resolve(d.toString().startsWith('+PONG')); });
    s.on('error', () => resolve(false));
    s.on('timeout', () => { s.destroy(); resolve(false); });
  });
}

/**
 * Starts a Redis Cluster of `primaries` redis-servers with cluster-enabled,
 * each in a temporary directory on a free loopback port, joined with
 * `redis-cli --cluster create` (REDIS_CLI, else redis-cli on PATH); resolves
 * once every node reports cluster_state:ok. Returns { url, nodes, stop }.
 */
export async function startRedisCluster(primaries = 3) {
  const nodes = [];
  const stop = async () => {
    for (const n of nodes) n.child.kill('SIGKILL');
    await Promise.all(nodes.map((n) => n.exited));
    for (const n of nodes) fs.rmSync(n.dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < primaries; i++) {
      const [port, busPort] = [await freePort(), await freePort()];
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-e2e-cluster-'));
      const child = spawn(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
        '--loglevel', 'warning', '--dir', dir, '--cluster-enabled', 'yes', '--cluster-port', String(busPort),
        '--cluster-config-file', path.join(dir, 'nodes.conf'), '--cluster-node-timeout', '1000'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
      const node = { port, dir, child, exited: once(child, 'exit') };
      nodes.push(node);
      await waitFor(() => ping(port), `cluster node ${port} to answer PING`);
    }
    const create = spawnSync(CLI, ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 30000 });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.error ?? ''}${create.stdout}${create.stderr}`);
    await waitFor(() => nodes.every((n) => /cluster_state:ok/.test(cli(n.port, 'cluster', 'info'))), 'cluster_state:ok on every node');
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `redis-cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`, nodes, stop };
}


/** Runs one redis-cli command on the node at port; returns its output. */
export function cli(port, ...args) {
  const r = spawnSync(CLI, ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 5000 });
  return r.stdout ?? '';
}

async function waitFor(cond, what, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
