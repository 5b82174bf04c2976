// What the real PeerJS 1.5.5 (in Chromium) does with a second OFFER for a connection it already
// has, which is what an ICE restart would send it: it closes that DataConnection and opens a new
// one under the same connection id, even when the OFFER carries claynet's mark. So claynet never
// restarts ICE toward a PeerJS browser (PeerJsConnection::restartIce refuses) and, receiving such
// an OFFER itself from a browser, replaces the connection the same way.
//
//   node peerjs_second_offer.mjs --claynet BUILD/bin/claynet      (inside scripts/netns-run.sh)
//
// A raw WebSocket in the page plays the offering side, so the test controls the frames exactly.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, preparePage, serveFiles } from '../interop/chromium_common.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const claynet = process.argv[process.argv.indexOf('--claynet') + 1];
const PORT = 9311;
const log = (m) => process.stderr.write(`[peerjs_second_offer] ${m}\n`);

function pageMain({ port }) {
  return new Promise((done, fail) => {
    const events = [];
    const peer = new Peer('browser', { host: '127.0.0.1', port, path: '/', key: 'peerjs', debug: 1 });
    let count = 0;
    peer.on('connection', (c) => {
      const n = count++;
      events.push({ t: 'connection', n, id: c.connectionId });
      c.on('close', () => events.push({ t: 'close', n }));
    });
    peer.on('error', (e) => events.push({ t: 'error', type: e.type }));
    peer.on('open', async () => {
      const pc = new RTCPeerConnection();
      pc.createDataChannel('x');
      const offer = await pc.createOffer();
      const ws = new WebSocket(`ws://127.0.0.1:${port}/peerjs?key=peerjs&id=raw&token=tok`);
      ws.onerror = () => fail(new Error('raw WebSocket failed'));
      ws.onmessage = async (m) => {
        if (JSON.parse(m.data).type !== 'OPEN') return;
        const payload = { sdp: { type: 'offer', sdp: offer.sdp }, type: 'data', connectionId: 'dc_same',
          label: 'dc_same', reliable: true, serialization: 'binary' };
        ws.send(JSON.stringify({ type: 'OFFER', dst: 'browser', payload }));
        await new Promise((r) => setTimeout(r, 700));
        ws.send(JSON.stringify({ type: 'OFFER', dst: 'browser', payload: { ...payload, claynet: 1 } }));
        await new Promise((r) => setTimeout(r, 1500));
        const open = Object.values(peer.connections || {}).flat().filter((c) => c.connectionId === 'dc_same');
        done({ events, held: open.length });
      };
    });
  });
}

let context;
let server;
let files;
let userDataDir;
let code = 1;
try {
  server = spawn(claynet, ['signal', '--host', '127.0.0.1', '--port', String(PORT)], { stdio: ['ignore', 'inherit', 'inherit'] });
  await new Promise((r) => setTimeout(r, 500));
  const { chromium } = await import('playwright-core');
  userDataDir = mkdtempSync(join(tmpdir(), 'claynet-second-offer-'));
  context = await launchChromium(chromium, '/usr/bin/chromium', userDataDir);
  const page = await preparePage(context, { log });
  files = await serveFiles({
    '/': ['text/html', '<!doctype html><meta charset="utf-8"><script src="/peerjs.min.js"></script>'],
    '/peerjs.min.js': ['text/javascript', readFileSync(join(ROOT, 'node_modules', 'peerjs', 'dist', 'peerjs.min.js'), 'utf8')],
  });
  await page.goto(files.url);
  const { events, held } = await page.evaluate(pageMain, { port: PORT });
  log(`events: ${JSON.stringify(events)}; connections held for dc_same: ${held}`);
  const conns = events.filter((e) => e.t === 'connection');
  const problems = [];
  if (conns.length !== 2 || conns.some((c) => c.id !== 'dc_same'))
    problems.push(`expected two connections under dc_same, got ${JSON.stringify(conns)}`);
  // PeerJS emits 'close' only for a connection that had opened; the one it replaced is gone from
  // its list either way.
  if (held !== 1) problems.push(`the peer holds ${held} connections under dc_same, expected the new one only`);
  if (events.some((e) => e.t === 'close' && e.n === 1)) problems.push('the second connection was closed too');
  if (problems.length) {
    log(`FAILED: ${problems.join('; ')}`);
  } else {
    log('PASS: PeerJS replaced the connection (closed the first, opened a second under the same id)');
    code = 0;
  }
} catch (e) {
  log(`FAILED: ${e.message}`);
} finally {
  try { if (context) await context.close(); } catch { /* closing anyway */ }
  if (files) files.close();
  if (server) server.kill('SIGTERM');
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(code);
