// A stray PeerJS client that offers a data connection to a node and never lets it open: its SDP
// carries no ICE candidate and none follows, so the node's ICE waits and its channel never opens.
//   node stray_offer.mjs <ws://address:port/peerjs> <dst>
// Prints "open" once registered and "answered" when the node answers; holds its registration
// (HEARTBEAT every 5 s) until killed.
import { WebSocket } from 'ws';

import { parseFrame } from './json_frame.mjs';

const [base, dst] = process.argv.slice(2);
const id = 'stray' + Math.random().toString(36).slice(2, 10);
const socket = new WebSocket(`${base}?key=peerjs&id=${id}&token=t${id}`);
const sdp = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'a=msid-semantic: WMS',
  'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:abcd',
  'a=ice-pwd:0123456789abcdefghijklmn',
  'a=ice-options:trickle',
  'a=fingerprint:sha-256 0B:30:55:7A:9F:C4:E9:0E:33:58:7D:A2:C7:EC:11:36:5B:80:A5:CA:EF:14:39:5E:83:A8:CD:F2:17:3C:61:86',
  'a=setup:actpass',
  'a=mid:0',
  'a=sctp-port:5000',
  'a=max-message-size:262144',
  '',
].join('\r\n');
socket.on('message', (raw) => {
  const m = parseFrame(raw);
  if (!m) return;
  if (m.type === 'OPEN') {
    console.log('open');
    socket.send(JSON.stringify({
      type: 'OFFER',
      dst,
      payload: {
        sdp: { type: 'offer', sdp },
        type: 'data',
        connectionId: 'dc_stray0000000',
        label: 'data',
        serialization: 'json',
        reliable: true,
        metadata: {},
      },
    }));
    setInterval(() => socket.send(JSON.stringify({ type: 'HEARTBEAT' })), 5000);
  } else if (m.type === 'ANSWER') {
    console.log('answered');
  }
});
socket.on('close', () => process.exit(0));
socket.on('error', (e) => {
  console.log('error ' + e.message);
  process.exit(1);
});
