// WebSocket helpers for end-to-end tests: promises with deadlines around the
// `ws` client, and a raw client for frames `ws` refuses to send.

import { once } from 'node:events';
import crypto from 'node:crypto';
import net from 'node:net';
import WebSocket from 'ws';

const DEFAULT_TIMEOUT = 5000;

/** Rejects with a message naming what timed out. */
export function withTimeout(promise, what, ms = DEFAULT_TIMEOUT) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Opens a `ws` client and resolves once it is open. options go to new WebSocket. */
export async function connect(url, options = {}) {
  const ws = new WebSocket(url, options);
  const opened = new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`handshake answered ${res.statusCode}`)));
  });
  await withTimeout(opened, `the WebSocket to ${url} to open`);
  return ws;
}

/** Resolves to the next message: { data: Buffer, isBinary }. */
export function nextMessage(ws, ms) {
  return withTimeout(new Promise((resolve, reject) => {
    ws.once('message', (data, isBinary) => resolve({ data, isBinary }));
    ws.once('close', (code) => reject(new Error(`closed with ${code} before a message arrived`)));
  }), 'a message', ms);
}

/** Resolves to the close event: { code, reason }. */
export function closed(ws, ms) {
  return withTimeout(new Promise((resolve) => {
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  }), 'the close', ms);
}

/**
 * Opens a raw TCP connection and performs a WebSocket handshake by hand.
 * Resolves to { socket, reader } once the 101 arrived; reader.read(n)
 * returns the next n bytes.
 */
export async function rawConnect(host, port, path, headers = {}) {
  const socket = net.connect(port, host);
  await withTimeout(once(socket, 'connect'), 'a TCP connection');
  const key = crypto.randomBytes(16).toString('base64');
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
    + `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`);
  const reader = new ByteReader(socket);
  const head = (await reader.readUntil('\r\n\r\n')).toString('latin1');
  if (!head.startsWith('HTTP/1.1 101')) throw new Error(`handshake answered: ${head.split('\r\n')[0]}`);
  const accept = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  if (!head.toLowerCase().includes(`sec-websocket-accept: ${accept.toLowerCase()}`)) {
    throw new Error(`wrong Sec-WebSocket-Accept in:\n${head}`);
  }
  return { socket, reader };
}

/** A masked client frame with opcode (1 text, 2 binary, 8 close, ...) and payload. */
export function maskedFrame(opcode, payload, fin = true) {
  const len = payload.length;
  const lenBytes = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + lenBytes + 4);
  head[0] = (fin ? 0x80 : 0) | opcode;
  if (lenBytes === 0) head[1] = 0x80 | len;
  else if (lenBytes === 2) { head[1] = 0x80 | 126; head.writeUInt16BE(len, 2); }
  else { head[1] = 0x80 | 127; head.writeBigUInt64BE(BigInt(len), 2); }
  const mask = crypto.randomBytes(4);
  mask.copy(head, 2 + lenBytes);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= mask[i % 4];
  return Buffer.concat([head, body]);
}

/** Reads one unmasked server frame: { fin, opcode, payload }. */
export async function readFrame(reader) {
  const [b0, b1] = await reader.read(2);
  let len = b1 & 0x7f;
  if (len === 126) len = (await reader.read(2)).readUInt16BE(0);
  else if (len === 127) len = Number((await reader.read(8)).readBigUInt64BE(0));
  if (b1 & 0x80) throw new Error('server frame is masked');
  return { fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload: await reader.read(len) };
}

/** Decodes a close frame's payload: { code, reason }. */
export function parseClose(payload) {
  if (payload.length < 2) return { code: 1005, reason: '' };
  return { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString('utf8') };
}

/** Buffers a socket's bytes for exact-length reads, each with a deadline. */
class ByteReader {
  constructor(socket) {
    this.buf = Buffer.alloc(0);
    this.waiters = [];
    this.ended = false;
    socket.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.#wake(); });
    socket.on('close', () => { this.ended = true; this.#wake(); });
    socket.on('error', () => {});
  }

  #wake() { for (const w of this.waiters.splice(0)) w(); }

  async #waitFor(ready, what, ms) {
    const deadline = Date.now() + (ms ?? DEFAULT_TIMEOUT);
    while (!ready()) {
      if (this.ended) throw new Error(`connection closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await withTimeout(new Promise((r) => this.waiters.push(r)), what, left).catch(() => {});
    }
  }

  async read(n, ms) {
    await this.#waitFor(() => this.buf.length >= n, `${n} bytes`, ms);
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  async readUntil(marker, ms) {
    await this.#waitFor(() => this.buf.includes(marker), JSON.stringify(marker), ms);
    const end = this.buf.indexOf(marker) + marker.length;
    const out = this.buf.subarray(0, end);
    this.buf = this.buf.subarray(end);
    return out;
  }
}
