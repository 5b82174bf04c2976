// The Chromium side of the NAT lab: the real PeerJS 1.5.5 in headless Chromium, with default
// WebRTC settings (host addresses hidden behind mDNS names), given STUN/TURN servers by host
// name. It speaks the command protocol of claynet-nat-peer (tools/nat_peer.cpp), so the lab's
// orchestrator (run_nat.mjs) can put either stack on either side:
//
//   node browser_nat_peer.mjs --signal ws://signal.lab.test:9000/ --id ID [--connect REMOTE]
//       [--ice URL]... [--relay-only] [--ca-file PEM] [--chromium /usr/bin/chromium] [--verbose]
//
// --ice takes stun:host:port or turn[s]:user:pass@host:port[?transport=tcp].
// stdout: JSON event lines (registered, open {connectMs, pair}, rtt {p50Ms, samples},
// result {...}, error); stdin: "rtt N", "stream HZ", "finish", "close".
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { launchChromium, preparePage, serveFiles } from '../interop/chromium_common.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PEERJS_PATH = join(ROOT, 'node_modules', 'peerjs', 'dist', 'peerjs.min.js');

const opts = { signal: null, id: null, connect: null, ice: [], relayOnly: false, caFile: null,
  chromium: '/usr/bin/chromium', verbose: false };
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const need = () => {
      if (i + 1 >= argv.length) {
        process.stderr.write(`browser_nat_peer: ${k} needs a value\n`);
        process.exit(2);
      }
      return argv[++i];
    };
    if (k === '--signal') opts.signal = need();
    else if (k === '--id') opts.id = need();
    else if (k === '--connect') opts.connect = need();
    else if (k === '--ice') opts.ice.push(need());
    else if (k === '--relay-only') opts.relayOnly = true;
    else if (k === '--ca-file') opts.caFile = need();
    else if (k === '--chromium') opts.chromium = need();
    else if (k === '--verbose') opts.verbose = true;
    else {
      process.stderr.write(`browser_nat_peer: unknown argument ${k}\n`);
      process.exit(2);
    }
  }
  if (!opts.signal || !opts.id) {
    process.stderr.write('browser_nat_peer: --signal and --id are required\n');
    process.exit(2);
  }
}

const t0 = Date.now();
const log = (msg) => process.stderr.write(`[chromium-nat ${opts.id} +${Date.now() - t0}ms] ${msg}\n`);
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

// "turn:user:pass@host:port" is the short form the lab uses for a TURN server with credentials.
function iceServer(spec) {
  const m = /^(turns?):([^:@]+):([^@]+)@(.+)$/.exec(spec);
  return m ? { urls: `${m[1]}:${m[4]}`, username: m[2], credential: m[3] } : { urls: spec };
}

function peerOptions() {
  const u = new URL(opts.signal);
  const secure = u.protocol === 'wss:';
  return {
    host: u.hostname, port: Number(u.port) || (secure ? 443 : 80), secure,
    path: u.pathname.replace(/peerjs\/?$/, '') || '/', key: 'peerjs', debug: 1,
    config: { iceServers: opts.ice.map(iceServer), iceTransportPolicy: opts.relayOnly ? 'relay' : 'all' },
  };
}

