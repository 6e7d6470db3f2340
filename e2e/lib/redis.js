// A throwaway redis-server for the cluster end-to-end tests.
//
//   import { redisSkip, startRedis } from './lib/redis.js';
//   test('...', { skip: redisSkip }, ...);
//   const redis = await startRedis();   // { port, url, child, exited }
//   redis.child.kill('SIGKILL'); await redis.exited;
//
// The binary is REDIS_SERVER, else redis-server on PATH. Without it the tests
// are skipped with the reason (redisSkip), unless SWITCHBOARD_TEST_REDIS=1
// (make test, scripts/e2e.sh), which turns that into a failure at import.

import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { freePort } from './server.js';

const REDIS = process.env.REDIS_SERVER || 'redis-server';
const redisMissing = spawnSync(REDIS, ['--version']).error;
if (redisMissing && process.env.SWITCHBOARD_TEST_REDIS === '1') {
  throw new Error(`${REDIS} not found (${redisMissing.message}) and SWITCHBOARD_TEST_REDIS=1: install redis-server`);
}

/** false, or why the Redis tests are skipped: the skip option of node:test. */
export const redisSkip = redisMissing ? `${REDIS} not found; install redis-server to run the cluster e2e tests` : false;

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
