// A pusher-js client subscribes to my-channel; once subscribed, the pusher
// server SDK triggers my-event there, and the client prints it and quits.
import Pusher from 'pusher-js';
import PusherServer from 'pusher';

const client = new Pusher('app-key', {
  cluster: 'mt1', // required by pusher-js, ignored by Switchboard
  wsHost: 'localhost',
  wsPort: 8000,
  forceTLS: false,
  enabledTransports: ['ws'],
  disableStats: true,
});
const server = new PusherServer({
  appId: 'app-id', key: 'app-key', secret: 'app-secret',
  host: 'localhost', port: '8000', useTLS: false,
});

const channel = client.subscribe('my-channel');
channel.bind('pusher:subscription_succeeded', async () => {
  await server.trigger('my-channel', 'my-event', { message: 'hello' });
});
channel.bind('my-event', (data) => {
  console.log('my-event:', data.message); // my-event: hello
  client.disconnect();
});
