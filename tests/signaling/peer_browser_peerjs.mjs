// PeerJS interop peer: the real PeerJS 1.5.5 library (node_modules/peerjs/dist/peerjs.min.js)
// inside headless Chromium (Debian's /usr/bin/chromium), driven by playwright-core.
//
//   node tests/signaling/peer_browser_peerjs.mjs --host H --port P --id ID
//       [--connect REMOTE] [--serialization binary|json|raw] [--path /] [--key peerjs]
//       [--secure] [--timeout-ms 30000] [--chromium /usr/bin/chromium] [--verbose]
//       [--browser-log]
//
// Implements the contract of tests/signaling/interop_contract.md, shared with claynet-peerjs-peer:
// stdout carries only JSON event lines ({"event":"open"|"connection"|"result"|"error",...}),
// everything else goes to stderr, prefixed. stdin: a line "close" (or EOF) ends the run.
// The whole PeerJS side (peer, connection, sending, checking) runs inside the page; node only
// starts Chromium, relays events out and the close request in.
//
// Chromium keeps its default WebRTC settings (host candidates hidden behind mDNS .local names),
// as users have them; PeerJS is given no ICE servers, since the test runs in a sealed namespace.
//
// --verbose logs every value, Chromium's channel state at the open event and all of the page's
// console (otherwise only its errors and warnings, which is where PeerJS at debug level 2 logs).
// --browser-log also passes Chromium's own log to stderr, including WebRTC's pc/ and media/sctp
// messages and dcsctp's packet dumps ("O/I hh:mm:ss.mmm 0000 13 88 ..." lines: every SCTP packet
// the browser sends or receives), for debugging the transport.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../interop/chromium_common.mjs';
import { peerOutput } from '../interop/peer_common.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PEERJS_PATH = join(ROOT, 'node_modules', 'peerjs', 'dist', 'peerjs.min.js');

function usage(msg) {
  process.stderr.write(`peer_browser_peerjs: ${msg}\n` +
    'usage: node peer_browser_peerjs.mjs --host H --port P --id ID [--connect REMOTE] ' +
    '[--serialization binary|json|raw] [--path /] [--key peerjs] [--secure] [--timeout-ms N] ' +
    '[--chromium PATH] [--verbose] [--browser-log]\n');
  process.exit(2);
}

const opts = {
  host: null, port: null, path: '/', key: 'peerjs', secure: false, id: null, connect: null,
  serialization: 'binary', timeoutMs: 30000, chromium: '/usr/bin/chromium', verbose: false,
  browserLog: false,
};
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const need = () => (i + 1 < argv.length ? argv[++i] : usage(`${k} needs a value`));
    if (k === '--host') opts.host = need();
    else if (k === '--port') opts.port = Number(need());
    else if (k === '--path') opts.path = need();
    else if (k === '--key') opts.key = need();
    else if (k === '--secure') opts.secure = true;
    else if (k === '--id') opts.id = need();
    else if (k === '--connect') opts.connect = need();
    else if (k === '--serialization') opts.serialization = need();
    else if (k === '--timeout-ms') opts.timeoutMs = Number(need());
    else if (k === '--chromium') opts.chromium = need();
    else if (k === '--verbose') opts.verbose = true;
    else if (k === '--browser-log') opts.browserLog = true;
    else usage(`unknown argument ${k}`);
  }
  if (!opts.host) usage('--host is required');
  if (!(Number.isInteger(opts.port) && opts.port > 0 && opts.port < 65536)) usage('--port must be 1..65535');
  if (!opts.id) usage('--id is required');
  if (!['binary', 'json', 'raw'].includes(opts.serialization)) usage('--serialization must be binary, json or raw');
  if (!(opts.timeoutMs > 0)) usage('--timeout-ms must be a positive number');
}

const role = opts.connect ? 'opener' : 'acceptor';
const { t0, log, emit } = peerOutput(`peerjs-browser ${opts.id}`, role);