// ------------------------------------------------------------------ page side
function pageMain({ id, connect, peerOpts }) {
  const out = (obj) => window.__out(obj);
  const peer = new Peer(id, peerOpts);
  let conn = null;
  let started = 0;
  let lastPair = null;
  let pingsLeft = 0;
  let pingAt = 0;
  let rtts = [];
  let streamTimer = null;
  let sent = 0;
  let received = 0;
  let orderError = null;
  let remoteEnd = null;
  let finishing = false;

  // The selected pair as getStats() tells it, in claynet-nat-peer's terms.
  async function selectedPair() {
    const stats = await conn.peerConnection.getStats();
    let pairId = null;
    stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId; });
    const pair = pairId && stats.get(pairId);
    if (!pair) return null;
    const side = (c) => {
      const o = { type: c.candidateType, address: c.address || c.ip || '', port: c.port, transport: c.protocol };
      if (c.relayProtocol) o.relayProtocol = c.relayProtocol;
      return o;
    };
    return { local: side(stats.get(pair.localCandidateId)), remote: side(stats.get(pair.remoteCandidateId)) };
  }

  function checkDone() {
    if (!finishing || remoteEnd === null) return;
    const ok = !orderError && received === remoteEnd;
    out({ event: 'result', ok, sent, received,
      detail: orderError || (ok ? `received all ${received} in order; sent ${sent}` : `received ${received} of the ${remoteEnd} the remote sent`) });
  }

  function attach(c) {
    conn = c;
    c.on('open', async () => {
      out({ event: 'open', connectMs: performance.now() - started, pair: await selectedPair() });
      setInterval(async () => {
        const p = await selectedPair().catch(() => null);
        if (p && JSON.stringify(p) !== JSON.stringify(lastPair)) {
          lastPair = p;
          out({ event: 'pair', pair: p });
        }
      }, 500);
    });
    c.on('data', (v) => {
      if (v && typeof v === 'object') {
        if ('seq' in v) {
          if (v.seq !== received && !orderError) orderError = `message ${v.seq} arrived where ${received} was due`;
          received++;
        } else if ('ping' in v) {
          c.send({ pong: 1 });
        } else if ('pong' in v) {
          rtts.push(performance.now() - pingAt);
          if (--pingsLeft > 0) {
            pingAt = performance.now();
            c.send({ ping: 1 });
          } else {
            const s = rtts.slice().sort((a, b) => a - b);
            out({ event: 'rtt', p50Ms: s[Math.floor(s.length / 2)], samples: s.length });
            rtts = [];
          }
        } else if ('end' in v) {
          remoteEnd = v.end;
          checkDone();
        }
      }
    });
    c.on('close', () => out({ event: 'state', state: 'closed', reason: 'the connection closed' }));
    c.on('error', (e) => out({ event: 'error', detail: String(e && e.message || e) }));
  }

  peer.on('open', (openedId) => {
    out({ event: 'registered', id: openedId });
    if (connect) {
      started = performance.now();
      attach(peer.connect(connect, { reliable: true, serialization: 'json', label: 'nat' }));
    }
  });
  peer.on('connection', (c) => {
    if (conn) return;
    started = performance.now();
    attach(c);
  });
  peer.on('error', (e) => out({ event: 'error', detail: `${e.type}: ${e.message}` }));

  window.__command = (line) => {
    const [cmd, arg] = line.split(' ');
    if (!conn || !conn.open) return;
    if (cmd === 'rtt') {
      pingsLeft = Math.max(1, Number(arg) || 1);
      pingAt = performance.now();
      conn.send({ ping: 1 });
    } else if (cmd === 'stream') {
      clearInterval(streamTimer);
      streamTimer = setInterval(() => { if (!finishing) conn.send({ seq: sent++ }); }, 1000 / Number(arg));
    } else if (cmd === 'finish') {
      finishing = true;
      clearInterval(streamTimer);
      conn.send({ end: sent });
      checkDone();
    }
  };
  window.__close = () => peer.destroy();
}

// ------------------------------------------------------------------ node side
let context = null;
let server = null;
let page = null;
let userDataDir = null;
let closing = false;

async function start() {
  const { chromium } = await import('playwright-core');
  userDataDir = mkdtempSync(join(tmpdir(), 'claynet-nat-chromium-'));
  const extraArgs = [];
  // Chromium checks a TURN server's TLS certificate against its own trust store; the lab's CA is
  // made per run, so only its certificate errors are waived (the connection is still TLS).
  if (opts.caFile) extraArgs.push('--ignore-certificate-errors');
  context = await launchChromium(chromium, opts.chromium, userDataDir, { extraArgs });
  page = await preparePage(context, { log, verbose: opts.verbose, onCrash: () => shutdown('page crash', 1) });
  await page.exposeFunction('__out', (obj) => { if (!closing) emit(obj); });
  server = await serveFiles({
    '/': ['text/html', '<!doctype html><meta charset="utf-8"><title>claynet NAT lab</title><script src="/peerjs.min.js"></script>'],
    '/peerjs.min.js': ['text/javascript', readFileSync(PEERJS_PATH, 'utf8')],
  });
  await page.goto(server.url);
  await page.evaluate(pageMain, { id: opts.id, connect: opts.connect, peerOpts: peerOptions() });
  log(`Chromium ${context.browser() ? context.browser().version() : ''} up`);
}

async function shutdown(reason, code = 0) {
  if (closing) return;
  closing = true;
  log(`closing (${reason})`);
  setTimeout(() => process.exit(code), 5000).unref();
  try {
    if (page) await page.evaluate(() => window.__close && window.__close()).catch(() => {});
    if (context) await context.close();
  } catch (e) {
    log(`close error: ${e.message}`);
  }
  if (server) server.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  process.exit(code);
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
  const l = line.trim();
  if (l === 'close') shutdown('close');
  else if (l && page) page.evaluate((x) => window.__command && window.__command(x), l).catch(() => {});
});
rl.on('close', () => shutdown('stdin EOF'));
process.on('SIGTERM', () => shutdown('SIGTERM'));

start().catch((e) => {
  emit({ event: 'error', detail: `Chromium peer setup failed: ${e.message.split('\n')[0]}` });
  shutdown('setup failed', 1);
});
