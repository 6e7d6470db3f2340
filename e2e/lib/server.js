// Starts and stops the switchboard binary for end-to-end tests.
//
//   import { startServer } from './lib/server.js';
//   const srv = await startServer({ config: { echo: { max_message_size: 1000 } } });
//   ... srv.url, srv.wsUrl('/echo'), srv.port ...
//   await srv.stop();            // SIGTERM, waits for exit; { code, signal }
//
// Each server runs in a fresh temporary working directory (so a stray
// ./websockets.conf is never picked up), on a free loopback port, with no
// SWITCHBOARD_* variables from the test's own environment.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The binary under test: $SWITCHBOARD_BIN, else ../bin/switchboard (built by `make build`). */
export const BINARY = process.env.SWITCHBOARD_BIN
  ?? fileURLToPath(new URL('../../bin/switchboard', import.meta.url));

const HOST = '127.0.0.1';
const running = new Set();

// A test that crashes must not leave servers behind.
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Returns a loopback TCP port that was free a moment ago. */
export async function freePort(host = HOST) {
  const srv = net.createServer();
  srv.listen(0, host);
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

/**
 * Starts the binary and resolves once GET /readyz answers 200.
 *
 * @param {object} [opts]
 * @param {object|string} [opts.config] config file contents: an object (written as JSON) or HJSON text; passed with --config
 * @param {Record<string,string>} [opts.files] more files to write into the working directory first, name -> contents
 * @param {string[]} [opts.args] more command-line arguments, after --host and --port
 * @param {Record<string,string>} [opts.env] more environment variables
 * @param {number|false} [opts.port] port to pass with --port; default a free one; false passes no --host/--port
 * @param {(srv: Server) => Promise<void>} [opts.waitReady] replaces the /readyz probe (e.g. for TLS)
 * @param {number} [opts.readyTimeoutMs] default 15000
 * @returns {Promise<Server>}
 */
export async function startServer(opts = {}) {
  try {
    await access(BINARY);
  } catch {
    throw new Error(`${BINARY} not found: build it first (make build)`);
  }
  for (let attempt = 1; ; attempt++) {
    const srv = new Server(opts);
    try {
      await srv.start();
      return srv;
    } catch (err) {
      await srv.stop().catch(() => {});
      const portTaken = /already in use/.test(srv.logs());
      if (!portTaken || opts.port !== undefined || attempt >= 3) throw err;
    }
  }
}

/** One running switchboard process; made by startServer. */
export class Server {
  constructor(opts) {
    this.opts = opts;
    this.host = HOST;
    this.port = undefined;
    this.dir = undefined;
    this.child = undefined;
    this.exited = undefined; // promise of { code, signal }
    this.lines = [];
  }

  /** http://host:port */
  get url() { return `http://${this.host}:${this.port}`; }

  /** ws://host:port + path */
  wsUrl(p = '/') { return `ws://${this.host}:${this.port}${p}`; }

  /** Everything the process wrote to stdout and stderr so far. */
  logs() { return this.lines.join(''); }

  async start() {
    const { config, files = {}, args = [], env = {}, readyTimeoutMs = 15000 } = this.opts;
    this.dir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-e2e-'));
    for (const [name, text] of Object.entries(files)) {
      await writeFile(path.join(this.dir, name), text);
    }
    const argv = [];
    if (config !== undefined) {
      const file = path.join(this.dir, 'switchboard.hjson');
      await writeFile(file, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
      argv.push('--config', file);
    }
    if (this.opts.port !== false) {
      this.port = this.opts.port ?? await freePort();
      argv.push('--host', this.host, '--port', String(this.port));
    }
    argv.push(...args);

    const childEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SWITCHBOARD_')));
    // E2E_SEND_PATH runs every server on that websocket.send_path
    // (scripts/e2e.sh runs the WebSocket tests again with "uring").
    if (process.env.E2E_SEND_PATH) childEnv.SWITCHBOARD_SEND_PATH = process.env.E2E_SEND_PATH;
    this.child = spawn(BINARY, argv, { cwd: this.dir, env: { ...childEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(this.child);
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        running.delete(this.child);
        resolve({ code, signal });
      });
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      stream.setEncoding('utf8');
      stream.on('data', (s) => this.lines.push(s));
    }
    const ready = this.opts.waitReady ? this.opts.waitReady(this) : this.#probeReady(readyTimeoutMs);
    const early = this.exited.then(({ code, signal }) => {
      throw new Error(`switchboard exited (code ${code}, signal ${signal}) before it was ready:\n${this.logs()}`);
    });
    await Promise.race([ready, early]);
    early.catch(() => {}); // exits after this point are stop()'s business
  }

  async #probeReady(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    while (Date.now() < deadline) {
      try {
        const res = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(1000) });
        last = `${res.status} ${(await res.text()).trim()}`;
        if (res.status === 200) return;
      } catch (err) {
        last = err.cause?.code ?? err.message;
      }
      if (this.child.exitCode !== null || this.child.signalCode !== null) return; // start() reports it
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`switchboard not ready within ${timeoutMs} ms (last /readyz: ${last}):\n${this.logs()}`);
  }

  /** Waits until the logs match re, or throws after timeoutMs. */
  async waitForLog(re, timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(this.logs())) {
      if (Date.now() > deadline) throw new Error(`no log line matching ${re} within ${timeoutMs} ms:\n${this.logs()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /**
   * Sends SIGTERM and waits for the process to exit (SIGKILL after
   * timeoutMs, and then an error). Resolves to { code, signal }. Safe to
   * call more than once.
   */
  async stop(timeoutMs = 15000) {
    if (this.child) {
      if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
      let timer;
      const timeout = new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs, 'timeout'); });
      const result = await Promise.race([this.exited, timeout]);
      clearTimeout(timer);
      if (result === 'timeout') {
        this.child.kill('SIGKILL');
        await this.exited;
        throw new Error(`switchboard did not exit within ${timeoutMs} ms of SIGTERM:\n${this.logs()}`);
      }
    }
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
    this.dir = undefined;
    return this.exited;
  }
}