let result = null;
let resultTimer = null;
function finish(ok, detail) {
  if (result) return;
  result = { ok, detail };
  log(`result ok=${ok}: ${detail}`);
  emit({ event: 'result', ok, detail });
  // Contract: stay connected so the peer can receive everything too, until "close"/EOF or 5 s.
  resultTimer = setTimeout(() => shutdown('5 s after the result'), 5000);
}

// ------------------------------------------------------------------ page side
// Runs inside Chromium, in a page that has loaded peerjs.min.js (which defines window.Peer). `out(obj)` is the exposed
// node function.
function pageMain(o) {
  const out = (obj) => window.__out(obj);
  const log = (msg) => out({ kind: 'log', msg });
  const event = (ev) => out({ kind: 'event', ev });

  // ---- the standard sets (tests/signaling/interop_contract.md); bytes as Uint8Array / ArrayBuffer
  const BIG = new Uint8Array(102400);
  for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 31 + 7) & 255;
  const bytes123 = new Uint8Array([1, 2, 3]);
  const SETS = {
    binary: ['hi', { a: 1, b: [true, null] }, 200, -100, 1.5, bytes123, 'ünïcødé ✓', BIG,
      [1, [2, [3, 'deep']]], 70000, -40000, false],
    json: ['hi', { a: 1, b: [true, null] }, 200, -100, 1.5, [1, [2, [3, 'deep']]], 'ünïcødé ✓', false],
    raw: ['hello raw ✓', bytes123, BIG],
  };
  const expected = SETS[o.serialization];
  // What is sent: the same values, BIG as a plain ArrayBuffer (both byte forms get exercised).
  const toSend = expected.map((v) => (v === BIG ? BIG.buffer : v));

  const isBytes = (v) => v instanceof ArrayBuffer || ArrayBuffer.isView(v);
  const asBytes = (v) => (v instanceof ArrayBuffer ? new Uint8Array(v)
    : new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  const typeName = (v) => {
    if (v === null) return 'null';
    if (Array.isArray(v)) return 'array';
    if (v instanceof ArrayBuffer) return 'ArrayBuffer';
    if (ArrayBuffer.isView(v)) return v.constructor.name;
    if (typeof Blob !== 'undefined' && v instanceof Blob) return 'Blob';
    return typeof v;
  };
  // A short, readable rendering of a received or expected value.
  const show = (v) => {
    let s;
    try {
      s = JSON.stringify(v, (k, x) => {
        if (x instanceof ArrayBuffer || ArrayBuffer.isView(x)) {
          const b = asBytes(x);
          return `<bytes(${b.length})${b.length <= 8 ? ' ' + Array.from(b).join(',') : ''}>`;
        }
        if (x === undefined) return '<undefined>';
        return x;
      });
    } catch (e) {
      s = `<${typeName(v)}>`;
    }
    if (s === undefined) s = String(v);
    return s.length > 120 ? s.slice(0, 117) + '...' : s;
  };
  // Deep comparison; returns null if equal, else where and how they differ.
  const diff = (exp, got, path) => {
    const at = path || 'value';
    if (isBytes(exp)) {
      if (!isBytes(got)) return `${at}: expected bytes(${asBytes(exp).length}), got ${typeName(got)} ${show(got)}`;
      const a = asBytes(exp);
      const b = asBytes(got);
      if (a.length !== b.length) return `${at}: expected bytes(${a.length}), got bytes(${b.length})`;
      for (let i = 0; i < a.length; i++) {
        if (a[i] !== b[i]) return `${at}: bytes differ first at index ${i} (expected ${a[i]}, got ${b[i]})`;
      }
      return null;
    }
    if (Array.isArray(exp)) {
      if (!Array.isArray(got)) return `${at}: expected array, got ${typeName(got)} ${show(got)}`;
      if (exp.length !== got.length) return `${at}: expected ${exp.length} items, got ${got.length}: ${show(got)}`;
      for (let i = 0; i < exp.length; i++) {
        const d = diff(exp[i], got[i], `${at}[${i}]`);
        if (d) return d;
      }
      return null;
    }
    if (exp !== null && typeof exp === 'object') {
      if (got === null || typeof got !== 'object' || Array.isArray(got) || isBytes(got)) {
        return `${at}: expected object, got ${typeName(got)} ${show(got)}`;
      }
      const ek = Object.keys(exp).sort();
      const gk = Object.keys(got).sort();
      if (ek.join('\u0000') !== gk.join('\u0000')) return `${at}: expected keys [${ek}], got [${gk}]`;
      for (const k of ek) {
        const d = diff(exp[k], got[k], `${at}.${k}`);
        if (d) return d;
      }
      return null;
    }
    if (typeof exp !== typeof got || exp !== got) {
      return `${at}: expected ${typeName(exp)} ${show(exp)}, got ${typeName(got)} ${show(got)}`;
    }
    return null;
  };

  let done = false;
  let conn = null;
  let connOpen = false;
  let received = 0;
  let sent = 0;
  const finish = (ok, detail) => {
    if (done) return;
    done = true;
    out({ kind: 'result', ok, detail });
  };
  const errText = (e) => (e ? `${e.type ? e.type + ': ' : ''}${e.message || e}` : 'unknown error');

  const onData = (v) => {
    const idx = received++;
    if (idx >= expected.length) {
      event({ event: 'error', detail: `unexpected extra value ${idx + 1}: ${typeName(v)} ${show(v)}` });
      return;
    }
    if (done) return;
    const d = diff(expected[idx], v, `value ${idx + 1} of ${expected.length}`);
    if (d) {
      finish(false, d);
      return;
    }
    if (o.verbose) log(`value ${idx + 1} ok: ${typeName(v)} ${show(v)}`);
    if (received === expected.length) {
      finish(true, `received all ${expected.length} ${o.serialization} values and sent all ${sent}`);
    }
  };

  const onOpen = () => {
    if (connOpen) return;
    connOpen = true;
    const dc = conn.dataChannel;
    log(`connection ${conn.connectionId} open (label ${JSON.stringify(conn.label)}, serialization ` +
      `${conn.serialization}, reliable ${conn.reliable}, metadata ${show(conn.metadata)}; channel ` +
      `${dc ? `${JSON.stringify(dc.label)} id ${dc.id} ordered ${dc.ordered} maxRetransmits ` +
        `${dc.maxRetransmits} maxPacketLifeTime ${dc.maxPacketLifeTime}` : 'missing'})`);
    event({ event: 'connection', peer: conn.peer, serialization: conn.serialization });
    // reliable:true means an ordered channel without retransmit limits (PeerJS: ordered: !!reliable);
    // the value sets are compared in order, so anything else would fail obscurely later.
    if (dc && (!dc.ordered || dc.maxRetransmits !== null || dc.maxPacketLifeTime !== null)) {
      finish(false, `the data channel is not ordered and reliable (ordered ${dc.ordered}, maxRetransmits ` +
        `${dc.maxRetransmits}, maxPacketLifeTime ${dc.maxPacketLifeTime})`);
    }
    nativeChannelOpen(dc).then(() => {
      try {
        for (const v of toSend) {
          conn.send(v);
          sent++;
        }
        log(`sent all ${sent} values (channel ${dc ? dc.readyState : '?'}, bufferedAmount ` +
          `${dc ? dc.bufferedAmount : '?'}, PeerJS queue ${conn.bufferSize})`);
      } catch (e) {
        finish(false, `send of value ${sent + 1} failed: ${errText(e)}`);
      }
    });
  };

  // Works around a Chromium race (seen with Chromium 156, browser<->browser as well as with
  // claynet): a channel the remote opened is announced to the page as "open" (as the W3C spec
  // says) while Chromium's own network-thread channel is still connecting, i.e. before it has
  // sent its DCEP ACK. A send() in that window is accepted by the page, then dropped inside
  // Chromium (its log: "rtc_data_channel.cc Send failed INVALID_STATE"), without any error in
  // JavaScript; the later values arrive and the receiver sees a gap. getStats() reads the state
  // of Chromium's internal channel, so waiting there for "open" closes the window. Bounded: after
  // 200 polls it goes on regardless (the value check will then tell).
  let firstState = null;
  const nativeChannelOpen = async (dc) => {
    const pc = conn.peerConnection;
    if (!dc || !pc) return;
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) {
      let state = null;
      try {
        const stats = await pc.getStats();
        stats.forEach((r) => {
          if (r.type === 'data-channel' && (r.dataChannelIdentifier === dc.id || r.label === dc.label)) state = r.state;
        });
      } catch (e) {
        log(`getStats failed (${e.message}); sending without checking Chromium's channel state`);
        return;
      }
      if (i === 0 && o.verbose) log(`Chromium's own channel state at the open event: ${state}`);
      if (state === 'open') {
        if (i > 0) log(`Chromium's own channel was still "${firstState}" at the open event; waited ` +
          `${Math.round(performance.now() - t0)} ms (${i} polls) before sending`);
        return;
      }
      if (i === 0) firstState = state;
      if (state === 'closing' || state === 'closed') return;
      await new Promise((r) => setTimeout(r, 10));
    }
    log(`Chromium's own channel did not report "open" within 200 polls; sending anyway`);
  };

  const attach = (c) => {
    conn = c;
    c.on('open', onOpen);
    c.on('data', onData);
    c.on('error', (e) => {
      event({ event: 'error', detail: `connection error ${errText(e)}` });
      finish(false, `connection error ${errText(e)} after ${received} of ${expected.length} values`);
    });
    c.on('close', () => {
      log('connection closed');
      finish(false, `connection closed after ${received} of ${expected.length} values`);
    });
    if (c.open) onOpen();
  };

  const peer = new window.Peer(o.id, {
    host: o.host,
    port: o.port,
    path: o.path,
    key: o.key,
    secure: o.secure,
    debug: 2,
    config: { iceServers: [] },
  });
  window.__peer = peer;
  window.__conn = () => conn;

  peer.on('open', (id) => {
    event({ event: 'open', id });
    if (o.connect) {
      log(`connecting to ${o.connect} (serialization ${o.serialization})`);
      attach(peer.connect(o.connect, {
        serialization: o.serialization, reliable: true, label: 'interop', metadata: { from: id },
      }));
    }
  });
  peer.on('connection', (c) => {
    log(`incoming connection ${c.connectionId} from ${c.peer} (label ${JSON.stringify(c.label)}, ` +
      `serialization ${c.serialization}, reliable ${c.reliable}, metadata ${show(c.metadata)})`);
    if (o.connect || conn) {
      event({ event: 'error', detail: `unexpected incoming connection ${c.connectionId} from ${c.peer}` });
      return;
    }
    // What the opener was asked to send, as far as the acceptor can see it.
    const problems = [];
    if (c.serialization !== o.serialization) {
      problems.push(`serialization is ${JSON.stringify(c.serialization)}, expected ${JSON.stringify(o.serialization)}`);
    }
    if (c.label !== 'interop') problems.push(`label is ${JSON.stringify(c.label)}, expected "interop"`);
    if (!c.reliable) problems.push('reliable is not true');
    if (!c.metadata || c.metadata.from !== c.peer) {
      problems.push(`metadata is ${show(c.metadata)}, expected {"from":${JSON.stringify(c.peer)}}`);
    }
    attach(c);
    if (problems.length) finish(false, `incoming connection from ${c.peer}: ${problems.join('; ')}`);
  });
  peer.on('disconnected', () => log('disconnected from the signaling server'));
  peer.on('close', () => log('peer destroyed'));
  peer.on('error', (e) => {
    event({ event: 'error', detail: `peer error ${errText(e)}` });
    // Before the connection is up, every peer error ends the attempt (unavailable-id,
    // peer-unavailable, server-error, network, ...). Afterwards the data channel does not need
    // the server any more, so the run goes on.
    if (!connOpen) finish(false, `peer error before the connection opened: ${errText(e)}`);
  });

  window.__status = () => {
    const pc = conn && conn.peerConnection;
    let why;
    if (!peer.open && !peer.id) why = 'never registered with the signaling server';
    else if (!conn) why = o.connect ? 'no connection object' : 'no incoming connection';
    else if (!connOpen) {
      why = `connection never opened (ice ${pc ? pc.iceConnectionState : '?'}, ` +
        `pc ${pc ? pc.connectionState : '?'})`;
    } else why = `connection open; sent ${sent}, received ${received} of ${expected.length} values`;
    return why;
  };
  // Transport figures for the log at the end: they tell "Chromium never got it out" (bytes still
  // buffered) from "sent, and the other side lost it".
  window.__transportSummary = async () => {
    const dc = conn && conn.dataChannel;
    const pc = conn && conn.peerConnection;
    if (!dc || !pc) return 'no data channel';
    let text = `channel ${dc.readyState}, bufferedAmount ${dc.bufferedAmount}, ` +
      `PeerJS queue ${conn.bufferSize}; pc ${pc.connectionState}`;
    try {
      const stats = await pc.getStats();
      stats.forEach((r) => {
        if (r.type === 'data-channel') {
          text += `; stats: sent ${r.messagesSent} messages/${r.bytesSent} bytes, ` +
            `received ${r.messagesReceived} messages/${r.bytesReceived} bytes`;
        } else if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') {
          text += `; pair: ${r.bytesSent} bytes out, ${r.bytesReceived} in`;
        }
      });
    } catch (e) {
      text += `; getStats failed: ${e.message}`;
    }
    return text;
  };
  window.__close = () => {
    try {
      if (conn) conn.close();
    } catch { /* closing anyway */ }
    try {
      peer.destroy();
    } catch { /* closing anyway */ }
  };
}

