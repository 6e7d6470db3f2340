// permessage-deflate with the `ws` client and its zlib: the server answers
// server_max_window_bits as offered and the client inflates every echo with
// the window it asked for. (zlib inflates a whole message at once and so
// does not catch a longer distance; ws/deflate_window_test.go checks that
// the server keeps to the window.)

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startServer } from './lib/server.js';
import { connect, nextMessage } from './lib/ws.js';

let srv;
before(async () => { srv = await startServer({ config: { websocket: { compression: true } } }); });
after(async () => {
  const { code } = await srv.stop();
  assert.equal(code, 0, `switchboard exited with ${code}:\n${srv.logs()}`);
});

// 8 KiB of random hex, twice: the second copy matches the first only at a
// distance of 8 KiB, beyond every window under 2^14.
const block = crypto.randomBytes(4096).toString('hex');
const message = block + block;

for (const bits of [9, 10, 12, 15]) {
  test(`server_max_window_bits=${bits}: negotiated, and the echo inflates within that window`, async (t) => {
    const ws = await connect(srv.wsUrl('/echo'), {
      perMessageDeflate: { serverMaxWindowBits: bits, serverNoContextTakeover: true, clientNoContextTakeover: true, threshold: 0 },
    });
    t.after(() => ws.terminate());
    assert.equal(ws.extensions, 'permessage-deflate');
    assert.equal(ws._extensions['permessage-deflate'].params.server_max_window_bits, bits); // what ws accepted and inflates with
    for (let i = 0; i < 3; i++) {
      ws.send(message);
      const { data } = await nextMessage(ws);
      assert.equal(data.toString(), message);
    }
  });
}
