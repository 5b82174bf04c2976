// A signaling server that plays a full native Clayground host (clayground-wire.md §4.4): every
// OFFER is answered at signaling with Clayground's REJECT extension, in the name of the peer it
// was addressed to, and no connection is made. Speaks the PeerJS server's framing in Cloud mode
// (OPEN at once) and Clayground's Local framing with --local (OPEN after the {id, secret} frame).
//   node rejecting_host_server.mjs <address> <port> [--local]
// Prints "listening" when ready and one line per REJECT it sends.
import { WebSocketServer } from 'ws';

import { parseFrame } from './json_frame.mjs';

const [address, port, mode] = process.argv.slice(2);
const local = mode === '--local';
const wss = new WebSocketServer({ host: address, port: Number(port) });
wss.on('listening', () => console.log('listening'));
wss.on('connection', (socket, request) => {
  const url = new URL(request.url, 'ws://x');
  let id = url.searchParams.get('id') || '';
  let open = false;
  const sendOpen = () => {
    open = true;
    socket.send(JSON.stringify({ type: 'OPEN', id }));
  };
  if (!local) sendOpen();
  socket.on('message', (raw) => {
    const m = parseFrame(raw);
    if (!m) return;
    if (!open) {
      if (typeof m.id === 'string' && m.id) id = m.id;
      sendOpen();
      return;
    }
    if (m.type !== 'OFFER' || typeof m.dst !== 'string') return;
    const connectionId = m.payload && m.payload.connectionId;
    socket.send(JSON.stringify({
      type: 'REJECT',
      src: m.dst,
      dst: id,
      payload: { type: 'data', connectionId, reason: 'Network full' },
    }));
    console.log(`rejected ${connectionId} from ${id} to ${m.dst}`);
  });
});