// ------------------------------------------------------------------ node side
let context = null;
let httpServer = null;
let page = null;
let userDataDir = null;
let closing = false;
let pageReady = false;

// The page comes from a tiny HTTP server on loopback rather than about:blank: Chromium's Local
// Network Access checks block requests from a public (or opaque) origin to a private address such
// as 10.99.0.1 (net::ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS), while a loopback origin may
// reach any address space, as a page served by a local dev server can. Returns the page's URL.
function servePage(peerjsSource) {
  const html = '<!doctype html><html><head><meta charset="utf-8"><title>claynet PeerJS peer</title>' +
    '<script src="/peerjs.min.js"></script></head><body></body></html>';
  return new Promise((res, rej) => {
    httpServer = createHttpServer((req, reply) => {
      if (req.url === '/') {
        reply.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        reply.end(html);
      } else if (req.url === '/peerjs.min.js') {
        reply.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
        reply.end(peerjsSource);
      } else if (req.url === '/favicon.ico') {
        reply.writeHead(204); // keeps a 404 out of the console log
        reply.end();
      } else {
        reply.writeHead(404);
        reply.end();
      }
    });
    httpServer.on('error', rej);
    httpServer.listen(0, '127.0.0.1', () => res(`http://127.0.0.1:${httpServer.address().port}/`));
  });
}

