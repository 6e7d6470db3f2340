// A user is added through the publisher API and logs in; an atmosphere.js
// client subscribes to the states of the user's trackers; the backend
// publishes a state, and the client prints it and quits.
import { createRequire } from 'node:module';

const atmosphere = createRequire(import.meta.url)('atmosphere.js'); // 2.x; in a page, the <script>'s global
const base = 'http://localhost:8000';

// The publisher API answers loopback clients only while no
// atmosphere.publisher_api_key is set.
async function call(method, path, body) {
  const res = await fetch(base + path, {
    method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  return res.json();
}

await call('PUT', '/publisher/users/user@example.com', { password: 'D9#YoBaQd@RMjMSb', trackers: [15564, 15565] });
const { hash } = await call('POST', '/user/auth', { login: 'user@example.com', password: 'D9#YoBaQd@RMjMSb' });

const sock = atmosphere.subscribe({
  url: base + '/event/subscription',
  contentType: 'application/json',
  transport: 'websocket',
  fallbackTransport: 'long-polling',
  trackMessageLength: true,
  logLevel: 'error',
  onOpen() {
    sock.push(JSON.stringify({ action: 'subscribe', hash, requests: [{ type: 'state', trackers: [15564, 15565] }] }));
  },
  onReopen() { /* subscriptions are per connection: subscribe again */ },
  async onMessage(res) {
    const msg = JSON.parse(res.responseBody); // a response, an error or an event
    if (msg.type === 'response' && msg.action === 'subscription/subscribe') {
      // Subscribed: now the backend publishes a state.
      await call('POST', '/publisher/state', {
        tracker_id: 15564,
        data: {
          source_id: 10284, gps: { location: { lat: 52.52, lng: 13.40 }, speed: 42 },
          connection_status: 'active', movement_status: 'moving',
        },
      });
    } else if (msg.event === 'state') {
      console.log(`state: source ${msg.data.source_id}, speed ${msg.data.gps.speed}`); // state: source 10284, speed 42
      atmosphere.unsubscribe();
    }
  },
});