async function start() {
  let peerjsSource;
  try {
    peerjsSource = readFileSync(PEERJS_PATH, 'utf8');
  } catch (e) {
    finish(false, `cannot read PeerJS at ${PEERJS_PATH} (run "npm ci" in the project root): ${e.message}`);
    return;
  }
  // playwright-core passes the browser's stderr on only with this debug setting; set before import.
  if (opts.browserLog) process.env.DEBUG = [process.env.DEBUG, 'pw:browser'].filter(Boolean).join(',');
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    finish(false, `cannot load playwright-core (run "npm ci" in the project root): ${e.message}`);
    return;
  }
  userDataDir = mkdtempSync(join(tmpdir(), 'claynet-peerjs-chromium-'));
  const extraArgs = [];
  if (opts.secure) extraArgs.push('--ignore-certificate-errors'); // also covers wss from the page
  if (opts.browserLog) extraArgs.push('--enable-logging=stderr', '--v=0', '--vmodule=*/webrtc/net/dcsctp/*=1,*/webrtc/pc/*=1,*/webrtc/media/sctp/*=1');
  try {
    context = await launchChromium(chromium, opts.chromium, userDataDir, { extraArgs, ignoreHTTPSErrors: opts.secure });
  } catch (e) {
    finish(false, `cannot launch Chromium at ${opts.chromium}: ${e.message.split('\n')[0]}`);
    return;
  }
  if (closing) return;
  log(`Chromium ${context.browser() ? context.browser().version() : ''} up`);
  page = context.pages()[0] || (await context.newPage());
  page.on('pageerror', (e) => log(`page error: ${e.message}`));
  page.on('crash', () => finish(false, 'Chromium page crashed'));
  page.on('console', (m) => {
    // PeerJS at debug level 2 logs its errors and warnings; our own page code logs nothing.
    if (opts.verbose || m.type() === 'error' || m.type() === 'warning') log(`console.${m.type()}: ${m.text()}`);
  });
  await page.exposeFunction('__out', (obj) => {
    if (obj.kind === 'log') log(obj.msg);
    else if (obj.kind === 'result') finish(obj.ok, obj.detail);
    else if (obj.kind === 'event' && !closing) emit(obj.ev);
  });
  await page.goto(await servePage(peerjsSource));
  if (!(await page.evaluate(() => typeof window.Peer === 'function'))) {
    finish(false, `${PEERJS_PATH} did not define window.Peer`);
    return;
  }
  await page.evaluate(pageMain, {
    host: opts.host, port: opts.port, path: opts.path, key: opts.key, secure: opts.secure,
    id: opts.id, connect: opts.connect, serialization: opts.serialization, verbose: opts.verbose,
  });
  pageReady = true;
}

const guard = setTimeout(async () => {
  if (result) return;
  let why = pageReady ? null : 'Chromium/page not ready';
  if (!why) why = await page.evaluate(() => window.__status()).catch((e) => `page unreachable: ${e.message}`);
  finish(false, `timeout after ${opts.timeoutMs} ms: ${why}`);
}, Math.max(1000, opts.timeoutMs - (Date.now() - t0)));

async function shutdown(reason) {
  if (closing) return;
  closing = true;
  log(`closing (${reason})`);
  clearTimeout(guard);
  clearTimeout(resultTimer);
  if (!result) {
    let why = '';
    if (pageReady) why = await page.evaluate(() => window.__status()).catch(() => '');
    finish(false, `closed before completion (${reason})${why ? ': ' + why : ''}`);
    clearTimeout(resultTimer);
  }
  const code = result.ok ? 0 : 1;
  setTimeout(() => process.exit(code), 5000).unref();
  try {
    if (page && pageReady) {
      const summary = await page.evaluate(() => window.__transportSummary()).catch((e) => `unavailable: ${e.message}`);
      log(`at close: ${summary}`);
      await page.evaluate(() => window.__close()).catch(() => {});
    }
    if (context) await context.close();
  } catch (e) {
    log(`close error: ${e.message}`);
  }
  if (httpServer) httpServer.close();
  try {
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  } catch { /* best effort */ }
  process.exit(code);
}

{
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on('line', (line) => {
    const l = line.trim();
    if (l === 'close') shutdown('close');
    else if (l) log(`ignoring input: ${l.slice(0, 80)}`);
  });
  rl.on('close', () => shutdown('stdin EOF'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

start().catch((e) => {
  if (!closing) finish(false, `Chromium PeerJS peer setup failed: ${e.message.split('\n')[0]}`);
});
